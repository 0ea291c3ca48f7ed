// The fixture shared by the fleet tests: keys, an origin directory served by a real cdn-edge,
// and up to three real nodes (cdn-edge + cdn-sync). Generation 1 is a tiny bootstrap site
// published before the nodes start (an edge needs a generation to serve).
#pragma once

#include <random>
#include <regex>

#include <gtest/gtest.h>

#include "origin-sync/content/signing.h"
#include "tests/origin_sync/integration/fleet.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge::testing_util {

inline std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

class FleetTest : public ::testing::Test {
  protected:
    TempDir tmp;
    fs::path boot = tmp.path() / "boot";
    fs::path site = tmp.path() / "site";
    fs::path origin = tmp.path() / "origin";
    fs::path keys = tmp.path() / "keys";
    std::unique_ptr<OriginServer> origin_server;
    std::vector<std::unique_ptr<Node>> nodes;

    void SetUp() override {
        ASSERT_FALSE(tmp.path().empty());
        std::string out;
        ASSERT_EQ(run_command({CDNCTL_BIN, "keygen", "--out", keys.string()}, log("keygen"), &out),
                  0)
            << out;
        write_text(boot / "index.html", "<html>booting</html>");
        ASSERT_EQ(publish_dir(boot, &out), 0) << out;
        start_origin();
    }
    void TearDown() override {
        for (auto& n : nodes) {
            if (n) n->stop();
        }
        if (origin_server) origin_server->stop();
    }

    fs::path log(const std::string& name) { return tmp.path() / (name + ".log"); }
    std::string origin_url() { return origin_server->url(); }

    void start_origin(uint16_t port = 0, std::vector<std::string> extra = {}) {
        origin_server = std::make_unique<OriginServer>(origin, extra, port);
        ASSERT_TRUE(origin_server->started()) << origin_server->log();
    }

    // Starts `count` nodes on the origin's live generation.
    void start_nodes(int count, std::vector<std::string> sync_extra = {}) {
        for (int i = 0; i < count; ++i) {
            nodes.push_back(std::make_unique<Node>(tmp.path() / ("node" + std::to_string(i)),
                                                   "node" + std::to_string(i), keys / "public.pem",
                                                   CDN_SYNC_BIN));
            std::string err = nodes.back()->start(origin_url(), sync_extra);
            ASSERT_EQ(err, "");
        }
    }
    std::string admin_urls() {
        std::string out;
        for (auto& n : nodes) out += (out.empty() ? "" : ",") + n->admin_url();
        return out;
    }

    int publish_dir(const fs::path& dir, std::string* out, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv = {CDNCTL_BIN,
                                         "publish",
                                         dir.string(),
                                         "--origin",
                                         origin.string(),
                                         "--key",
                                         (keys / "private.pem").string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        int code = run_command(argv, log("publish"), out);
        // Returns once the origin serves what was published (its watcher reloads it).
        if (origin_server) {
            EXPECT_TRUE(origin_server->wait_reloaded());
        }
        return code;
    }
    // Publishes `site`, expecting `expect_code`; returns cdnctl's output.
    std::string publish(int expect_code = 0, std::vector<std::string> extra = {}) {
        std::string out;
        EXPECT_EQ(publish_dir(site, &out, extra), expect_code) << out;
        return out;
    }
    std::string publish_wait(int expect_code = 0, int timeout_s = 20) {
        return publish(expect_code, {"--wait", "--nodes", admin_urls(), "--wait-timeout",
                                     std::to_string(timeout_s)});
    }
    // `cdnctl status` over every node; *code receives its exit status.
    std::string cdnctl_status(int* code) {
        std::string out;
        *code = run_command({CDNCTL_BIN, "status", "--nodes", admin_urls()}, log("status"), &out);
        return out;
    }

    void copy_bundled_site() {
        fs::copy(fs::path(anyedge::testing::source_dir()) / "site", site,
                 fs::copy_options::recursive);
    }

    bool all_serving(uint64_t generation) {
        for (auto& n : nodes) {
            if (n->serving() != generation) return false;
        }
        return true;
    }

    // Every node serves generation `g` of the origin: each file byte-identical to `dir` (or to
    // the origin's blob when dir is empty), with the same ETag (the quoted SHA-256 of the
    // bytes) from every node, and X-Served-By naming the node.
    void expect_fleet_serves(uint64_t g, const fs::path& dir = {}) {
        auto m = load_generation(origin, g);
        ASSERT_TRUE(m.ok()) << m.error();
        for (auto& n : nodes) {
            EXPECT_EQ(n->serving(), g) << n->name() << "\n" << n->sync_log();
        }
        size_t checked = 0;
        for (const auto& [path, f] : m->manifest.files) {
            std::string want =
                dir.empty() ? *read_file(blob_path(origin, f.sha256)) : *read_file(dir / path);
            std::string first_etag;
            for (auto& n : nodes) {
                Response r = http_once(n->http_port(), "GET", url_path(path));
                ASSERT_TRUE(r.ok) << n->name() << " " << path << ": " << r.error;
                EXPECT_EQ(r.status, 200) << n->name() << " " << path;
                EXPECT_TRUE(r.body == want) << n->name() << " " << path << " differs";
                EXPECT_EQ(r.header("ETag"), "\"" + f.sha256 + "\"") << n->name() << " " << path;
                EXPECT_EQ(r.header("X-Served-By"), n->name());
                if (first_etag.empty()) first_etag = r.header("ETag");
                EXPECT_EQ(r.header("ETag"), first_etag) << path;
            }
            ++checked;
        }
        EXPECT_GT(checked, 0u);
    }
    // Every node still serves generation `g` and answers with bytes that match their ETag.
    void expect_fleet_still_on(uint64_t g) {
        for (auto& n : nodes) {
            EXPECT_EQ(n->serving(), g) << n->name();
            auto live = load_live_generation(n->state());
            ASSERT_TRUE(live.ok()) << live.error();
            EXPECT_EQ(live->current.generation, g) << n->name();
            for (const auto& [path, f] : live->manifest.files) {
                Response r = http_once(n->http_port(), "GET", url_path(path));
                ASSERT_TRUE(r.ok) << n->name() << " " << path << ": " << r.error;
                EXPECT_EQ(r.status, 200) << path;
                EXPECT_EQ(r.header("ETag"), "\"" + sha256_hex(r.body) + "\"") << path;
                EXPECT_EQ(r.header("ETag"), "\"" + f.sha256 + "\"") << path;
            }
        }
    }
    // The error reaches cdn-sync's log, sync-status.json, the edge's /status and `cdnctl status`.
    void expect_error_visible_everywhere(const std::string& needle) {
        for (auto& n : nodes) {
            ASSERT_TRUE(eventually([&] { return n->sync_error_contains(needle); }))
                << n->name() << ": " << n->sync_status().dump() << "\n"
                << n->sync_log();
            EXPECT_NE(n->sync_log().find(needle), std::string::npos) << n->sync_log();
            auto st = n->status();
            EXPECT_NE(
                st.value("sync", nlohmann::json::object()).value("last_error", "").find(needle),
                std::string::npos)
                << st.dump();
        }
        int code = 0;
        std::string table = cdnctl_status(&code);
        EXPECT_EQ(code, 3) << table;
        size_t lines_with_error = 0;
        for (size_t pos = 0; (pos = table.find(needle, pos)) != std::string::npos; ++pos) {
            ++lines_with_error;
        }
        EXPECT_GE(lines_with_error, nodes.size()) << table;
        std::printf("cdnctl status:\n%s", table.c_str());
    }
    void expect_recovered_everywhere() {
        for (auto& n : nodes) {
            EXPECT_TRUE(eventually([&] { return n->sync_status().value("state", "") == "ok"; }))
                << n->sync_log();
        }
        int code = 0;
        EXPECT_TRUE(eventually([&] {
            cdnctl_status(&code);
            return code == 0;
        }));
    }
};

}  // namespace anyedge::testing_util
