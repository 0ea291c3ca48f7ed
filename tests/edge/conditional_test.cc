#include "edge/http/conditional.h"

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

TEST(EntityTag, Parses) {
    auto strong = parse_entity_tag("\"xyzzy\"");
    ASSERT_TRUE(strong);
    EXPECT_FALSE(strong->weak);
    EXPECT_EQ(strong->opaque, "xyzzy");

    auto weak = parse_entity_tag(" W/\"xyzzy\" ");
    ASSERT_TRUE(weak);
    EXPECT_TRUE(weak->weak);
    EXPECT_EQ(weak->opaque, "xyzzy");

    auto empty = parse_entity_tag("\"\"");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->opaque, "");

    auto with_comma = parse_entity_tag("\"a,b\"");
    ASSERT_TRUE(with_comma);
    EXPECT_EQ(with_comma->opaque, "a,b");

    for (const char* bad : {"xyzzy", "\"xyzzy", "xyzzy\"", "w/\"x\"", "W/x", "\"a\"b",
                            "\"a\" \"b\"", "\"a b\"", "", "*", "W/", "\"a\x7f\""}) {
        EXPECT_FALSE(parse_entity_tag(bad)) << bad;
    }
}

TEST(EntityTag, ComparisonTableFromRfc9110) {
    // RFC 9110 §8.8.3.2, the table of the four cases.
    struct Case {
        const char* a;
        const char* b;
        bool strong;
        bool weak;
    };
    const Case cases[] = {
        {"W/\"1\"", "W/\"1\"", false, true},
        {"W/\"1\"", "W/\"2\"", false, false},
        {"W/\"1\"", "\"1\"", false, true},
        {"\"1\"", "\"1\"", true, true},
    };
    for (const auto& c : cases) {
        auto a = parse_entity_tag(c.a);
        auto b = parse_entity_tag(c.b);
        ASSERT_TRUE(a && b);
        EXPECT_EQ(strong_match(*a, *b), c.strong) << c.a << " " << c.b;
        EXPECT_EQ(weak_match(*a, *b), c.weak) << c.a << " " << c.b;
        EXPECT_EQ(strong_match(*b, *a), c.strong);
        EXPECT_EQ(weak_match(*b, *a), c.weak);
    }
}

TEST(EntityTag, ListMatching) {
    struct Case {
        const char* field;
        const char* current;
        bool strong;
        bool weak;
    };
    const Case cases[] = {
        // RFC 9110 §13.1.1 and §13.1.2 examples.
        {"\"xyzzy\"", "\"xyzzy\"", true, true},
        {"\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"", "\"r2d2xxxx\"", true, true},
        {"\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"", "\"c3piozzzz\"", true, true},
        {"\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"", "\"other\"", false, false},
        {"*", "\"anything\"", true, true},
        {" * ", "", true, true},
        {"W/\"xyzzy\"", "\"xyzzy\"", false, true},
        {"W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\"", "\"c3piozzzz\"", false, true},
        {"\"xyzzy\"", "W/\"xyzzy\"", false, true},
        // List syntax: empty members, no spaces, tabs, commas inside a tag.
        {",,\"a\",,\"b\",", "\"b\"", true, true},
        {"\"a\",\"b\"", "\"b\"", true, true},
        {"\"a\"\t,\t\"b\"", "\"b\"", true, true},
        {"\"x,y\"", "\"x,y\"", true, true},
        {"\"x,y\"", "\"y\"", false, false},
        {"\"x\", \"y\"", "\"x,y\"", false, false},
        // Invalid members never match but do not hide later valid ones.
        {"xyzzy", "\"xyzzy\"", false, false},
        {"xyzzy, \"b\"", "\"b\"", true, true},
        {"\"a\" junk, \"b\"", "\"a\"", false, false},
        {"\"a\" junk, \"b\"", "\"b\"", true, true},
        {"\"a\", *", "\"z\"", false, false},
        {"\"unterminated", "\"unterminated\"", false, false},
        // No current ETag: only * matches.
        {"\"a\"", "", false, false},
        {"", "\"a\"", false, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(entity_tag_list_matches(c.field, c.current, Comparison::strong), c.strong)
            << c.field << " vs " << c.current;
        EXPECT_EQ(entity_tag_list_matches(c.field, c.current, Comparison::weak), c.weak)
            << c.field << " vs " << c.current;
    }
}

constexpr std::int64_t kLastModified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char* kAtLm = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char* kBeforeLm = "Sun, 06 Nov 1994 08:49:36 GMT";
constexpr const char* kAfterLm = "Sunday, 06-Nov-94 08:49:38 GMT";
constexpr const char* kAsctimeAtLm = "Sun Nov  6 08:49:37 1994";
constexpr const char* kEtag = "\"abc\"";

struct PreconditionCase {
    const char* name;
    MethodClass method;
    ConditionalFields fields;
    Validators validators;
    Precondition expected;
};

constexpr auto kGet = MethodClass::get_or_head;
constexpr auto kOther = MethodClass::other;
constexpr auto kProceed = Precondition::proceed;
constexpr auto k304 = Precondition::not_modified;
constexpr auto k412 = Precondition::precondition_failed;
const Validators kBoth{kEtag, kLastModified};

TEST(Preconditions, Rfc9110Precedence) {
    // clang-format off
    const PreconditionCase cases[] = {
        {"no conditions", kGet, {}, kBoth, kProceed},

        // If-Match (strong).
        {"if-match same", kGet, {.if_match = "\"abc\""}, kBoth, kProceed},
        {"if-match list", kGet, {.if_match = "\"x\", \"abc\""}, kBoth, kProceed},
        {"if-match other", kGet, {.if_match = "\"x\""}, kBoth, k412},
        {"if-match weak never", kGet, {.if_match = "W/\"abc\""}, kBoth, k412},
        {"if-match weak current", kGet, {.if_match = "\"abc\""}, {"W/\"abc\"", kLastModified},
         k412},
        {"if-match star", kGet, {.if_match = "*"}, kBoth, kProceed},
        {"if-match no etag", kGet, {.if_match = "\"abc\""}, {"", kLastModified}, k412},
        {"if-match invalid", kGet, {.if_match = "abc"}, kBoth, k412},

        // If-Unmodified-Since.
        {"ius at", kGet, {.if_unmodified_since = kAtLm}, kBoth, kProceed},
        {"ius after", kGet, {.if_unmodified_since = kAfterLm}, kBoth, kProceed},
        {"ius before", kGet, {.if_unmodified_since = kBeforeLm}, kBoth, k412},
        {"ius invalid ignored", kGet, {.if_unmodified_since = "yesterday"}, kBoth, kProceed},
        {"ius two members ignored", kGet,
         {.if_unmodified_since = "Sun, 06 Nov 1994 08:49:36 GMT, Sun, 06 Nov 1994 08:49:36 GMT"},
         kBoth, kProceed},
        {"ius no last-modified ignored", kGet, {.if_unmodified_since = kBeforeLm},
         {kEtag, std::nullopt}, kProceed},
        // Step 1 before step 2: If-Match present means If-Unmodified-Since is ignored.
        {"if-match wins over ius", kGet, {.if_match = "\"abc\"", .if_unmodified_since = kBeforeLm},
         kBoth, kProceed},
        {"if-match fails first", kGet, {.if_match = "\"x\"", .if_unmodified_since = kAfterLm},
         kBoth, k412},

        // If-None-Match (weak).
        {"inm same", kGet, {.if_none_match = "\"abc\""}, kBoth, k304},
        {"inm weak same", kGet, {.if_none_match = "W/\"abc\""}, kBoth, k304},
        {"inm list", kGet, {.if_none_match = "\"x\", W/\"abc\""}, kBoth, k304},
        {"inm other", kGet, {.if_none_match = "\"x\""}, kBoth, kProceed},
        {"inm star", kGet, {.if_none_match = "*"}, kBoth, k304},
        {"inm other method", kOther, {.if_none_match = "\"abc\""}, kBoth, k412},
        {"inm star other method", kOther, {.if_none_match = "*"}, kBoth, k412},
        {"inm no etag", kGet, {.if_none_match = "\"abc\""}, {"", kLastModified}, kProceed},
        {"inm whitespace only is absent", kGet, {.if_none_match = "  "}, kBoth, kProceed},

        // If-Modified-Since.
        {"ims at", kGet, {.if_modified_since = kAtLm}, kBoth, k304},
        {"ims asctime at", kGet, {.if_modified_since = kAsctimeAtLm}, kBoth, k304},
        {"ims after", kGet, {.if_modified_since = kAfterLm}, kBoth, k304},
        {"ims before", kGet, {.if_modified_since = kBeforeLm}, kBoth, kProceed},
        {"ims invalid ignored", kGet, {.if_modified_since = "Sun, 06 Nov 1994"}, kBoth, kProceed},
        {"ims lowercase invalid", kGet, {.if_modified_since = "sun, 06 nov 1994 08:49:37 gmt"},
         kBoth, kProceed},
        {"ims other method ignored", kOther, {.if_modified_since = kAtLm}, kBoth, kProceed},
        {"ims no last-modified", kGet, {.if_modified_since = kAtLm}, {kEtag, std::nullopt},
         kProceed},
        // Step 3 before step 4: If-None-Match present means If-Modified-Since is ignored
        // (RFC 9110 §13.1.3: "MUST ignore If-Modified-Since if the request contains an
        // If-None-Match header field").
        {"inm miss ignores ims", kGet, {.if_none_match = "\"x\"", .if_modified_since = kAtLm},
         kBoth, kProceed},
        {"inm hit ignores ims", kGet, {.if_none_match = "\"abc\"", .if_modified_since = kBeforeLm},
         kBoth, k304},

        // Steps 1-2 before 3-4: a 412 beats a 304.
        {"412 before 304", kGet, {.if_match = "\"x\"", .if_none_match = "\"abc\""}, kBoth, k412},
        {"ius 412 before ims 304", kGet,
         {.if_modified_since = kAtLm, .if_unmodified_since = kBeforeLm}, kBoth, k412},
        {"both pass then 304", kGet, {.if_match = "\"abc\"", .if_none_match = "\"abc\""}, kBoth,
         k304},
        {"all four pass to 200", kGet,
         {.if_match = "*", .if_none_match = "\"x\"", .if_modified_since = kBeforeLm,
          .if_unmodified_since = kAtLm},
         kBoth, kProceed},
    };
    // clang-format on
    for (const auto& c : cases) {
        EXPECT_EQ(evaluate_preconditions(c.method, c.fields, c.validators), c.expected) << c.name;
    }
}

}  // namespace
}  // namespace anyedge::http
