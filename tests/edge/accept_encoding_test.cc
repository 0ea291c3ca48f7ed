#include "edge/http/accept_encoding.h"

#include <optional>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

using C = ContentCoding;
constexpr std::optional<C> kNone = std::nullopt;
const CodingSet kAll{C::br, C::gzip, C::identity};

struct Case {
    const char* field;
    CodingSet available;
    std::optional<C> expected;
};

TEST(AcceptEncoding, ChoosesByWeight) {
    const Case cases[] = {
        // RFC 9110 §12.5.3's examples.
        {"compress, gzip", kAll, C::gzip},
        {"", kAll, C::identity},
        {"*", kAll, C::br},
        {"compress;q=0.5, gzip;q=1.0", kAll, C::gzip},
        {"gzip;q=1.0, identity; q=0.5, *;q=0", kAll, C::gzip},
        {"gzip;q=1.0, identity; q=0.5, *;q=0", {C::br, C::identity}, C::identity},
        {"gzip;q=1.0, identity; q=0.5, *;q=0", {C::br}, kNone},
        // What browsers send.
        {"gzip, deflate, br", kAll, C::br},
        {"gzip, deflate, br, zstd", kAll, C::br},
        {"gzip, deflate", kAll, C::gzip},
        {"gzip, deflate, br", {C::gzip, C::identity}, C::gzip},
        {"gzip, deflate, br", {C::identity}, C::identity},
        // The brief's example and ties.
        {"br;q=1.0, gzip;q=0.5, *;q=0", kAll, C::br},
        {"gzip;q=0.5, br;q=0.5", kAll, C::br},
        {"gzip, br", kAll, C::br},
        {"gzip;q=0.6, br;q=0.5", kAll, C::gzip},
        {"gzip;q=0.501, br;q=0.5", kAll, C::gzip},
        {"identity, gzip, br", kAll, C::br},  // tie: compressed preferred
        {"identity;q=1, gzip;q=0.9", kAll, C::identity},
        // identity is implicitly acceptable but below any explicit non-zero weight.
        {"br;q=0.001", kAll, C::br},
        {"gzip;q=0", kAll, C::identity},
        {"br;q=0, gzip;q=0", {C::br, C::gzip}, kNone},
        {"deflate", kAll, C::identity},
        {"deflate", {C::br, C::gzip}, kNone},
        // identity excluded explicitly or by *;q=0.
        {"identity;q=0", {C::identity}, kNone},
        {"identity;q=0", kAll, kNone},
        {"identity;q=0, gzip", kAll, C::gzip},
        {"*;q=0", kAll, kNone},
        {"*;q=0, identity", kAll, C::identity},
        {"*;q=0, br;q=0.2", kAll, C::br},
        {"*;q=0.3, gzip;q=0.4", kAll, C::gzip},
        {"*;q=0.5, gzip;q=0.4", kAll, C::br},
        {"*;q=0.5, br;q=0.4, gzip;q=0.4", kAll, C::identity},
        // Case, spacing, aliases.
        {"GZIP", kAll, C::gzip},
        {"Br;Q=0.9, GZip;q=1", kAll, C::gzip},
        {"x-gzip", kAll, C::gzip},
        {"  gzip  ;  q=0.5  ,\tbr\t;q=0.4 ", kAll, C::gzip},
        {", ,br,,", kAll, C::br},
        // Malformed weights and parameters: the member is ignored.
        {"br;q=1.5", kAll, C::identity},
        {"br;q=1.001", kAll, C::identity},
        {"br;q=0.1234", kAll, C::identity},
        {"br;q=.5", kAll, C::identity},
        {"br;q=", kAll, C::identity},
        {"br;q=-1", kAll, C::identity},
        {"br;level=9", kAll, C::identity},
        {"br;q=0.5;x=1", kAll, C::identity},
        {"br q=0.5", kAll, C::identity},
        {"br;q=0.5, gzip;q=abc", kAll, C::br},
        {"identity;q=zero", {C::identity}, C::identity},
        // A coding listed twice: the first member counts.
        {"br, br;q=0", kAll, C::br},
        {"br;q=0, br", kAll, C::identity},
        // Only what is available can be chosen.
        {"br", {C::gzip, C::identity}, C::identity},
        {"br", {}, kNone},
        {"", {C::br, C::gzip}, kNone},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(choose_content_coding(c.field, c.available), c.expected) << "'" << c.field << "'";
    }
}

// zstd (RFC 8878, Content-Encoding per RFC 9659): weighed like the others; among equal weights
// the smallest variant wins, and with no sizes known br > zstd > gzip.
TEST(AcceptEncoding, ZstdAndTheSmallestOfEqualWeights) {
    const CodingSet all{C::br, C::zstd, C::gzip, C::identity};
    EXPECT_EQ(choose_content_coding("zstd", all), C::zstd);
    EXPECT_EQ(choose_content_coding("gzip, zstd;q=0.9", all), C::gzip);
    EXPECT_EQ(choose_content_coding("ZStd;q=0.9, br;q=0.8", all), C::zstd);
    EXPECT_EQ(choose_content_coding("gzip, deflate, br, zstd", all), C::br);
    EXPECT_EQ(choose_content_coding("zstd;q=0", all), C::identity);
    EXPECT_EQ(choose_content_coding("*;q=0.5", {C::zstd, C::gzip}), C::zstd);

    CodingSet sized;
    sized.add(C::identity, 8000);
    sized.add(C::br, 2100);
    sized.add(C::zstd, 2000);
    sized.add(C::gzip, 2400);
    EXPECT_EQ(choose_content_coding("gzip, deflate, br, zstd", sized), C::zstd);
    EXPECT_EQ(choose_content_coding("gzip, br", sized), C::br);
    EXPECT_EQ(choose_content_coding("gzip;q=1, zstd;q=0.9", sized), C::gzip);  // q first
    // An explicit identity of equal weight loses to any smaller variant, wins over larger ones.
    EXPECT_EQ(choose_content_coding("identity, gzip", sized), C::gzip);
    CodingSet bigger;
    bigger.add(C::identity, 10);
    bigger.add(C::gzip, 30);
    EXPECT_EQ(choose_content_coding("identity, gzip", bigger), C::identity);
    EXPECT_EQ(choose_content_coding("gzip", bigger), C::gzip);  // identity only implicit
}

TEST(AcceptEncoding, Weights) {
    CodingWeights w = parse_accept_encoding("br;q=0.8, gzip;q=0.25, identity;q=0");
    EXPECT_EQ(w.br, 800);
    EXPECT_EQ(w.gzip, 250);
    EXPECT_EQ(w.identity, 0);
    EXPECT_FALSE(w.identity_implicit);

    w = parse_accept_encoding("gzip;q=1.000, br;q=0.");
    EXPECT_EQ(w.gzip, 1000);
    EXPECT_EQ(w.br, 0);
    EXPECT_TRUE(w.identity_implicit);

    w = parse_accept_encoding("*;q=0.7");
    EXPECT_EQ(w.br, 700);
    EXPECT_EQ(w.zstd, 700);
    EXPECT_EQ(w.gzip, 700);
    EXPECT_EQ(w.identity, 700);
    EXPECT_FALSE(w.identity_implicit);

    w = parse_accept_encoding("gzip;q=0.009");
    EXPECT_EQ(w.gzip, 9);
    EXPECT_EQ(w.br, 0);
}

TEST(AcceptEncoding, Tokens) {
    EXPECT_EQ(content_coding_token(C::br), "br");
    EXPECT_EQ(content_coding_token(C::gzip), "gzip");
    EXPECT_EQ(content_coding_token(C::zstd), "zstd");
    EXPECT_EQ(content_coding_token(C::identity), "");
    EXPECT_EQ(content_coding_of("zstd"), C::zstd);
    EXPECT_EQ(content_coding_of("br"), C::br);
    EXPECT_EQ(content_coding_of("gzip"), C::gzip);
    EXPECT_EQ(content_coding_of("deflate"), kNone);
}

}  // namespace
}  // namespace anyedge::http
