// cdn-edge in the origin role: `cdnctl publish --origin https://...` uploads into a real
// cdn-edge over TLS with a bearer token; every blob's hash is checked on arrival.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "edge/io/ring.h"
#include "origin-sync/content/store.h"
#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

class EdgeOrigin : public ::testing::Test {
  protected:
    void SetUp() override {
        ANYEDGE_REQUIRE_IO_URING();
        dir_ = fs::temp_directory_path() / ("anyedge-origin-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "origin");
        const std::string d = dir_.string();
        run_command(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-days 2 -subj /CN=origin -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
            "-keyout " +
            d + "/k.pem -out " + d + "/c.pem");
        std::ofstream(dir_ / "token") << "upl0ad\n";
        std::ofstream(dir_ / "wrong-token") << "nope\n";
        run_command(cdnctl() + " keygen --out " + d + "/keys");
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(),
            std::vector<std::string>{"--site", d + "/origin", "--tls-listen", "127.0.0.1:0",
                                     "--cert", d + "/c.pem", "--key", d + "/k.pem",
                                     "--upload-token-file", d + "/token"},
            1);
        ASSERT_TRUE(edge_->started()) << edge_->log();
        url_ = "https://127.0.0.1:" + std::to_string(edge_->port());
    }
    void TearDown() override {
        edge_.reset();
        fs::remove_all(dir_);
    }
    static std::string cdnctl() { return ANYEDGE_BINARY_DIR "/origin-sync/cdnctl"; }
    std::string publish(const std::string& token = "token") {
        return run_command(cdnctl() + " publish " + source_dir() + "/site --origin " + url_ +
                           " --key " + (dir_ / "keys/private.pem").string() + " --token-file " +
                           (dir_ / token).string() + " --ca " + (dir_ / "c.pem").string() +
                           "; echo exit=$?");
    }
    std::string curl(const std::string& args) {
        return run_command("curl -s -o /dev/null -w '%{http_code}' --cacert " +
                           (dir_ / "c.pem").string() + " " + args);
    }

    fs::path dir_;
    std::unique_ptr<EdgeProcess> edge_;
    std::string url_;
};

TEST_F(EdgeOrigin, PublishOverHttpsIntoTheEdge) {
    const std::string out = publish();
    ASSERT_NE(out.find("exit=0"), std::string::npos) << out << edge_->log();
    EXPECT_NE(out.find("published generation 1"), std::string::npos) << out;
    // The tree on disk is a complete, loadable generation.
    auto live = load_live_generation(dir_ / "origin");
    ASSERT_TRUE(live.ok()) << live.error();
    EXPECT_TRUE(check_blobs(dir_ / "origin", live->manifest).ok());
    // And the origin serves it (after the pointer upload it reloaded).
    std::ifstream in(dir_ / "origin" / "current");
    const std::string current((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(
        run_command("curl -s --cacert " + (dir_ / "c.pem").string() + " " + url_ + "/current"),
        current);
    // Unchanged content: nothing is uploaded again.
    const std::string again = publish();
    EXPECT_NE(again.find("exit=0"), std::string::npos) << again;
    EXPECT_NE(again.find("uploaded 0 blobs"), std::string::npos) << again;
}

TEST_F(EdgeOrigin, RefusesBadUploads) {
    const std::string blob = std::string(64, 'a');
    const std::string blob_url =
        url_ + "/objects/sha256/" + blob.substr(0, 2) + "/" + blob.substr(2);
    // No token, a wrong token: 401, and a publish with the wrong token fails, changing nothing.
    EXPECT_EQ(curl("-X PUT --data-binary x " + blob_url), "401");
    EXPECT_EQ(curl("-X PUT -H 'Authorization: Bearer nope' --data-binary x " + blob_url), "401");
    EXPECT_EQ(publish("wrong-token").find("exit=0"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "origin" / "current"));
    const std::string auth = "-H 'Authorization: Bearer upl0ad' ";
    // A blob whose bytes do not match its name.
    EXPECT_EQ(curl("-X PUT " + auth + "--data-binary x " + blob_url), "400");
    EXPECT_FALSE(fs::exists(dir_ / "origin" / "objects"));
    // Paths an origin does not store, and traversal.
    EXPECT_EQ(curl("-X PUT " + auth + "--data-binary x " + url_ + "/index.html"), "403");
    EXPECT_EQ(curl("-X PUT " + auth + "--data-binary x " + url_ + "/generations/x.json"), "403");
    EXPECT_EQ(curl("-X PUT " + auth + "--data-binary x --path-as-is " + url_ + "/../current"),
              "400");
    // A correct blob is stored under its hash.
    const std::string hello_sha = run_command("printf hello | sha256sum | cut -c1-64");
    const std::string sha = hello_sha.substr(0, 64);
    EXPECT_EQ(curl("-X PUT " + auth + "--data-binary hello " + url_ + "/objects/sha256/" +
                   sha.substr(0, 2) + "/" + sha.substr(2)),
              "201");
    EXPECT_TRUE(fs::exists(blob_path(dir_ / "origin", sha)));
}

// A PUT that will not be stored (wrong token, a path an origin does not keep) is answered
// from its header and the connection closed: the origin never buffers a body it refuses. The
// 100 MB body declared here is never sent; the answer must come anyway.
TEST_F(EdgeOrigin, RefusedUploadIsAnsweredWithoutReadingItsBody) {
    const auto put = [&](const std::string& path, const std::string& token) {
        return run_command("printf 'PUT " + path +
                           " HTTP/1.1\\r\\nHost: o\\r\\nAuthorization: Bearer " + token +
                           "\\r\\nContent-Length: 100000000\\r\\n\\r\\n' | timeout 10 "
                           "openssl s_client -quiet -ign_eof -connect 127.0.0.1:" +
                           std::to_string(edge_->port()) + "");
    };
    const std::string blob = "/objects/sha256/ab/" + std::string(62, 'c');
    std::string r = put(blob, "nope");
    EXPECT_NE(r.find("HTTP/1.1 401 Unauthorized"), std::string::npos) << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
    r = put("/etc/passwd", "upl0ad");
    EXPECT_NE(r.find("HTTP/1.1 403 Forbidden"), std::string::npos) << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
    EXPECT_FALSE(fs::exists(dir_ / "origin" / "objects"));
}

// A blob upload on a slow link may take longer than the header timeout: a body only has to
// keep arriving. One that stops arriving is dropped after that timeout, and nothing is stored.
TEST(EdgeOriginUploads, SlowBodyIsTakenAndStalledBodyDropped) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path d = fs::temp_directory_path() / ("anyedge-slow-up-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "origin");
    std::ofstream(d / "token") << "upl0ad\n";
    std::ofstream(d / "edge.json") << R"({"site": ")" << (d / "origin").string()
                                   << R"(", "listen": "127.0.0.1:0", "upload_token_file": ")"
                                   << (d / "token").string() << R"(", "header_timeout_ms": 500})";
    EdgeProcess edge(edge_binary(), {"--config", (d / "edge.json").string()}, 1);
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string port = std::to_string(edge.port());

    // 1.5 MB at 512 KiB/s: about three seconds, six header timeouts.
    run_command("head -c 1500000 /dev/urandom > " + (d / "blob").string());
    const std::string sha = run_command("sha256sum " + (d / "blob").string()).substr(0, 64);
    const std::string code = run_command(
        "timeout 30 curl -s -o /dev/null -w '%{http_code}' --limit-rate 512K -X PUT -H "
        "'Authorization: Bearer upl0ad' --data-binary @" +
        (d / "blob").string() + " http://127.0.0.1:" + port + "/objects/sha256/" +
        sha.substr(0, 2) + "/" + sha.substr(2));
    EXPECT_EQ(code, "201");
    EXPECT_TRUE(fs::exists(blob_path(d / "origin", sha)));

    // A body that stops halfway.
    RawClient stalled(edge.port());
    const std::string other(64, 'e');
    ASSERT_TRUE(stalled.send_all("PUT /objects/sha256/ee/" + other.substr(2) +
                                 " HTTP/1.1\r\nHost: o\r\nAuthorization: Bearer upl0ad\r\n"
                                 "Content-Length: 100000\r\n\r\n" +
                                 std::string(1000, 'x')));
    EXPECT_TRUE(stalled.closed_by_peer(std::chrono::seconds(3)));
    EXPECT_FALSE(fs::exists(blob_path(d / "origin", other)));
    EXPECT_EQ(edge.stop(), 0) << edge.log();
    fs::remove_all(d);
}

}  // namespace
}  // namespace anyedge::testing
