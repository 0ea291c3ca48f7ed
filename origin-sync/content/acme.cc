#include "origin-sync/content/acme.h"

namespace anyedge {

bool is_base64url(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::string_view> acme_challenge_token(std::string_view url_path) {
    constexpr std::string_view kPrefix = "/.well-known/acme-challenge/";
    if (!url_path.starts_with(kPrefix)) return std::nullopt;
    return url_path.substr(kPrefix.size());
}

std::string key_authorization(std::string_view token, std::string_view thumbprint) {
    std::string out;
    out.reserve(token.size() + 1 + thumbprint.size());
    out.append(token).append(".").append(thumbprint);
    return out;
}

bool is_sha256_thumbprint(std::string_view s) { return s.size() == 43 && is_base64url(s); }

}  // namespace anyedge
