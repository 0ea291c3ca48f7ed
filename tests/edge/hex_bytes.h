// Test vectors written in hex (RFC 7748, RFC 8448) as the bytes EVP calls take.
#pragma once

#include <string>
#include <vector>

namespace anyedge::tests {

using Bytes = std::vector<unsigned char>;

inline Bytes from_hex(const std::string& hex) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<unsigned char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

}  // namespace anyedge::tests
