// Replays the fuzz seed corpora (tests/fuzz/corpus/<target>/*) through the fuzz entry points
// in every build, so a crash found once by libFuzzer stays fixed.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_targets.h"

namespace anyedge::fuzz {
namespace {
namespace fs = std::filesystem;

int replay(const char* name, void (*target)(const uint8_t*, size_t)) {
    int n = 0;
    for (const auto& e :
         fs::directory_iterator(fs::path(ANYEDGE_SOURCE_DIR) / "tests/fuzz/corpus" / name)) {
        std::ifstream in(e.path(), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        target(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        ++n;
    }
    return n;
}

TEST(FuzzCorpus, RequestParser) { EXPECT_GT(replay("request", request_parser), 0); }
TEST(FuzzCorpus, Range) { EXPECT_GT(replay("range", range), 0); }
TEST(FuzzCorpus, Path) { EXPECT_GT(replay("path", path), 0); }
TEST(FuzzCorpus, Manifest) { EXPECT_GT(replay("manifest", manifest), 0); }
TEST(FuzzCorpus, BirdReply) { EXPECT_GT(replay("bird_reply", bird_reply), 0); }
TEST(FuzzCorpus, Connection) { EXPECT_GT(replay("connection", connection), 0); }
TEST(FuzzCorpus, TlsRecords) { EXPECT_GT(replay("tls_records", tls_records), 0); }
TEST(FuzzCorpus, QuicDatagrams) { EXPECT_GT(replay("quic_datagrams", quic_datagrams), 0); }
TEST(FuzzCorpus, H2Session) { EXPECT_GT(replay("h2_session", h2_session), 0); }
TEST(FuzzCorpus, H3Requests) { EXPECT_GT(replay("h3_requests", h3_requests), 0); }

}  // namespace
}  // namespace anyedge::fuzz
