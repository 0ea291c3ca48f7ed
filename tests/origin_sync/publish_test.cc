#include "origin-sync/publish/publish.h"

#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include <gtest/gtest.h>

#include "origin-sync/content/compress.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/media_types.h"
#include "origin-sync/content/store.h"
#include "origin-sync/publish/scan.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge::publish {
namespace {

using testing_util::TempDir;
using testing_util::write_text;

TEST(Mime, TypesAndCharset) {
    EXPECT_EQ(mime_type("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(mime_type("a/B.CSS"), "text/css; charset=utf-8");
    EXPECT_EQ(mime_type("app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(mime_type("feed.xml"), "application/xml");
    EXPECT_EQ(mime_type("x.svg"), "image/svg+xml");
    EXPECT_EQ(mime_type("x.woff2"), "font/woff2");
    EXPECT_EQ(mime_type("x.jpeg"), "image/jpeg");
    EXPECT_EQ(mime_type("LICENSE"), "application/octet-stream");
    EXPECT_EQ(mime_type("dir.d/file"), "application/octet-stream");
    EXPECT_EQ(mime_type("trailing."), "application/octet-stream");
    EXPECT_TRUE(is_compressible(mime_type("a.html")));
    EXPECT_TRUE(is_compressible(mime_type("a.svg")));
    EXPECT_TRUE(is_compressible(mime_type("a.ico")));
    EXPECT_TRUE(is_compressible(mime_type("a.json")));
    EXPECT_FALSE(is_compressible(mime_type("a.png")));
    EXPECT_FALSE(is_compressible(mime_type("a.woff2")));
}

TEST(Mime, FingerprintsAndCacheControl) {
    EXPECT_TRUE(is_fingerprinted("css/style.3f9a1c2b.css"));
    EXPECT_TRUE(is_fingerprinted("app-0a1b2c3d4e.js"));
    EXPECT_TRUE(is_fingerprinted("main_" + sha256_hex("x") + ".js"));
    EXPECT_FALSE(is_fingerprinted("style.css"));
    EXPECT_FALSE(is_fingerprinted("style.3f9a1c2.css"));   // 7 hex
    EXPECT_FALSE(is_fingerprinted("deadbeefcafe.css"));    // letters only: a word
    EXPECT_FALSE(is_fingerprinted("12345678.css"));        // digits only: a date or id
    EXPECT_FALSE(is_fingerprinted("3f9a1c2b/style.css"));  // the directory does not count
    EXPECT_EQ(cache_control_for("s.3f9a1c2b.css", "text/css"),
              "public, max-age=31536000, immutable");
    EXPECT_EQ(cache_control_for("index.html", mime_type("index.html")), "public, max-age=60");
    EXPECT_EQ(cache_control_for("a.png", "image/png"), "public, max-age=3600");
}

TEST(Compress, RoundTripsAndIsDeterministic) {
    std::string text;
    for (int i = 0; i < 200; ++i) text += "<p>hello world " + std::to_string(i % 7) + "</p>\n";
    auto br = brotli_compress(text);
    auto gz = gzip_compress(text);
    ASSERT_TRUE(br.ok() && gz.ok());
    EXPECT_LT(br->size(), text.size());
    EXPECT_LT(gz->size(), text.size());
    EXPECT_EQ(*brotli_decompress(*br), text);
    EXPECT_EQ(*gzip_decompress(*gz), text);
    EXPECT_EQ(*brotli_compress(text), *br);
    EXPECT_EQ(*gzip_compress(text), *gz);
    EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);  // gzip magic (RFC 1952 2.3.1)
    EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
    EXPECT_FALSE(gzip_decompress(gz->substr(0, gz->size() - 3)).ok());
    EXPECT_FALSE(brotli_decompress("garbage").ok());
    EXPECT_EQ(*gzip_decompress(*gzip_compress("")), "");
}

TEST(Compress, ZstdRoundTripsWithinTheHttpWindow) {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "zstd line " + std::to_string(i % 97) + "\n";
    auto z = zstd_compress(text);
    ASSERT_TRUE(z.ok()) << z.error();
    EXPECT_LT(z->size(), text.size());
    EXPECT_EQ(*zstd_decompress(*z), text);
    EXPECT_EQ(*zstd_compress(text), *z);  // deterministic
    EXPECT_EQ(*zstd_decompress(*zstd_compress(text, Effort::kFast)), text);
    EXPECT_EQ(*zstd_decompress(*zstd_compress("")), "");
    EXPECT_FALSE(zstd_decompress(z->substr(0, z->size() - 3)).ok());
    EXPECT_FALSE(zstd_decompress("garbage").ok());
    // 20 MiB of varied text: the frame's window stays at 8 MiB or less (RFC 9659 §3), which
    // zstd_decompress enforces as a browser does.
    std::string big;
    big.reserve(20u << 20);
    uint32_t x = 1;
    while (big.size() < (20u << 20)) {
        x = x * 1103515245u + 12345u;
        big += std::to_string(x >> 8) + ' ';
    }
    auto zb = zstd_compress(big, Effort::kFast);
    ASSERT_TRUE(zb.ok()) << zb.error();
    EXPECT_EQ(*zstd_decompress(*zb), big);
}

TEST(BuildEntry, VariantsOnlyWhenSmallerAndCompressible) {
    std::string text(4000, 'a');
    std::map<std::string, std::string> variants;
    auto e = build_entry("index.html", text, 42, &variants);
    ASSERT_TRUE(e.ok()) << e.error();
    EXPECT_EQ(e->sha256, sha256_hex(text));
    EXPECT_EQ(e->size, text.size());
    EXPECT_EQ(e->modified, 42);
    ASSERT_EQ(e->encodings.size(), 3u);
    EXPECT_EQ(e->encodings.at("br"), sha256_hex(variants.at("br")));
    EXPECT_EQ(e->encodings.at("zstd"), sha256_hex(variants.at("zstd")));
    EXPECT_EQ(e->encodings.at("gzip"), sha256_hex(variants.at("gzip")));
    EXPECT_EQ(*zstd_decompress(variants.at("zstd")), text);

    variants.clear();
    auto tiny = build_entry("a.txt", "x", 0, &variants);  // compressed would be bigger
    ASSERT_TRUE(tiny.ok());
    EXPECT_TRUE(tiny->encodings.empty());
    EXPECT_TRUE(variants.empty());
    auto png = build_entry("a.png", text, 0, &variants);  // compressible bytes, binary type
    ASSERT_TRUE(png.ok());
    EXPECT_TRUE(png->encodings.empty());
}

// The whole origin tree (path -> bytes), to prove a refusal changed nothing.
std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    if (!fs::exists(root, ec)) return out;
    for (auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        std::string rel = fs::relative(e.path(), root).generic_string();
        if (rel == ".publish.lock") continue;
        out[rel] = *read_file(e.path());
    }
    return out;
}

struct PublishFixture : ::testing::Test {
    TempDir tmp;
    fs::path site = tmp.path() / "site";
    fs::path origin_dir = tmp.path() / "origin";
    SigningKey key = *SigningKey::generate();
    int64_t clock = 1700000000;

    void SetUp() override {
        write_text(site / "index.html", std::string(3000, 'h') + "<html>home</html>");
        write_text(site / "css/style.3f9a1c2b.css", std::string(2000, 'c'));
        write_text(site / "img/logo.png", "\x89PNG not really");
        write_text(site / "post/x/index.html", std::string(1500, 'p'));
    }
    Result<PublishReport> run(const SigningKey& k, std::optional<VerifyKey> expected = {}) {
        LocalOrigin origin(origin_dir);
        PublishOptions o;
        o.site_dir = site;
        o.now = [this] { return clock; };
        o.expected_public_key = std::move(expected);
        return publish_site(o, k, origin);
    }
    Result<PublishReport> run() { return run(key); }
    void expect_refused(const std::string& needle) {
        auto before = snapshot(origin_dir);
        auto r = run();
        ASSERT_FALSE(r.ok()) << "publish should have been refused";
        EXPECT_NE(r.error().find(needle), std::string::npos) << r.error();
        EXPECT_EQ(snapshot(origin_dir), before) << "a refused publish changed the origin";
    }
};

TEST_F(PublishFixture, PublishesALoadableSignedGeneration) {
    std::vector<Progress> events;
    LocalOrigin origin(origin_dir);
    PublishOptions o;
    o.site_dir = site;
    o.now = [this] { return clock; };
    o.expires_seconds = 100;
    o.progress = [&](const Progress& p) { events.push_back(p); };
    auto r = publish_site(o, key, origin);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->generation, 1u);
    EXPECT_EQ(r->parent, 0u);
    EXPECT_EQ(r->files, 4u);
    // 4 identities + br, zstd and gzip of the 3 text files.
    EXPECT_EQ(r->blobs_uploaded, 13u);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().phase, Progress::Phase::kCommitting);

    VerifyKey pub = key.public_key();
    auto live = load_live_generation(origin_dir, &pub);
    ASSERT_TRUE(live.ok()) << live.error();
    EXPECT_EQ(live->current.generation, 1u);
    EXPECT_EQ(live->current.expires, clock + 100);
    EXPECT_TRUE(check_blobs(origin_dir, live->manifest).ok());
    const FileEntry& css = live->manifest.files.at("css/style.3f9a1c2b.css");
    EXPECT_EQ(css.cache_control, "public, max-age=31536000, immutable");
    EXPECT_EQ(*read_file(blob_path(origin_dir, css.sha256)), std::string(2000, 'c'));
    EXPECT_EQ(*gzip_decompress(*read_file(blob_path(origin_dir, css.encodings.at("gzip")))),
              std::string(2000, 'c'));
    EXPECT_EQ(live->manifest.files.at("post/x/index.html").type, "text/html; charset=utf-8");
    EXPECT_TRUE(live->manifest.files.at("img/logo.png").encodings.empty());
    // Phase 1 pointer equals the final one.
    EXPECT_EQ(*read_file(next_file_path(origin_dir)), *read_file(current_file_path(origin_dir)));
    EXPECT_EQ(VerifyKey::from_pem(*read_file(origin_dir / "public.pem"))->raw(), pub.raw());
}

TEST_F(PublishFixture, RepublishUnchangedUploadsNothingAndOneChangeMovesOneBlob) {
    ASSERT_TRUE(run().ok());
    clock += 10;
    auto again = run();
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(again->generation, 2u);
    EXPECT_EQ(again->parent, 1u);
    EXPECT_EQ(again->blobs_uploaded, 0u);
    EXPECT_EQ(again->bytes_uploaded, 0u);

    write_text(site / "post/x/index.html", std::string(1500, 'q'));
    auto changed = run();
    ASSERT_TRUE(changed.ok()) << changed.error();
    EXPECT_EQ(changed->generation, 3u);
    EXPECT_EQ(changed->blobs_uploaded, 4u);  // the file, its br, zstd and gzip
    auto live = load_live_generation(origin_dir);
    ASSERT_TRUE(live.ok());
    EXPECT_EQ(live->manifest.files.at("post/x/index.html").sha256,
              sha256_hex(std::string(1500, 'q')));
}

TEST_F(PublishFixture, RefusesWrongKeyWithNothingChanged) {
    ASSERT_TRUE(run().ok());
    write_text(site / "new.txt", "new");
    auto other = *SigningKey::generate();
    auto before = snapshot(origin_dir);
    auto r = run(other);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("does not match the origin's public.pem"), std::string::npos)
        << r.error();
    EXPECT_EQ(snapshot(origin_dir), before);

    // Without public.pem the signature on `current` still gives the wrong key away.
    fs::remove(origin_dir / "public.pem");
    before = snapshot(origin_dir);
    r = run(other);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("wrong key"), std::string::npos) << r.error();
    EXPECT_EQ(snapshot(origin_dir), before);
}

TEST_F(PublishFixture, RefusesKeyNotMatchingConfiguredPublicKey) {
    auto other = *SigningKey::generate();
    auto r = run(key, other.public_key());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("configured public key"), std::string::npos) << r.error();
    EXPECT_TRUE(snapshot(origin_dir).empty());
    EXPECT_TRUE(run(key, key.public_key()).ok());
}

TEST_F(PublishFixture, RefusesMissingDir) {
    ASSERT_TRUE(run().ok());
    site = tmp.path() / "nope";
    expect_refused("site directory");
}

TEST_F(PublishFixture, RefusesEmptyDir) {
    site = tmp.path() / "empty";
    fs::create_directories(site);
    expect_refused("has no files");
}

TEST_F(PublishFixture, RefusesSymlinkLeavingDir) {
    ASSERT_TRUE(run().ok());
    write_text(tmp.path() / "secret", "password");
    fs::create_symlink(tmp.path() / "secret", site / "leak.txt");
    expect_refused("symlink leads outside");
    fs::remove(site / "leak.txt");
    fs::create_symlink("../../secret", site / "css/up.txt");
    expect_refused("css/up.txt: symlink leads outside");
}

TEST_F(PublishFixture, RefusesDanglingAndDirectorySymlinks) {
    fs::create_symlink(site / "missing", site / "dangling");
    expect_refused("dangling symlink");
    fs::remove(site / "dangling");
    fs::create_directory_symlink(site / "css", site / "css2");
    expect_refused("symlink to a directory");
}

TEST_F(PublishFixture, FollowsSymlinkInsideDir) {
    fs::create_symlink("index.html", site / "home.html");
    auto r = run();
    ASSERT_TRUE(r.ok()) << r.error();
    auto live = load_live_generation(origin_dir);
    EXPECT_EQ(live->manifest.files.at("home.html").sha256,
              live->manifest.files.at("index.html").sha256);
}

TEST_F(PublishFixture, RefusesUnservablePaths) {
    for (std::string name : {"a?b.html", "a#b.html", "a\\b.html", "a\nb.html", "caf\xe9.html"}) {
        write_text(site / name, "x");
        expect_refused("the edge could not serve");
        fs::remove(site / name);
    }
}

TEST_F(PublishFixture, RefusesSpecialFiles) {
    ASSERT_EQ(::mkfifo((site / "pipe").c_str(), 0644), 0);
    expect_refused("not a regular file");
}

TEST_F(PublishFixture, RefusesUnreadableFile) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
    write_text(site / "private.html", "x");
    fs::permissions(site / "private.html", fs::perms::none);
    expect_refused("private.html: cannot read");
    fs::permissions(site / "private.html", fs::perms::owner_all);
}

TEST_F(PublishFixture, RefusesConcurrentPublish) {
    LocalOrigin holder(origin_dir);
    ASSERT_TRUE(holder.lock().ok());
    expect_refused("another publish");
}

TEST_F(PublishFixture, RollbackPublishesOldFilesAsNewGeneration) {
    ASSERT_TRUE(run().ok());
    write_text(site / "index.html", "v2 of the home page");
    ASSERT_TRUE(run().ok());
    auto v1 = load_generation(origin_dir, 1);
    ASSERT_TRUE(v1.ok());

    RollbackOptions ro;
    ro.now = [this] { return clock + 5; };
    // One LocalOrigin per call: each holds the publish lock until destroyed.
    auto r = rollback(ro, key, *std::make_unique<LocalOrigin>(origin_dir));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->generation, 3u);
    EXPECT_EQ(r->parent, 2u);
    VerifyKey pub = key.public_key();
    auto live = load_live_generation(origin_dir, &pub);
    ASSERT_TRUE(live.ok()) << live.error();
    EXPECT_EQ(live->manifest.generation, 3u);
    EXPECT_EQ(live->manifest.files, v1->manifest.files);

    // --to an explicit generation, and refusals.
    ro.to = 2;
    auto r2 = rollback(ro, key, *std::make_unique<LocalOrigin>(origin_dir));
    ASSERT_TRUE(r2.ok()) << r2.error();
    EXPECT_EQ(r2->generation, 4u);
    ro.to = 4;
    auto live_again = rollback(ro, key, *std::make_unique<LocalOrigin>(origin_dir));
    ASSERT_FALSE(live_again.ok());
    EXPECT_NE(live_again.error().find("already live"), std::string::npos);
    ro.to = 99;
    auto missing = rollback(ro, key, *std::make_unique<LocalOrigin>(origin_dir));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().find("not at the origin"), std::string::npos);
    ro.to = 1;
    auto other = *SigningKey::generate();
    auto before = snapshot(origin_dir);
    EXPECT_FALSE(rollback(ro, other, *std::make_unique<LocalOrigin>(origin_dir)).ok());
    EXPECT_EQ(snapshot(origin_dir), before);
}

TEST_F(PublishFixture, RollbackRefusesWhenBlobsAreGone) {
    ASSERT_TRUE(run().ok());
    write_text(site / "index.html", "v2");
    ASSERT_TRUE(run().ok());
    auto v1 = load_generation(origin_dir, 1);
    fs::remove(blob_path(origin_dir, v1->manifest.files.at("index.html").sha256));
    LocalOrigin origin(origin_dir);
    auto before = snapshot(origin_dir);
    auto r = rollback(RollbackOptions{}, key, origin);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("is gone from the origin"), std::string::npos) << r.error();
    EXPECT_EQ(snapshot(origin_dir), before);
}

}  // namespace
}  // namespace anyedge::publish
