// Small helpers for HTTP field values (RFC 9110 §5.6): optional whitespace and ASCII
// case-insensitive comparison of tokens. Header-only, no allocation.
#pragma once

#include <string_view>

namespace anyedge::http {

// OWS = *( SP / HTAB ), RFC 9110 §5.6.3.
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

// Tokens (codings, units, methods' friends) compare case-insensitively in ASCII only.
constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

}  // namespace anyedge::http
