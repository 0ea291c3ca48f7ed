// Base64 (RFC 4648 §4) and base64url without padding (§5, as JOSE and ACME use it), on
// libsodium's constant-time codec. Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace anyedge {

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);
// nullopt for anything that is not exactly one encoding (no white space, padding as required).
std::optional<std::string> base64_decode(std::string_view text);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace anyedge
