#include "origin-sync/content/store.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "origin-sync/content/digest.h"
#include "origin-sync/content/signing.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge {
namespace {

using testing_util::TempDir;
using testing_util::write_text;

TEST(Store, Layout) {
    std::string sha = sha256_hex("x");
    EXPECT_EQ(blob_path("/s", sha),
              fs::path("/s/objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2)));
    EXPECT_EQ(manifest_path("/s", 12), fs::path("/s/generations/12.json"));
    EXPECT_EQ(manifest_sig_path("/s", 12), fs::path("/s/generations/12.json.sig"));
    EXPECT_EQ(current_file_path("/s"), fs::path("/s/current"));
    EXPECT_EQ(current_sig_path("/s"), fs::path("/s/current.sig"));
}

TEST(Store, AtomicWriteReplacesAndLeavesNoTemporaries) {
    TempDir dir;
    fs::path p = dir.path() / "a/b/file";
    ASSERT_TRUE(atomic_write_file(p, "one").ok());
    ASSERT_TRUE(atomic_write_file(p, "two", 0600).ok());
    EXPECT_EQ(*read_file(p), "two");
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    int entries = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(p.parent_path())) ++entries;
    EXPECT_EQ(entries, 1);
}

TEST(Store, ReadFileLimitsAndErrors) {
    TempDir dir;
    write_text(dir.path() / "f", "12345");
    EXPECT_FALSE(read_file(dir.path() / "f", 4).ok());
    EXPECT_EQ(*read_file(dir.path() / "f", 5), "12345");
    EXPECT_FALSE(read_file(dir.path() / "missing").ok());
    EXPECT_FALSE(read_file(dir.path()).ok());  // a directory
}

// Builds a signed generation in `root` with the given files (path -> content).
struct Fixture {
    TempDir dir;
    SigningKey key = *SigningKey::generate();

    Manifest put(uint64_t gen, uint64_t parent, const std::map<std::string, std::string>& files) {
        Manifest m;
        m.generation = gen;
        m.parent = parent;
        for (const auto& [path, content] : files) {
            std::string sha = sha256_hex(content);
            EXPECT_TRUE(atomic_write_file(blob_path(dir.path(), sha), content).ok());
            m.files[path] = FileEntry{sha, content.size(), "text/plain", {}, "public", 1};
        }
        std::string bytes = serialize_manifest(m);
        EXPECT_TRUE(atomic_write_file(manifest_path(dir.path(), gen), bytes).ok());
        EXPECT_TRUE(atomic_write_file(manifest_sig_path(dir.path(), gen), *key.sign(bytes)).ok());
        return m;
    }
    void point(uint64_t gen) {
        std::string bytes = *read_file(manifest_path(dir.path(), gen));
        CurrentPointer c{gen, sha256_hex(bytes), 10, 20};
        std::string cb = serialize_current(c);
        ASSERT_TRUE(atomic_write_file(current_file_path(dir.path()), cb).ok());
        ASSERT_TRUE(atomic_write_file(current_sig_path(dir.path()), *key.sign(cb)).ok());
    }
};

TEST(Store, LoadLiveAndPreviousGeneration) {
    Fixture f;
    Manifest m1 = f.put(1, 0, {{"index.html", "v1"}, {"old.css", "o"}});
    Manifest m2 = f.put(2, 1, {{"index.html", "v2"}});
    f.point(2);
    VerifyKey pub = f.key.public_key();
    auto live = load_live_generation(f.dir.path(), &pub);
    ASSERT_TRUE(live.ok()) << live.error();
    EXPECT_EQ(live->current.generation, 2u);
    EXPECT_EQ(live->manifest, m2);
    EXPECT_EQ(sha256_hex(live->manifest_bytes), live->current.manifest_sha256);
    EXPECT_TRUE(check_blobs(f.dir.path(), live->manifest).ok());

    auto prev = load_previous_generation(f.dir.path(), live->manifest, &pub);
    ASSERT_TRUE(prev.ok()) << prev.error();
    EXPECT_EQ(prev->manifest, m1);
    auto none = load_previous_generation(f.dir.path(), m1);
    EXPECT_FALSE(none.ok());
    EXPECT_EQ(list_generations(f.dir.path()), (std::vector<uint64_t>{1, 2}));
}

TEST(Store, LiveGenerationRejectsTamperedManifest) {
    Fixture f;
    f.put(1, 0, {{"index.html", "v1"}});
    f.point(1);
    // Same length, still a valid manifest: only the hash check can catch it.
    std::string m = *read_file(manifest_path(f.dir.path(), 1));
    m.replace(m.find("\"created\":0"), 11, "\"created\":9");
    ASSERT_TRUE(atomic_write_file(manifest_path(f.dir.path(), 1), m).ok());
    auto live = load_live_generation(f.dir.path());
    ASSERT_FALSE(live.ok());
    EXPECT_NE(live.error().find("hash does not match"), std::string::npos) << live.error();
}

TEST(Store, LiveGenerationWithKeyRejectsBadSignatures) {
    Fixture f;
    f.put(1, 0, {{"index.html", "v1"}});
    f.point(1);
    auto other = *SigningKey::generate();
    VerifyKey wrong = other.public_key();
    auto live = load_live_generation(f.dir.path(), &wrong);
    ASSERT_FALSE(live.ok());
    EXPECT_NE(live.error().find("bad signature"), std::string::npos) << live.error();
    // Without a key the same directory loads (the edge trusts its own state dir).
    EXPECT_TRUE(load_live_generation(f.dir.path()).ok());
}

TEST(Store, LiveGenerationErrors) {
    Fixture f;
    auto missing = load_live_generation(f.dir.path());
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().find("current"), std::string::npos);
    f.put(1, 0, {{"a", "1"}});
    f.point(1);
    // current names generation 1, but the file claims to be generation 2.
    fs::rename(manifest_path(f.dir.path(), 1), manifest_path(f.dir.path(), 5));
    auto gone = load_live_generation(f.dir.path());
    EXPECT_FALSE(gone.ok());
}

TEST(Store, CheckBlobsFindsMissingAndWrongSize) {
    Fixture f;
    Manifest m = f.put(1, 0, {{"a", "hello"}, {"b", "world!"}});
    EXPECT_TRUE(check_blobs(f.dir.path(), m).ok());
    fs::remove(blob_path(f.dir.path(), m.files["b"].sha256));
    Status s = check_blobs(f.dir.path(), m);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().find("missing"), std::string::npos);
    write_text(blob_path(f.dir.path(), m.files["b"].sha256), "x");
    s = check_blobs(f.dir.path(), m);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().find("size"), std::string::npos);
    m.files["a"].encodings["br"] = sha256_hex("nope");
    EXPECT_EQ(referenced_blobs(m).size(), 3u);
}

}  // namespace
}  // namespace anyedge
