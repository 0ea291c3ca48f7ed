// load_site_dir: which files of a plain folder become servable, and with which encodings.
#include "edge/cache/site_loader.h"

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "origin-sync/content/compress.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge::cache {
namespace {

using testing_util::TempDir;
using testing_util::write_text;

// A text that compresses well, as HTML does.
std::string page_text() {
    std::string s = "<!doctype html><title>t</title>";
    for (int i = 0; i < 200; ++i)
        s += "<p>paragraph " + std::to_string(i % 7) + " of the page</p>\n";
    return s;
}

std::map<std::string, const FileSpec*> by_path(const std::vector<FileSpec>& specs) {
    std::map<std::string, const FileSpec*> m;
    for (const auto& s : specs) m[s.path] = &s;
    return m;
}

std::map<std::string, std::string> encodings_of(const FileSpec& spec) {
    std::map<std::string, std::string> m;
    for (const auto& [coding, bytes] : spec.encodings) m[coding] = std::string(view_of(bytes));
    return m;
}

TEST(SiteLoader, TextWithoutSiblingsGetsBrAndGzip) {
    TempDir dir;
    const std::string page = page_text();
    write_text(dir.path() / "index.html", page);
    write_text(dir.path() / "app.js", page);
    write_text(dir.path() / "tiny.txt", "a");   // compressing would not shrink it
    write_text(dir.path() / "logo.png", page);  // not a compressible type
    write_text(dir.path() / "empty.css", "");

    auto specs = load_site_dir(dir.path(), {.compress = true});
    ASSERT_TRUE(specs) << specs.error();
    auto files = by_path(*specs);
    ASSERT_EQ(files.size(), 5u);

    for (const char* path : {"/index.html", "/app.js"}) {
        const auto enc = encodings_of(*files.at(path));
        ASSERT_EQ(enc.size(), 3u) << path;
        // Publish's compressors at their fast setting; the variants decode to the file.
        EXPECT_EQ(enc.at("br"), *brotli_compress(page, Effort::kFast)) << path;
        EXPECT_EQ(enc.at("zstd"), *zstd_compress(page, Effort::kFast)) << path;
        EXPECT_EQ(enc.at("gzip"), *gzip_compress(page, Effort::kFast)) << path;
        EXPECT_EQ(*zstd_decompress(enc.at("zstd")), page) << path;
        EXPECT_EQ(*brotli_decompress(enc.at("br")), page) << path;
        EXPECT_EQ(*gzip_decompress(enc.at("gzip")), page) << path;
        EXPECT_EQ(view_of(files.at(path)->bytes), page) << path;
    }
    EXPECT_TRUE(files.at("/tiny.txt")->encodings.empty());
    EXPECT_TRUE(files.at("/logo.png")->encodings.empty());
    EXPECT_TRUE(files.at("/empty.css")->encodings.empty());
}

TEST(SiteLoader, SiblingsAreTheOperatorsChoice) {
    TempDir dir;
    const std::string page = page_text();
    const std::string own_gzip = *gzip_compress(page + "<!-- the operator's own -->");
    write_text(dir.path() / "a.html", page);
    write_text(dir.path() / "a.html.gz", own_gzip);  // gzip only: no br is made beside it
    write_text(dir.path() / "b.html", page);
    write_text(dir.path() / "b.html.br", page + page);  // larger than the file: not served
    const std::string own_zstd = *zstd_compress(page + "<!-- zstd -->");
    write_text(dir.path() / "c.html", page);
    write_text(dir.path() / "c.html.zst", own_zstd);

    auto specs = load_site_dir(dir.path(), {.compress = true});
    ASSERT_TRUE(specs) << specs.error();
    auto files = by_path(*specs);
    ASSERT_EQ(files.size(), 3u);  // the siblings are representations, not files of their own
    const auto a = encodings_of(*files.at("/a.html"));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a.at("gzip"), own_gzip);
    EXPECT_TRUE(files.at("/b.html")->encodings.empty());
    const auto c = encodings_of(*files.at("/c.html"));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c.at("zstd"), own_zstd);
}

TEST(SiteLoader, WithoutCompressFilesAreServedAsTheyAre) {
    TempDir dir;
    write_text(dir.path() / "index.html", page_text());
    write_text(dir.path() / "index.html.br", "x");

    auto specs = load_site_dir(dir.path(), {});
    ASSERT_TRUE(specs) << specs.error();
    auto files = by_path(*specs);
    ASSERT_EQ(files.size(), 1u);
    const auto enc = encodings_of(*files.at("/index.html"));
    ASSERT_EQ(enc.size(), 1u);  // siblings still count: they are files the operator put there
    EXPECT_EQ(enc.at("br"), "x");
}

TEST(SiteLoader, LargeTextFilesAreMappedAndStillCompressed) {
    TempDir dir;
    std::string big;
    while (big.size() < 300 * 1024) big += page_text();
    write_text(dir.path() / "big.html", big);

    auto specs = load_site_dir(dir.path(), {.mmap_threshold = 64 * 1024, .compress = true});
    ASSERT_TRUE(specs) << specs.error();
    ASSERT_EQ(specs->size(), 1u);
    const FileSpec& f = specs->front();
    EXPECT_TRUE(std::holds_alternative<MappedFile>(f.bytes));
    const auto enc = encodings_of(f);
    ASSERT_EQ(enc.size(), 3u);
    EXPECT_EQ(*brotli_decompress(enc.at("br")), big);
    EXPECT_EQ(*zstd_decompress(enc.at("zstd")), big);
}

// A reload takes the br/gzip the replaced snapshot made for a file whose bytes did not change,
// and compresses again what changed. To tell reuse from recompression, the first snapshot's
// variants are made at publish's setting, which the loader never uses.
TEST(SiteLoader, ReloadReusesWhatThePreviousSnapshotMadeForUnchangedFiles) {
    TempDir dir;
    const std::string page = page_text();
    const std::string changed = page + "<p>an edit</p>";
    write_text(dir.path() / "same.html", page);
    write_text(dir.path() / "edited.html", page);
    write_text(dir.path() / "sibling.html", page);
    write_text(dir.path() / "sibling.html.br", *brotli_compress(page, Effort::kBest));

    auto first = load_site_dir(dir.path(), {.compress = true});
    ASSERT_TRUE(first) << first.error();
    for (FileSpec& spec : *first) {
        if (spec.path == "/sibling.html") continue;
        spec.encodings.clear();
        spec.encodings.emplace_back("br", Bytes{*brotli_compress(page, Effort::kBest)});
        spec.encodings.emplace_back("gzip", Bytes{*gzip_compress(page, Effort::kBest)});
    }
    auto previous = Snapshot::build(std::move(*first), {}, 1);

    write_text(dir.path() / "edited.html", changed);
    std::filesystem::remove(dir.path() / "sibling.html.br");  // its own br is gone: make one
    auto specs = load_site_dir(dir.path(), {.compress = true, .previous = previous.get()});
    ASSERT_TRUE(specs) << specs.error();
    auto files = by_path(*specs);
    ASSERT_EQ(files.size(), 3u);

    const auto same = encodings_of(*files.at("/same.html"));
    EXPECT_EQ(same.at("br"), *brotli_compress(page, Effort::kBest));
    EXPECT_EQ(same.at("gzip"), *gzip_compress(page, Effort::kBest));
    const auto edited = encodings_of(*files.at("/edited.html"));
    EXPECT_EQ(edited.at("br"), *brotli_compress(changed, Effort::kFast));
    EXPECT_EQ(edited.at("gzip"), *gzip_compress(changed, Effort::kFast));
    // The operator's sibling was never ours to keep.
    const auto sibling = encodings_of(*files.at("/sibling.html"));
    EXPECT_EQ(sibling.at("br"), *brotli_compress(page, Effort::kFast));

    // What the next snapshot serves for the reused file: the same bytes and ETags as before.
    auto next = Snapshot::build(std::move(*specs), {}, 2);
    const Entry* before = previous->find("/same.html").entry;
    const Entry* after = next->find("/same.html").entry;
    ASSERT_TRUE(before && after);
    EXPECT_EQ(after->identity.etag, before->identity.etag);
    ASSERT_EQ(after->encoded.size(), before->encoded.size());
    for (size_t i = 0; i < after->encoded.size(); ++i) {
        EXPECT_EQ(after->encoded[i].etag, before->encoded[i].etag);
        EXPECT_EQ(after->encoded[i].body, before->encoded[i].body);
    }
    EXPECT_TRUE(after->compressed_at_load);
    EXPECT_FALSE(next->find("/edited.html").entry->encoded.empty());
}

}  // namespace
}  // namespace anyedge::cache
