// The admin API and --state serving against a real cdn-edge and real cdnctl publishes.
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "edge/io/ring.h"
#include "origin-sync/content/store.h"
#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string cdnctl() { return ANYEDGE_BINARY_DIR "/origin-sync/cdnctl"; }

class EdgeAdmin : public ::testing::Test {
  protected:
    void SetUp() override {
        ANYEDGE_REQUIRE_IO_URING();
        dir_ = fresh_test_dir("admin");
        fs::create_directories(dir_ / "site");
        fs::copy(source_dir() + "/site", dir_ / "site", fs::copy_options::recursive);
        run_command(cdnctl() + " keygen --out " + (dir_ / "keys").string());
        publish();
        std::ofstream(dir_ / "token") << "s3cret\n";
    }
    void TearDown() override {
        edge_.reset();
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    std::string publish() {
        return run_command(cdnctl() + " publish " + (dir_ / "site").string() + " --origin " +
                           (dir_ / "state").string() + " --key " +
                           (dir_ / "keys/private.pem").string());
    }
    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--state",
                                         (dir_ / "state").string(),
                                         "--listen",
                                         "127.0.0.1:0",
                                         "--admin",
                                         "127.0.0.1:0",
                                         "--admin-token-file",
                                         (dir_ / "token").string(),
                                         "--node-name",
                                         "n1"};
        args.insert(args.end(), extra.begin(), extra.end());
        edge_ = std::make_unique<EdgeProcess>(edge_binary(), args, 2);
        ASSERT_TRUE(edge_->started()) << edge_->log();
        ASSERT_EQ(edge_->kinds().at(1), "admin");
    }
    std::string get(const std::string& path, std::string* headers = nullptr) {
        RawClient c(edge_->port(0));
        c.send_all("GET " + path + " HTTP/1.1\r\nHost: blog.example\r\n\r\n");
        auto r = c.read_responses(1);
        if (r.empty()) return "<no response>";
        if (headers) *headers = r[0].substr(0, r[0].find("\r\n\r\n"));
        return r[0];
    }
    uint16_t admin_port() { return edge_->port(1); }

    fs::path dir_;
    std::unique_ptr<EdgeProcess> edge_;
};

TEST_F(EdgeAdmin, HealthStatusMetrics) {
    start();
    AdminReply h = admin_request(admin_port(), "GET", "/healthz");
    EXPECT_TRUE(h.ok()) << h.raw;
    EXPECT_NE(h.body.find("\"status\":\"ok\""), std::string::npos);
    EXPECT_NE(h.body.find("\"generation\":1"), std::string::npos);
    get("/");
    AdminReply s = admin_request(admin_port(), "GET", "/status");
    EXPECT_NE(s.body.find("\"node\":\"n1\""), std::string::npos) << s.body;
    EXPECT_NE(s.body.find("\"state\":\"serving\""), std::string::npos) << s.body;
    EXPECT_NE(s.body.find("\"requests\":1"), std::string::npos) << s.body;
    AdminReply m = admin_request(admin_port(), "GET", "/metrics");
    EXPECT_NE(m.body.find("anyedge_generation 1\n"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("anyedge_requests_total{status=\"2xx\"} 1\n"), std::string::npos);
    EXPECT_TRUE(admin_request(admin_port(), "GET", "/nope").raw.starts_with("HTTP/1.1 404"));
}

TEST_F(EdgeAdmin, NewNodeWaitsForItsFirstGeneration) {
    // An empty state directory: the edge starts, is unhealthy, and goes live on the first reload.
    const fs::path empty = dir_ / "empty-state";
    fs::create_directories(empty);
    edge_ = std::make_unique<EdgeProcess>(
        edge_binary(),
        std::vector<std::string>{"--state", empty.string(), "--listen", "127.0.0.1:0", "--admin",
                                 "127.0.0.1:0", "--admin-token-file", (dir_ / "token").string()},
        2);
    ASSERT_TRUE(edge_->started()) << edge_->log();
    EXPECT_TRUE(admin_request(admin_port(), "GET", "/healthz").raw.starts_with("HTTP/1.1 503"));
    EXPECT_TRUE(get("/").starts_with("HTTP/1.1 404"));
    fs::copy(dir_ / "state", empty,
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    ASSERT_TRUE(admin_request(admin_port(), "POST", "/reload", "s3cret").ok());
    EXPECT_TRUE(admin_request(admin_port(), "GET", "/healthz").ok());
    EXPECT_TRUE(get("/").starts_with("HTTP/1.1 200"));
}

TEST_F(EdgeAdmin, PostsNeedTheToken) {
    start();
    EXPECT_TRUE(admin_request(admin_port(), "POST", "/reload").raw.starts_with("HTTP/1.1 401"));
    EXPECT_TRUE(
        admin_request(admin_port(), "POST", "/reload", "wrong").raw.starts_with("HTTP/1.1 401"));
    EXPECT_TRUE(
        admin_request(admin_port(), "POST", "/drain", "wrong").raw.starts_with("HTTP/1.1 401"));
    EXPECT_TRUE(admin_request(admin_port(), "POST", "/reload", "s3cret").ok());
    EXPECT_TRUE(
        admin_request(admin_port(), "GET", "/reload", "s3cret").raw.starts_with("HTTP/1.1 405"));
}

TEST_F(EdgeAdmin, ReloadSwitchesAndKeepsThePreviousForTheGrace) {
    start();
    std::string old_headers;
    const std::string before = get("/", &old_headers);
    std::ofstream(dir_ / "site" / "index.html", std::ios::app) << "<!-- generation 2 -->\n";
    fs::remove(dir_ / "site" / "robots.txt");
    ASSERT_NE(publish().find("published generation 2"), std::string::npos);
    AdminReply r = admin_request(admin_port(), "POST", "/reload", "s3cret");
    ASSERT_TRUE(r.ok()) << r.raw;
    EXPECT_NE(r.body.find("\"generation\":2"), std::string::npos);
    const std::string after = get("/");
    EXPECT_NE(body_of(after).find("generation 2"), std::string::npos);
    EXPECT_NE(header_of(after, "ETag"), header_of(before, "ETag"));
    // robots.txt left the site in generation 2 but is still served during the skew grace.
    EXPECT_TRUE(get("/robots.txt").starts_with("HTTP/1.1 200")) << get("/robots.txt");
    EXPECT_NE(admin_request(admin_port(), "GET", "/status").body.find("\"previous_generation\":1"),
              std::string::npos);
}

TEST_F(EdgeAdmin, NoGraceMeansGone) {
    start({"--skew-grace", "0"});
    fs::remove(dir_ / "site" / "robots.txt");
    publish();
    ASSERT_TRUE(admin_request(admin_port(), "POST", "/reload", "s3cret").ok());
    EXPECT_TRUE(get("/robots.txt").starts_with("HTTP/1.1 404"));
}

TEST_F(EdgeAdmin, CorruptGenerationNeverGoesLive) {
    start();
    const std::string before = get("/");
    std::ofstream(dir_ / "site" / "index.html", std::ios::app) << "<!-- generation 2 -->\n";
    publish();
    // Damage the new index.html blob on disk: the reload must refuse the whole generation.
    auto live = load_live_generation(dir_ / "state");
    ASSERT_TRUE(live.ok()) << live.error();
    const std::string sha = live->manifest.files.at("index.html").sha256;
    std::ofstream(blob_path(dir_ / "state", sha), std::ios::trunc) << "tampered";
    AdminReply r = admin_request(admin_port(), "POST", "/reload", "s3cret");
    EXPECT_TRUE(r.raw.starts_with("HTTP/1.1 500")) << r.raw;
    EXPECT_NE(r.body.find("index.html"), std::string::npos) << r.body;
    EXPECT_EQ(body_of(get("/")), body_of(before));
    EXPECT_NE(admin_request(admin_port(), "GET", "/status").body.find("last_reload_error"),
              std::string::npos);
}

// A connection still open is still being served (with stray forwarding, even after the route
// has gone): the drain reports drained only once it ends (or drain_linger_ms passes).
TEST_F(EdgeAdmin, DrainWaitsForOpenConnectionsToEnd) {
    start();
    auto status = [&] { return admin_request(admin_port(), "GET", "/status").body; };
    {
        RawClient c(edge_->port(0));
        c.send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        ASSERT_EQ(c.read_responses(1).size(), 1u);
        ASSERT_TRUE(admin_request(admin_port(), "POST", "/drain", "s3cret").ok());
        // Past the quiet period (2 s), nothing in flight, one connection open: draining.
        std::this_thread::sleep_for(2500ms);
        EXPECT_NE(status().find("\"state\":\"draining\""), std::string::npos) << status();
    }
    bool drained = false;
    for (int i = 0; i < 60 && !drained; ++i) {  // bounded: 6 s
        std::this_thread::sleep_for(100ms);
        drained = status().find("\"state\":\"drained\"") != std::string::npos;
    }
    EXPECT_TRUE(drained) << status();
}

TEST_F(EdgeAdmin, DrainSaysCloseThenReportsDrained) {
    start();
    RawClient c(edge_->port(0));
    c.send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_EQ(c.read_responses(1).size(), 1u);
    ASSERT_TRUE(admin_request(admin_port(), "POST", "/drain", "s3cret").ok());
    // The open keep-alive connection still gets an answer, with Connection: close.
    c.send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    auto r = c.read_responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(header_of(r[0], "Connection"), "close");
    EXPECT_TRUE(c.closed_by_peer());
    // New connections are still served while draining.
    EXPECT_TRUE(get("/robots.txt").starts_with("HTTP/1.1 200"));
    EXPECT_NE(admin_request(admin_port(), "GET", "/status").body.find("\"state\":\"draining\""),
              std::string::npos);
    // Quiet for the quiet period (2 s) with nothing in flight: drained. Bounded wait.
    bool drained = false;
    for (int i = 0; i < 60 && !drained; ++i) {
        std::this_thread::sleep_for(100ms);
        drained =
            admin_request(admin_port(), "GET", "/status").body.find("\"state\":\"drained\"") !=
            std::string::npos;
    }
    EXPECT_TRUE(drained);
    ASSERT_TRUE(admin_request(admin_port(), "POST", "/undrain", "s3cret").ok());
    std::string headers;
    get("/", &headers);
    EXPECT_EQ(header_of(headers + "\r\n\r\n", "Connection"), "");
}

TEST_F(EdgeAdmin, KeepAliveClientSeesNoErrorAcrossTenSwitches) {
    start();
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, bad{0};
    std::thread client([&] {
        auto c = std::make_unique<RawClient>(edge_->port(0));
        for (int i = 0; i < 200000 && !stop; ++i) {
            if (!c->send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /assets/app.1b7becba.js "
                             "HTTP/1.1\r\nHost: h\r\n\r\n")) {
                ++bad;
                break;
            }
            auto rs = c->read_responses(2);
            if (rs.size() != 2 || !rs[0].starts_with("HTTP/1.1 200") ||
                !rs[1].starts_with("HTTP/1.1 200")) {
                ++bad;
                break;
            }
            ok += 2;
            // A well-behaved client reconnects when the server says close (request cap).
            if (header_of(rs[1], "Connection") == "close") {
                c = std::make_unique<RawClient>(edge_->port(0));
            }
        }
    });
    for (int g = 2; g <= 11; ++g) {
        std::ofstream(dir_ / "site" / "index.html", std::ios::app) << "<!-- g" << g << " -->\n";
        publish();
        EXPECT_TRUE(admin_request(admin_port(), "POST", "/reload", "s3cret").ok());
    }
    std::this_thread::sleep_for(100ms);
    stop = true;
    client.join();
    std::printf("keep-alive requests across 10 switches: %d ok, %d failed\n", ok.load(),
                bad.load());
    EXPECT_GT(ok.load(), 0);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_NE(body_of(get("/")).find("g11"), std::string::npos);
}

}  // namespace
}  // namespace anyedge::testing
