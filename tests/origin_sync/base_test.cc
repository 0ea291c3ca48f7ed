// origin-sync/base: the atomic write, whole-file and token-file reads, and the JSON object
// reader's errors, which name the key.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"

namespace anyedge {
namespace {

namespace fs = std::filesystem;

class BaseFiles : public ::testing::Test {
  protected:
    BaseFiles() : dir_(fs::temp_directory_path() / ("base_test_" + std::to_string(::getpid()))) {
        fs::create_directories(dir_);
    }
    ~BaseFiles() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(BaseFiles, AtomicWriteReplacesSetsTheModeAndLeavesNoTemp) {
    const fs::path path = dir_ / "sub" / "state.conf";  // the directory is created
    ASSERT_TRUE(atomic_write_file(path, "one\n", 0640).ok());
    ASSERT_TRUE(atomic_write_file(path, "two\n", 0640).ok());
    auto text = read_file(path);
    ASSERT_TRUE(text) << text.error();
    EXPECT_EQ(*text, "two\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator{}),
              1);
    // A path under a regular file cannot be written; nothing is left behind.
    EXPECT_FALSE(atomic_write_file(path / "x", "x").ok());
}

TEST_F(BaseFiles, ReadFileLimitsAndCodes) {
    auto missing = read_file(dir_ / "missing");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error_code(), ErrorCode::kNotFound);
    ASSERT_TRUE(atomic_write_file(dir_ / "big", std::string(100, 'x')).ok());
    auto big = read_file(dir_ / "big", 99);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error_code(), ErrorCode::kFailed);
    EXPECT_FALSE(read_file(dir_));  // a directory is not a regular file
}

TEST_F(BaseFiles, TokenFileIsItsFirstLineTrimmed) {
    ASSERT_TRUE(atomic_write_file(dir_ / "t", "s3cret \r\nsecond line\n").ok());
    auto t = read_token_file(dir_ / "t");
    ASSERT_TRUE(t) << t.error();
    EXPECT_EQ(*t, "s3cret");
    ASSERT_TRUE(atomic_write_file(dir_ / "empty", "\n").ok());
    EXPECT_FALSE(read_token_file(dir_ / "empty"));
    auto missing = read_token_file(dir_ / "none");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error_code(), ErrorCode::kNotFound);
}

struct Sample {
    std::string name;
    int64_t level = 0;
    uint64_t size = 0;
    bool on = false;
    std::vector<std::string> tags;
    std::string nested;
};

Result<Sample> read_sample(std::string_view text) {
    return read_json_object(text, "sample", [](JsonObject& o) {
        Sample s;
        s.name = o.str("name");
        s.level = o.integer("level", 5, 0, 10);
        s.size = o.unsigned_integer("size", 0);
        s.on = o.boolean("on", false);
        s.tags = o.strings("tags", /*or_one=*/true);
        if (o.has("inner")) {
            JsonObject inner = o.object("inner");
            s.nested = inner.str("x");
            inner.finish();
        }
        o.finish();
        return s;
    });
}

TEST(JsonObject, ReadsTypedValuesWithDefaults) {
    auto s = read_sample(R"({"name":"a","size":7,"tags":"one","inner":{"x":"y"}})");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->name, "a");
    EXPECT_EQ(s->level, 5);
    EXPECT_EQ(s->size, 7u);
    EXPECT_EQ(s->tags, std::vector<std::string>{"one"});
    EXPECT_EQ(s->nested, "y");
}

// A peer's document read leniently: a missing or mistyped member is the fallback, never a throw.
TEST(JsonLenient, MistypedMembersAreTheFallback) {
    const auto j = nlohmann::json::parse(
        R"({"s":"text","n":42,"wrong_s":7,"wrong_n":"42","null_s":null,"real":1.5})");
    EXPECT_EQ(json_string_or(j, "s"), "text");
    EXPECT_EQ(json_string_or(j, "wrong_s", "dflt"), "dflt");
    EXPECT_EQ(json_string_or(j, "null_s"), "");
    EXPECT_EQ(json_string_or(j, "absent", "x"), "x");
    EXPECT_EQ(json_int_or(j, "n"), 42);
    EXPECT_EQ(json_int_or(j, "wrong_n", -1), -1);
    EXPECT_EQ(json_int_or(j, "real", -1), -1);
    EXPECT_EQ(json_string_or(nlohmann::json::array({1}), "s", "arr"), "arr");
    EXPECT_EQ(json_int_or(nlohmann::json("str"), "n", 3), 3);
}

// Bytes that are not UTF-8 (a CA's text cut at 200 bytes, a header value) do not throw.
TEST(JsonLenient, DumpReplacesInvalidUtf8) {
    const nlohmann::json j = {{"error", std::string("bad \xe2\x82 cut")}};
    EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what json_dump avoids
    std::string out;
    ASSERT_NO_THROW(out = json_dump(j));
    EXPECT_EQ(out, "{\"error\":\"bad \xef\xbf\xbd cut\"}");
}

TEST(JsonObject, ErrorsNameTheKey) {
    const struct {
        const char* text;
        const char* error;
    } cases[] = {
        {"[1]", "sample: expected an object"},
        {"{", "sample: not valid JSON"},
        {"{}", "sample.name: missing (required)"},
        {R"({"name":1})", "sample.name: expected a string"},
        {R"({"name":"a","level":11})", "sample.level: must be between 0 and 10"},
        {R"({"name":"a","level":"3"})", "sample.level: expected an integer"},
        {R"({"name":"a","size":-1})", "sample.size: expected a non-negative integer"},
        {R"({"name":"a","on":1})", "sample.on: expected true or false"},
        {R"({"name":"a","tags":[1]})", "sample.tags[0]: expected a string"},
        {R"({"name":"a","inner":{"x":"y","z":1}})", "sample.inner.z: unknown key"},
        {R"({"name":"a","colour":"blue"})", "sample.colour: unknown key"},
    };
    for (const auto& c : cases) {
        auto s = read_sample(c.text);
        ASSERT_FALSE(s) << c.text;
        EXPECT_EQ(s.error(), c.error) << c.text;
    }
}

}  // namespace
}  // namespace anyedge
