// SHA-256 helpers over OpenSSL's EVP API. Thread-safe, no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace anyedge {

using Sha256 = std::array<uint8_t, 32>;

Sha256 sha256(std::string_view bytes);
std::string to_hex(const uint8_t* data, size_t len);
inline std::string to_hex(const Sha256& d) { return to_hex(d.data(), d.size()); }
// Hex SHA-256 of bytes (64 lowercase hex characters).
std::string sha256_hex(std::string_view bytes);

}  // namespace anyedge
