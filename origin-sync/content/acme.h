// ACME (RFC 8555) rules that the edge (answering HTTP-01 challenges) and the issuer share.
// Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace anyedge {

// The base64url alphabet without padding (RFC 4648 §5), which tokens and thumbprints use.
bool is_base64url(std::string_view s);

// RFC 8555 §8.3: the path the CA fetches is "/.well-known/acme-challenge/" + token. The token
// part of `url_path` when it is one (which may be invalid: check is_base64url), else nullopt.
std::optional<std::string_view> acme_challenge_token(std::string_view url_path);

// RFC 8555 §8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
std::string key_authorization(std::string_view token, std::string_view thumbprint);

// A JWK SHA-256 thumbprint (RFC 7638) in base64url: 43 characters.
bool is_sha256_thumbprint(std::string_view s);

}  // namespace anyedge
