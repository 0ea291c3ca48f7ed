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

// Paths the fast path takes as they are come out exactly as the full rule makes them: the same
// path behind "/x/.." (which forces the full rule) normalizes to the same target.
TEST(NormalizeTarget, FastPathAgreesWithTheFullRule) {
    const std::string alphabet[] = {"/", "a", "b.", "-", "~", "."};
    std::vector<std::string> paths = {"/"};
    for (size_t round = 0; round < 5; ++round) {
        const size_t n = paths.size();
        for (size_t i = 0; i < n; ++i) {
            for (const std::string& piece : alphabet) paths.push_back(paths[i] + piece);
        }
    }
    size_t compared = 0;
    for (const std::string& p : paths) {
        const PathResult direct = normalize_target(p);
        const PathResult full = normalize_target("/x/.." + p);
        ASSERT_EQ(direct.ok, full.ok) << p;
        if (!direct.ok) continue;
        EXPECT_EQ(direct.target.path, full.target.path) << p;
        ++compared;
    }
    EXPECT_GT(compared, 1000u);
    const PathResult q = normalize_target("/a/b.html?x=1");
    ASSERT_TRUE(q.ok);
    EXPECT_EQ(q.target.path, "/a/b.html");
    EXPECT_EQ(q.target.query, "x=1");
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
