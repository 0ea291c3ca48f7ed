#include "edge/http/http_date.h"

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

// The RFC 9110 §5.6.7 example instant, Sun, 06 Nov 1994 08:49:37 GMT.
constexpr std::int64_t kRfcExample = 784111777;
// 2026-01-01T00:00:00Z, a fixed "now" for RFC 850 year resolution.
constexpr std::int64_t kNow2026 = 1767225600;

TEST(HttpDate, FormatsImfFixdate) {
    EXPECT_EQ(format_http_date(kRfcExample), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    EXPECT_EQ(format_http_date(kNow2026 - 1), "Wed, 31 Dec 2025 23:59:59 GMT");
    EXPECT_EQ(format_http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(format_http_date(INT64_MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(HttpDate, FormatIntoFixedBuffer) {
    char buf[kHttpDateLength + 1];
    buf[kHttpDateLength] = '#';
    format_http_date(kRfcExample, std::span<char, kHttpDateLength>(buf, kHttpDateLength));
    EXPECT_EQ(std::string(buf, kHttpDateLength), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(buf[kHttpDateLength], '#');
}

struct ParseCase {
    const char* text;
    std::optional<std::int64_t> expected;
};

TEST(HttpDate, ParsesTheThreeForms) {
    const ParseCase cases[] = {
        // RFC 9110 §5.6.7's three examples of the same instant.
        {"Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample},
        {"Sunday, 06-Nov-94 08:49:37 GMT", kRfcExample},
        {"Sun Nov  6 08:49:37 1994", kRfcExample},
        {"Sun Nov 06 08:49:37 1994", kRfcExample},
        // Surrounding OWS is not part of the date.
        {"  Sun, 06 Nov 1994 08:49:37 GMT\t", kRfcExample},
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Tue, 29 Feb 2000 12:00:00 GMT", 951825600},
        // A leap second is syntactically allowed.
        {"Wed, 31 Dec 2025 23:59:60 GMT", kNow2026},
        // Dates before the epoch are representable.
        {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
        // Case-sensitive (RFC 9110 §5.6.7: "HTTP-date is case sensitive").
        {"sun, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 gmt", std::nullopt},
        // Wrong zone, missing pieces, extra bytes, bad ranges, impossible dates.
        {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 GMT x", std::nullopt},
        {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:60:00 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:61 GMT", std::nullopt},
        {"Mon, 31 Feb 2000 00:00:00 GMT", std::nullopt},
        {"Mon, 29 Feb 1900 00:00:00 GMT", std::nullopt},
        {"Mon, 00 Jan 2000 00:00:00 GMT", std::nullopt},
        {"Xyz, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 GMT\r\n", std::nullopt},
        {"Sun, 06 Nov 1994 08:4a:37 GMT", std::nullopt},
        {"Sunday, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06-Nov-94 08:49:37 GMT", std::nullopt},
        {"Sun Nov 6 08:49:37 1994", std::nullopt},
        {"Sun Nov  6 08:49:37 94", std::nullopt},
        {"1994-11-06T08:49:37Z", std::nullopt},
        {"784111777", std::nullopt},
        {"", std::nullopt},
        {"-1", std::nullopt},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(parse_http_date(c.text, kNow2026), c.expected) << c.text;
    }
}

TEST(HttpDate, Rfc850TwoDigitYearIsNeverMoreThanFiftyYearsAhead) {
    // RFC 9110 §5.6.7: more than 50 years in the future means the most recent past year.
    EXPECT_EQ(parse_http_date("Wednesday, 01-Jan-70 00:00:00 GMT", kNow2026),
              parse_http_date("Wed, 01 Jan 2070 00:00:00 GMT", kNow2026));
    EXPECT_EQ(parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", kNow2026),
              parse_http_date("Thu, 01 Jan 2076 00:00:00 GMT", kNow2026));
    EXPECT_EQ(parse_http_date("Friday, 01-Jan-77 00:00:00 GMT", kNow2026),
              parse_http_date("Sat, 01 Jan 1977 00:00:00 GMT", kNow2026));
    EXPECT_EQ(parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT", kNow2026), kNow2026);
}

TEST(HttpDate, RoundTripsEveryDayOfSeveralYears) {
    for (std::int64_t t = 0; t < 6LL * 366 * 86400; t += 86400 + 3721) {
        std::string text = format_http_date(t);
        EXPECT_EQ(parse_http_date(text, kNow2026), t) << text;
    }
    for (std::int64_t t = 4102444800 - 86400 * 400; t < 4102444800 + 86400 * 400;
         t += 86400 * 7 + 1) {
        EXPECT_EQ(parse_http_date(format_http_date(t), kNow2026), t);
    }
}

}  // namespace
}  // namespace anyedge::http
