#include "edge/server/bearer_token.h"

#include <openssl/crypto.h>

namespace anyedge::server {

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
    constexpr std::string_view kScheme = "Bearer ";
    if (!authorization.starts_with(kScheme)) return false;
    const std::string_view given = authorization.substr(kScheme.size());
    // The length is not a secret worth hiding; the bytes are.
    return given.size() == token.size() &&
           CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

}  // namespace anyedge::server
