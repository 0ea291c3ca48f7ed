#include "edge/http/path.h"

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

struct Good {
    const char* target;
    const char* path;
    const char* query;
};

TEST(NormalizeTarget, AcceptsAndNormalizes) {
    const Good cases[] = {
        {"/", "/", ""},
        {"/index.html", "/index.html", ""},
        {"/post/a/", "/post/a/", ""},
        {"/post/a", "/post/a", ""},
        {"/a/./b", "/a/b", ""},
        {"/a/b/../c", "/a/c", ""},
        {"/a/b/..", "/a/", ""},
        {"/a/b/.", "/a/b/", ""},
        {"//a///b", "/a/b", ""},
        {"/%61%62c", "/abc", ""},
        {"/a%20b", "/a b", ""},
        {"/a/%2e%2e/b", "/b", ""},
        {"/a/%2E/b", "/a/b", ""},
        {"/x?y=1&z", "/x", "y=1&z"},
        {"/x?", "/x", ""},
        {"http://blog.example/post/a/?q", "/post/a/", "q"},
        {"HTTPS://blog.example", "/", ""},
        {"/caf%C3%A9", "/caf\xC3\xA9", ""},
    };
    for (const auto& c : cases) {
        const PathResult r = normalize_target(c.target);
        ASSERT_TRUE(r.ok) << c.target;
        EXPECT_EQ(r.target.path, c.path) << c.target;
        EXPECT_EQ(r.target.query, c.query) << c.target;
    }
}

TEST(NormalizeTarget, RefusesHostilePaths) {
    const std::pair<const char*, PathError> cases[] = {
        {"", PathError::kBadTarget},
        {"index.html", PathError::kBadTarget},
        {"*", PathError::kBadTarget},
        {"/..", PathError::kAboveRoot},
        {"/../etc/passwd", PathError::kAboveRoot},
        {"/a/../../etc/passwd", PathError::kAboveRoot},
        {"/%2e%2e/etc/passwd", PathError::kAboveRoot},
        {"/%2E%2E/%2E%2E/etc/passwd", PathError::kAboveRoot},
        {"/a/%2e%2e/%2e%2e/x", PathError::kAboveRoot},
        {"/a%2fb", PathError::kEncodedSlash},
        {"/..%2fetc%2fpasswd", PathError::kEncodedSlash},
        {"/a%2F..%2F..%2Fetc", PathError::kEncodedSlash},
        {"/a\\b", PathError::kForbiddenByte},
        {"/..\\..\\etc\\passwd", PathError::kForbiddenByte},
        {"/a%5cb", PathError::kForbiddenByte},
        {"/a%5C..%5C..", PathError::kForbiddenByte},
        {"/a%00b", PathError::kForbiddenByte},
        {"/index.html%00.png", PathError::kForbiddenByte},
        {"/a%0d%0aSet-Cookie:x", PathError::kForbiddenByte},
        {"/a%7f", PathError::kForbiddenByte},
        {"/a#frag", PathError::kForbiddenByte},
        {"/a%", PathError::kBadEscape},
        {"/a%2", PathError::kBadEscape},
        {"/a%zz", PathError::kBadEscape},
        {"/a%%32e", PathError::kBadEscape},
        {"/%252e%252e/x", PathError::kBadEscape},  // must not double-decode to ".."
    };
    for (const auto& [target, error] : cases) {
        const PathResult r = normalize_target(target);
        if (std::string_view(target) == "/%252e%252e/x") {
            // "%25" decodes to '%', leaving the literal segment "%2e%2e": harmless, not "..".
            ASSERT_TRUE(r.ok);
            EXPECT_EQ(r.target.path, "/%2e%2e/x");
            continue;
        }
        EXPECT_FALSE(r.ok) << target;
        EXPECT_EQ(r.error, error) << target << ": " << describe(r.error);
    }
}

TEST(NormalizeTarget, NeverEscapesRoot) {
    // Whatever the input, an accepted path never contains a ".." segment or a backslash.
    const char* alphabet[] = {"/", "..", ".", "%2e", "%2E", "a", "%2f", "\\", "%5c", "%00", "//"};
    std::string t;
    for (int a = 0; a < 11; ++a)
        for (int b = 0; b < 11; ++b)
            for (int c = 0; c < 11; ++c)
                for (int d = 0; d < 11; ++d) {
                    t = std::string("/") + alphabet[a] + alphabet[b] + "/" + alphabet[c] +
                        alphabet[d];
                    const PathResult r = normalize_target(t);
                    if (!r.ok) continue;
                    const std::string& p = r.target.path;
                    EXPECT_EQ(p.front(), '/') << t;
                    EXPECT_EQ(p.find("/../"), std::string::npos) << t;
                    EXPECT_FALSE(p.ends_with("/..")) << t;
                    EXPECT_EQ(p.find('\\'), std::string::npos) << t;
                    EXPECT_EQ(p.find('\0'), std::string::npos) << t;
                }
}

}  // namespace
}  // namespace anyedge::http
