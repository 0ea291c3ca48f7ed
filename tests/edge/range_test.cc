#include "edge/http/range.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

constexpr auto kFull = RangeOutcome::full;
constexpr auto kPartial = RangeOutcome::partial;
constexpr auto k416 = RangeOutcome::unsatisfiable;

struct RangeCase {
    const char* field;
    std::uint64_t length;
    RangeOutcome outcome;
    std::vector<ByteRange> ranges;
};

void check(const std::vector<RangeCase>& cases, const RangeLimits& limits = {}) {
    for (const auto& c : cases) {
        RangeDecision d = evaluate_range(c.field, c.length, limits);
        EXPECT_EQ(d.outcome, c.outcome) << "'" << c.field << "' length " << c.length;
        EXPECT_EQ(d.ranges, c.ranges) << "'" << c.field << "' length " << c.length;
    }
}

TEST(Range, Rfc9110Examples) {
    // RFC 9110 §14.1.2, a representation of length 10000.
    check({
        {"bytes=0-499", 10000, kPartial, {{0, 499}}},
        {"bytes=500-999", 10000, kPartial, {{500, 999}}},
        {"bytes=-500", 10000, kPartial, {{9500, 9999}}},
        {"bytes=9500-", 10000, kPartial, {{9500, 9999}}},
        {"bytes=0-0,-1", 10000, kPartial, {{0, 0}, {9999, 9999}}},
        // "other valid (but not canonical) specifications of the second 500 bytes": coalesced.
        {"bytes=500-600,601-999", 10000, kPartial, {{500, 999}}},
        {"bytes=500-700,601-999", 10000, kPartial, {{500, 999}}},
    });
}

TEST(Range, SingleRanges) {
    check({
        {"bytes=0-", 100, kPartial, {{0, 99}}},
        {"bytes=0-99", 100, kPartial, {{0, 99}}},
        {"bytes=0-1000", 100, kPartial, {{0, 99}}},  // last-pos clipped (§14.1.2)
        {"bytes=99-", 100, kPartial, {{99, 99}}},
        {"bytes=99-99", 100, kPartial, {{99, 99}}},
        {"bytes=-100", 100, kPartial, {{0, 99}}},
        {"bytes=-1000", 100, kPartial, {{0, 99}}},  // suffix longer than the representation
        {"bytes=-1", 1, kPartial, {{0, 0}}},
        {"bytes=5-5", 10, kPartial, {{5, 5}}},
        {"BYTES=1-2", 10, kPartial, {{1, 2}}},  // range units are case-insensitive (§14.1)
        {"Bytes=1-2", 10, kPartial, {{1, 2}}},
        {" bytes=1-2 ", 10, kPartial, {{1, 2}}},
        {"bytes= 1-2 ,", 10, kPartial, {{1, 2}}},
        {"bytes=,1-2", 10, kPartial, {{1, 2}}},
        {"bytes=0-18446744073709551615", 10, kPartial, {{0, 9}}},
        {"bytes=0-99999999999999999999999999", 10, kPartial, {{0, 9}}},
        {"bytes=-99999999999999999999999999", 10, kPartial, {{0, 9}}},
    });
}

TEST(Range, Unsatisfiable) {
    check({
        {"bytes=100-", 100, k416, {}},
        {"bytes=100-200", 100, k416, {}},
        {"bytes=-0", 100, k416, {}},  // zero-length suffix is unsatisfiable (§14.1.3)
        {"bytes=100-,200-300,-0", 100, k416, {}},
        {"bytes=18446744073709551615-", 100, k416, {}},
        {"bytes=99999999999999999999999999-", 100, k416, {}},
        {"bytes=0-", 0, k416, {}},
        {"bytes=0-0", 0, k416, {}},
        // Only the satisfiable ones are served.
        {"bytes=200-300,10-19", 100, kPartial, {{10, 19}}},
        {"bytes=-0,-5", 100, kPartial, {{95, 99}}},
    });
}

TEST(Range, IgnoredMeansFull) {
    check({
        {"", 100, kFull, {}},
        {"bytes", 100, kFull, {}},
        {"bytes=", 100, kFull, {}},
        {"bytes= , ,", 100, kFull, {}},
        {"items=0-5", 100, kFull, {}},  // unit we do not support
        {"bytes =0-5", 100, kFull, {}},
        {"bytes=5-4", 100, kFull, {}},  // last < first: invalid (§14.1.2)
        {"bytes=a-b", 100, kFull, {}},
        {"bytes=1", 100, kFull, {}},
        {"bytes=-", 100, kFull, {}},
        {"bytes=--5", 100, kFull, {}},
        {"bytes=1-2-3", 100, kFull, {}},
        {"bytes=+1-2", 100, kFull, {}},
        {"bytes=1 -2", 100, kFull, {}},
        {"bytes=0x10-20", 100, kFull, {}},
        {"bytes=0-5;q=1", 100, kFull, {}},
        // One invalid spec spoils the set.
        {"bytes=0-5,junk", 100, kFull, {}},
        {"bytes=0-5,7-6", 100, kFull, {}},
        // Empty representation: a suffix range has nothing to send in a 206.
        {"bytes=-5", 0, kFull, {}},
        {"bytes=0-5,-5", 0, kFull, {}},
    });
}

TEST(Range, MultipleRangesKeepRequestOrderWhenNothingCoalesced) {
    check({
        {"bytes=50-59,0-9", 100, kPartial, {{50, 59}, {0, 9}}},
        {"bytes=0-9,20-29,40-49", 100, kPartial, {{0, 9}, {20, 29}, {40, 49}}},
        {"bytes=-10,0-9", 100, kPartial, {{90, 99}, {0, 9}}},
    });
}

TEST(Range, CoalescesOverlappingAndAdjacent) {
    check({
        {"bytes=0-9,10-19", 100, kPartial, {{0, 19}}},
        {"bytes=10-19,0-9", 100, kPartial, {{0, 19}}},
        {"bytes=0-9,5-14", 100, kPartial, {{0, 14}}},
        {"bytes=0-0,1-1,2-2,3-3", 100, kPartial, {{0, 3}}},
        {"bytes=3-3,2-2,1-1,0-0", 100, kPartial, {{0, 3}}},
        {"bytes=50-59,0-9,10-19", 100, kPartial, {{0, 19}, {50, 59}}},
        {"bytes=0-9,2-3", 100, kPartial, {{0, 9}}},
        {"bytes=-10,90-", 100, kPartial, {{90, 99}}},
    });
}

TEST(Range, AbuseIsAnsweredWithFull) {
    check({
        // Overlapping ranges adding up to more than the representation (nginx's rule).
        {"bytes=0-,0-", 100, kFull, {}},
        {"bytes=0-99,0-99", 100, kFull, {}},
        {"bytes=0-60,40-99", 100, kFull, {}},
        // Exactly the representation once is fine.
        {"bytes=0-49,50-99", 100, kPartial, {{0, 99}}},
    });
    // More specs than the limit.
    std::string many = "bytes=";
    for (int i = 0; i < 17; ++i) {
        many += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
    }
    RangeDecision d = evaluate_range(many, 1000);
    EXPECT_EQ(d.outcome, kFull);
    EXPECT_TRUE(d.ranges.empty());

    // Sixteen is allowed by default, and the limit is configurable.
    std::string sixteen = "bytes=";
    for (int i = 0; i < 16; ++i) {
        sixteen += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
    }
    d = evaluate_range(sixteen, 1000);
    EXPECT_EQ(d.outcome, kPartial);
    EXPECT_EQ(d.ranges.size(), 16u);
    EXPECT_EQ(evaluate_range(sixteen, 1000, RangeLimits{.max_ranges = 4}).outcome, kFull);
    EXPECT_EQ(evaluate_range("bytes=0-1,4-5", 1000, RangeLimits{.max_ranges = 1}).outcome, kFull);

    // A megabyte of tiny ranges costs no more than reading up to the 17th spec.
    std::string huge = "bytes=";
    while (huge.size() < (1u << 20)) {
        huge += "0-0,";
    }
    EXPECT_EQ(evaluate_range(huge, 1000).outcome, kFull);
    // Empty members do not count as specs but the parse still stays linear.
    std::string commas = "bytes=" + std::string(1u << 20, ',') + "0-0";
    d = evaluate_range(commas, 1000);
    EXPECT_EQ(d.outcome, kPartial);
    EXPECT_EQ(d.ranges, (std::vector<ByteRange>{{0, 0}}));
}

TEST(IfRange, StrongEtagOrExactDate) {
    const std::int64_t lm = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
    struct Case {
        const char* if_range;
        const char* etag;
        bool allows;
    };
    const Case cases[] = {
        {"", "\"abc\"", true},
        {"\"abc\"", "\"abc\"", true},
        {" \"abc\" ", "\"abc\"", true},
        {"\"abd\"", "\"abc\"", false},
        {"W/\"abc\"", "\"abc\"", false},         // weak never matches (§13.1.5)
        {"\"abc\"", "W/\"abc\"", false},         // nor a weak current tag
        {"\"abc\", \"def\"", "\"abc\"", false},  // one validator, not a list
        {"\"abc\"", "", false},
        {"Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", true},
        {"Sunday, 06-Nov-94 08:49:37 GMT", "\"abc\"", true},
        {"Sun, 06 Nov 1994 08:49:38 GMT", "\"abc\"", false},  // exact match only
        {"Sun, 06 Nov 1994 08:49:36 GMT", "\"abc\"", false},
        {"yesterday", "\"abc\"", false},
        {"abc", "\"abc\"", false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(if_range_allows(c.if_range, c.etag, lm), c.allows) << c.if_range;
    }
    EXPECT_FALSE(if_range_allows("Sun, 06 Nov 1994 08:49:37 GMT", "\"abc\"", std::nullopt));
}

TEST(ContentRange, Formats) {
    EXPECT_EQ(content_range({0, 499}, 1234), "bytes 0-499/1234");
    EXPECT_EQ(content_range({21010, 47021}, 47022), "bytes 21010-47021/47022");
    EXPECT_EQ(unsatisfied_content_range(1234), "bytes */1234");
}

// Assembles what a sender would gather-send.
std::string assemble(const MultipartBody& body, const std::string& representation) {
    std::string out;
    for (const auto& part : body.parts) {
        out += part.header;
        out += representation.substr(part.range.first, part.range.size());
    }
    out += body.trailer;
    return out;
}

TEST(Multipart, LayoutMatchesRfc9110Example) {
    // The shape of RFC 9110 §14.6's example: two ranges of an 8000-byte PDF.
    std::string pdf(8000, '\0');
    for (std::size_t i = 0; i < pdf.size(); ++i) {
        pdf[i] = static_cast<char>('a' + i % 26);
    }
    const std::vector<ByteRange> ranges = {{500, 999}, {7000, 7999}};
    MultipartBody body =
        build_multipart_byteranges(ranges, "application/pdf", 8000, "THIS_STRING_SEPARATES");
    EXPECT_EQ(body.content_type, "multipart/byteranges; boundary=THIS_STRING_SEPARATES");
    ASSERT_EQ(body.parts.size(), 2u);
    EXPECT_EQ(body.parts[0].header,
              "\r\n--THIS_STRING_SEPARATES\r\n"
              "Content-Type: application/pdf\r\n"
              "Content-Range: bytes 500-999/8000\r\n\r\n");
    EXPECT_EQ(body.parts[1].header,
              "\r\n--THIS_STRING_SEPARATES\r\n"
              "Content-Type: application/pdf\r\n"
              "Content-Range: bytes 7000-7999/8000\r\n\r\n");
    EXPECT_EQ(body.parts[0].range, (ByteRange{500, 999}));
    EXPECT_EQ(body.parts[1].range, (ByteRange{7000, 7999}));
    EXPECT_EQ(body.trailer, "\r\n--THIS_STRING_SEPARATES--\r\n");

    const std::string wire = assemble(body, pdf);
    EXPECT_EQ(body.content_length, wire.size());
    const std::string expected =
        "\r\n--THIS_STRING_SEPARATES\r\n"
        "Content-Type: application/pdf\r\n"
        "Content-Range: bytes 500-999/8000\r\n\r\n" +
        pdf.substr(500, 500) +
        "\r\n--THIS_STRING_SEPARATES\r\n"
        "Content-Type: application/pdf\r\n"
        "Content-Range: bytes 7000-7999/8000\r\n\r\n" +
        pdf.substr(7000, 1000) + "\r\n--THIS_STRING_SEPARATES--\r\n";
    EXPECT_EQ(wire, expected);
}

TEST(Multipart, NoContentTypeAndExactLength) {
    const std::string rep = "0123456789";
    const std::vector<ByteRange> ranges = {{0, 0}, {9, 9}, {3, 5}};
    MultipartBody body = build_multipart_byteranges(ranges, "", rep.size(), "b");
    ASSERT_EQ(body.parts.size(), 3u);
    EXPECT_EQ(body.parts[2].header, "\r\n--b\r\nContent-Range: bytes 3-5/10\r\n\r\n");
    const std::string wire = assemble(body, rep);
    EXPECT_EQ(body.content_length, wire.size());
    EXPECT_EQ(wire,
              "\r\n--b\r\nContent-Range: bytes 0-0/10\r\n\r\n0"
              "\r\n--b\r\nContent-Range: bytes 9-9/10\r\n\r\n9"
              "\r\n--b\r\nContent-Range: bytes 3-5/10\r\n\r\n345"
              "\r\n--b--\r\n");
}

TEST(Multipart, LengthDoesNotDependOnBodyBytes) {
    // Content-Length of a 100 GB representation's parts, without touching any body byte.
    const std::uint64_t len = 100ULL << 30;
    const std::vector<ByteRange> ranges = {{0, (1ULL << 32) - 1}, {len - 10, len - 1}};
    MultipartBody body = build_multipart_byteranges(ranges, "video/mp4", len, "xyz");
    std::uint64_t headers = body.trailer.size();
    for (const auto& p : body.parts) {
        headers += p.header.size();
    }
    EXPECT_EQ(body.content_length, headers + (1ULL << 32) + 10);
}

}  // namespace
}  // namespace anyedge::http
