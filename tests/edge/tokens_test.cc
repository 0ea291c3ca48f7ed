// The case rules of edge/http/tokens.h.
#include "edge/http/tokens.h"

#include <string>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

TEST(Tokens, LowerInPlaceMatchesTheByteRuleForEveryByteAtEveryPosition) {
    // Every byte value, at every offset of spans long and short enough to take both the
    // eight-byte path and the byte-by-byte tail.
    for (size_t length : {1u, 7u, 8u, 9u, 16u, 23u, 64u}) {
        for (int v = 0; v < 256; ++v) {
            for (size_t at = 0; at < length; ++at) {
                std::string s(length, 'Q');
                s[at] = char(v);
                std::string expected = s;
                for (char& c : expected) c = ascii_lower(c);
                ascii_lower_in_place(s.data(), s.size());
                ASSERT_EQ(s, expected) << "byte " << v << " at " << at << " of " << length;
            }
        }
    }
}

TEST(Tokens, LowerInPlaceLowersFieldNamesOnly) {
    std::string name = "Content-Type; X-Ünïcode @[`{";
    ascii_lower_in_place(name.data(), name.size());
    EXPECT_EQ(name, "content-type; x-Ünïcode @[`{");
}

}  // namespace
}  // namespace anyedge::http
