#include "edge/server/bearer_token.h"

#include <gtest/gtest.h>

namespace anyedge::server {
namespace {

TEST(BearerToken, OnlyTheExactSchemeAndTokenMatch) {
    EXPECT_TRUE(bearer_token_matches("Bearer s3cret", "s3cret"));
    EXPECT_FALSE(bearer_token_matches("Bearer s3cre", "s3cret"));    // a prefix
    EXPECT_FALSE(bearer_token_matches("Bearer s3cret2", "s3cret"));  // longer
    EXPECT_FALSE(bearer_token_matches("Bearer s3creT", "s3cret"));   // last byte differs
    EXPECT_FALSE(bearer_token_matches("bearer s3cret", "s3cret"));
    EXPECT_FALSE(bearer_token_matches("Basic s3cret", "s3cret"));
    EXPECT_FALSE(bearer_token_matches("s3cret", "s3cret"));
    EXPECT_FALSE(bearer_token_matches("", "s3cret"));
    EXPECT_FALSE(bearer_token_matches("Bearer ", "s3cret"));
}

}  // namespace
}  // namespace anyedge::server
