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

// tchar, RFC 9110 §5.6.2: the characters of a token (field names, methods, codings).
constexpr bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A byte a field value may hold (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB; never another
// control character.
constexpr bool is_field_value_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// The value of a hex digit (RFC 5234 HEXDIG, either case), or -1.
constexpr int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
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
