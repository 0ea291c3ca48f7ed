// Small helpers for HTTP field values (RFC 9110 §5.6): optional whitespace and ASCII
// case-insensitive comparison of tokens. Header-only, no allocation.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace anyedge::http {

// OWS = *( SP / HTAB ), RFC 9110 §5.6.3.
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// A table of the bytes that are ASCII letters, digits or one of `extra`: one load per byte
// where a search of `extra` would take a dozen compares.
constexpr std::array<bool, 256> alnum_or(std::string_view extra) {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
    for (const char c : extra) t[static_cast<unsigned char>(c)] = true;
    return t;
}

// tchar, RFC 9110 §5.6.2: the characters of a token (field names, methods, codings).
inline constexpr std::array<bool, 256> kTchar = alnum_or("!#$%&'*+-.^_`|~");
constexpr bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

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

// ascii_lower over a whole span, eight bytes at a time (every HTTP/2 and HTTP/3 response
// field name goes through it). Bytes >= 0x80 are left as they are.
inline void ascii_lower_in_place(char* p, size_t n) {
    constexpr uint64_t kOnes = 0x0101010101010101u;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t x;
        std::memcpy(&x, p, 8);
        const uint64_t seven = x & (0x7f * kOnes);
        // Per byte, the top bit says: >= 'A' (first), > 'Z' (second), was ASCII (third).
        const uint64_t upper =
            (seven + (0x80 - 'A') * kOnes) & ~(seven + (0x7f - 'Z') * kOnes) & ~x & (0x80 * kOnes);
        x |= upper >> 2;  // 0x80 >> 2 == 0x20, the case bit
        std::memcpy(p, &x, 8);
    }
    for (; n > 0; ++p, --n) *p = ascii_lower(*p);
}

// Tokens (codings, units, methods' friends) compare case-insensitively in ASCII only.
constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

}  // namespace anyedge::http
