#include "origin-sync/content/manifest.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "origin-sync/content/digest.h"

namespace anyedge {
namespace {

const std::string kHashA = sha256_hex("a");
const std::string kHashB = sha256_hex("b");

Manifest sample() {
    Manifest m;
    m.generation = 3;
    m.parent = 2;
    m.created = 1700000000;
    FileEntry idx{kHashA,
                  10,
                  "text/html; charset=utf-8",
                  {{"br", kHashB}, {"gzip", kHashA}},
                  "public, max-age=60",
                  1690000000};
    FileEntry img{kHashB, 1, "image/png", {}, "public, max-age=3600", 1690000001};
    m.files["index.html"] = idx;
    m.files["img/a b.png"] = img;
    return m;
}

TEST(Manifest, RoundTripIsExactAndCanonical) {
    Manifest m = sample();
    std::string bytes = serialize_manifest(m);
    auto parsed = parse_manifest(bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, m);
    EXPECT_EQ(serialize_manifest(*parsed), bytes);
    // Keys are sorted: "created" precedes "files" precedes "generation".
    EXPECT_LT(bytes.find("\"created\""), bytes.find("\"files\""));
    EXPECT_LT(bytes.find("\"files\""), bytes.find("\"generation\""));
    EXPECT_EQ(bytes.find('\n'), std::string::npos);
}

TEST(Manifest, ParsesHandWrittenDocument) {
    std::string doc = R"({"generation": 1, "parent": 0, "created": 5, "files": {
        "a/b.css": {"sha256": ")" +
                      kHashA + R"(", "size": 7, "type": "text/css",
                    "cache-control": "public, max-age=1", "modified": 4}}})";
    auto m = parse_manifest(doc);
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_EQ(m->generation, 1u);
    ASSERT_EQ(m->files.count("a/b.css"), 1u);
    EXPECT_EQ(m->files.at("a/b.css").size, 7u);
    EXPECT_TRUE(m->files.at("a/b.css").encodings.empty());
}

std::string with_file(const std::string& path, const std::string& entry) {
    return R"({"generation":2,"parent":1,"created":0,"files":{")" + path + R"(":)" + entry + "}}";
}

std::string good_entry() {
    return R"({"sha256":")" + kHashA +
           R"(","size":1,"type":"text/plain","cache-control":"x","modified":0})";
}

struct BadCase {
    std::string doc;
    std::string expect_in_error;
};

TEST(Manifest, RejectsBadDocumentsNamingTheField) {
    std::string entry = good_entry();
    auto replace = [&](std::string from, std::string to) {
        std::string e = entry;
        e.replace(e.find(from), from.size(), to);
        return with_file("a", e);
    };
    std::vector<BadCase> cases = {
        {"not json", "not valid JSON"},
        {"[]", "expected an object"},
        {R"({"generation":1,"parent":0,"created":0})", "manifest.files: missing (required)"},
        {R"({"generation":1,"parent":0,"created":0,"files":{},"x":1})", "manifest.x: unknown key"},
        {R"({"generation":-1,"parent":0,"created":0,"files":{}})", "manifest.generation"},
        {R"({"generation":"1","parent":0,"created":0,"files":{}})", "manifest.generation"},
        {R"({"generation":0,"parent":0,"created":0,"files":{}})", "manifest.generation"},
        {R"({"generation":2,"parent":2,"created":0,"files":{}})", "manifest.parent"},
        {R"({"generation":2,"parent":1,"created":1.5,"files":{}})", "manifest.created"},
        {R"({"generation":2,"parent":1,"created":0,"files":[]})", "manifest.files"},
        {replace(kHashA, kHashA.substr(1) + "g"), "sha256"},
        {replace(kHashA, std::string(64, 'A')), "sha256"},
        {replace(kHashA, kHashA.substr(2)), "sha256"},
        {replace("\"size\":1", "\"size\":-1"), "size"},
        {replace("text/plain", "text/plain\\r\\nX-Evil: 1"), "type"},
        {replace("text/plain", ""), "type"},
        {replace("\"cache-control\":\"x\"", "\"cache-control\":5"), "cache-control"},
        {replace("\"modified\":0", "\"modified\":\"yesterday\""), "modified"},
        {replace("\"modified\":0", "\"modified\":0,\"etag\":1"), "].etag: unknown key"},
        {replace("\"modified\":0", "\"modified\":0,\"encodings\":{\"deflate\":\"" + kHashA + "\"}"),
         "encodings.deflate: unsupported encoding"},
        {replace("\"modified\":0", "\"modified\":0,\"encodings\":{\"br\":\"xyz\"}"),
         "encodings.br"},
        {replace(",\"modified\":0", ""), "].modified: missing (required)"},
    };
    for (const auto& c : cases) {
        auto m = parse_manifest(c.doc);
        ASSERT_FALSE(m.ok()) << c.doc;
        EXPECT_NE(m.error().find(c.expect_in_error), std::string::npos)
            << "error \"" << m.error() << "\" should mention " << c.expect_in_error;
    }
}

TEST(Manifest, RejectsPathsTheEdgeCannotServe) {
    std::vector<std::string> bad = {
        "",
        "/index.html",
        "a//b",
        "a/",
        "../etc/passwd",
        "a/../b",
        "./a",
        "a/./b",
        "a\\\\b",
        "a\\u0000b",
        "a\\u0001b",
        "a\\nb",
        "a?b",
        "a#b",
        "..",
        ".",
        std::string(1025, 'x'),
    };
    for (const auto& p : bad) {
        auto m = parse_manifest(with_file(p, good_entry()));
        ASSERT_FALSE(m.ok()) << "path accepted: " << p;
        EXPECT_NE(m.error().find("manifest.files"), std::string::npos) << m.error();
    }
    for (std::string p :
         {"index.html", "a/b/c.txt", "caf\xc3\xa9.html", "a b", "..x", "x..", ".well-known/a"}) {
        auto m = parse_manifest(with_file(p, good_entry()));
        EXPECT_TRUE(m.ok()) << p << ": " << m.error();
    }
}

TEST(Manifest, RejectsFileThatIsAlsoADirectory) {
    std::string doc = R"({"generation":2,"parent":1,"created":0,"files":{"a":)" + good_entry() +
                      R"(,"a/b":)" + good_entry() + "}}";
    auto m = parse_manifest(doc);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().find("also a directory"), std::string::npos) << m.error();
    // "a.b" next to "a/b" is fine: only the "a/" prefix conflicts.
    doc = R"({"generation":2,"parent":1,"created":0,"files":{"a.b":)" + good_entry() +
          R"(,"a/b":)" + good_entry() + "}}";
    EXPECT_TRUE(parse_manifest(doc).ok());
}

TEST(Manifest, ValidateSitePathDirect) {
    EXPECT_TRUE(validate_site_path("post/x/index.html").ok());
    EXPECT_FALSE(validate_site_path(std::string_view("a\0b", 3)).ok());
    EXPECT_FALSE(validate_site_path("a\x7f").ok());
    EXPECT_FALSE(validate_site_path("caf\xe9.html").ok());  // Latin-1, not UTF-8
    EXPECT_FALSE(validate_site_path("\xc0\xaf").ok());      // overlong "/"
    EXPECT_FALSE(validate_site_path("\xed\xa0\x80").ok());  // surrogate
    EXPECT_FALSE(validate_site_path("\xe2\x82").ok());      // truncated
    EXPECT_TRUE(validate_site_path("\xe2\x82\xac/\xf0\x9f\x98\x80").ok());
}

TEST(Current, RoundTrip) {
    CurrentPointer c{7, kHashA, 100, 200};
    std::string bytes = serialize_current(c);
    auto p = parse_current(bytes);
    ASSERT_TRUE(p.ok()) << p.error();
    EXPECT_EQ(*p, c);
    EXPECT_EQ(serialize_current(*p), bytes);
}

TEST(Current, RejectsBadPointers) {
    std::vector<BadCase> cases = {
        {"{", "not valid JSON"},
        {R"({"generation":1,"manifest_sha256":"x","issued":1,"expires":2})", "manifest_sha256"},
        {R"({"generation":0,"manifest_sha256":")" + kHashA + R"(","issued":1,"expires":2})",
         "current.generation"},
        {R"({"generation":1,"manifest_sha256":")" + kHashA + R"(","issued":3,"expires":2})",
         "current.expires"},
        {R"({"generation":1,"manifest_sha256":")" + kHashA + R"(","issued":1})",
         "current.expires: missing (required)"},
    };
    for (const auto& c : cases) {
        auto p = parse_current(c.doc);
        ASSERT_FALSE(p.ok()) << c.doc;
        EXPECT_NE(p.error().find(c.expect_in_error), std::string::npos) << p.error();
    }
}

// Every truncation of a valid manifest is rejected (never crashes, never half-accepted).
TEST(Manifest, EveryTruncationIsRejected) {
    std::string bytes = serialize_manifest(sample());
    for (size_t i = 0; i < bytes.size(); ++i) {
        EXPECT_FALSE(parse_manifest(bytes.substr(0, i)).ok()) << i;
    }
}

}  // namespace
}  // namespace anyedge
