// http_date: HTTP-date formatting and parsing (RFC 9110 §5.6.7).
//
// Owns: conversion between Unix seconds and the three HTTP-date forms. Senders generate only
// IMF-fixdate; recipients accept IMF-fixdate, the obsolete RFC 850 form and asctime().
// Invariants: pure functions, no allocation in format_http_date(span) or parse_http_date(),
// no locale, no time zone database (HTTP-dates are always GMT).
// Threads: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace anyedge::http {

// Length of an IMF-fixdate such as "Sun, 06 Nov 1994 08:49:37 GMT".
inline constexpr std::size_t kHttpDateLength = 29;

// Writes the IMF-fixdate for unix_seconds into out (exactly kHttpDateLength bytes, no NUL).
// Times before 1970 are clamped to the epoch and times past year 9999 to its last second, so the
// output always has the fixed length.
void format_http_date(std::int64_t unix_seconds, std::span<char, kHttpDateLength> out);

// Convenience form that allocates; for configuration, tests and cold paths.
std::string format_http_date(std::int64_t unix_seconds);

// Parses any of the three forms (RFC 9110 §5.6.7), surrounding whitespace allowed. The format is
// case-sensitive as the RFC says; anything else, including out-of-range fields and dates that
// do not exist (31 Feb), yields nullopt, which callers treat as "field absent".
// The two-digit year of the RFC 850 form is resolved against now_unix: a year that would lie
// more than 50 years in the future is taken to be in the past century (RFC 9110 §5.6.7).
std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix);

// Same, against the current system clock.
std::optional<std::int64_t> parse_http_date(std::string_view text);

}  // namespace anyedge::http
