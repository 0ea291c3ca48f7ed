// The rules shared by the edge and the canary: URL path to file, and the ETag.
#include "origin-sync/content/site_rules.h"

#include <gtest/gtest.h>

namespace anyedge {
namespace {

TEST(SiteRules, UrlPathToFile) {
    EXPECT_EQ(resolve_index("/"), "/index.html");
    EXPECT_EQ(resolve_index("/post/x/"), "/post/x/index.html");
    EXPECT_EQ(resolve_index("/a.css"), "/a.css");
    EXPECT_EQ(manifest_key_for("/"), "index.html");
    EXPECT_EQ(manifest_key_for("/post/x/?utm=1"), "post/x/index.html");
    EXPECT_EQ(manifest_key_for("/a.css?v=2"), "a.css");
}

TEST(SiteRules, EtagRoundTrip) {
    const std::string sha(64, 'a');
    EXPECT_EQ(etag_for(sha), "\"" + sha + "\"");
    EXPECT_EQ(sha256_of_etag(" " + etag_for(sha) + "\t"), sha);
    EXPECT_EQ(sha256_of_etag("W/\"" + sha + "\""), "");  // weak: never a match
    EXPECT_EQ(sha256_of_etag(sha), "");                  // unquoted
    EXPECT_EQ(sha256_of_etag("\"\""), "");
}

}  // namespace
}  // namespace anyedge
