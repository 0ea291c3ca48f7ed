// End-to-end content plane on loopback: cdnctl publishes into an origin directory served by
// `python3 -m http.server`, cdn-sync processes follow it into per-node state directories.
// Every wait is bounded; every process is stopped by its PID.
#include <random>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "origin-sync/content/digest.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/content/store.h"
#include "tests/origin_sync/integration/process.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge {
namespace {

using testing_util::eventually;
using testing_util::Process;
using testing_util::run_command;
using testing_util::TempDir;
using testing_util::write_text;

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

class SyncTest : public ::testing::Test {
  protected:
    TempDir tmp;
    fs::path site = tmp.path() / "site";
    fs::path origin = tmp.path() / "origin";
    fs::path keys = tmp.path() / "keys";
    std::unique_ptr<Process> http;
    std::string port;
    std::vector<std::unique_ptr<Process>> syncs;

    void SetUp() override {
        ASSERT_FALSE(tmp.path().empty());
        std::string out;
        ASSERT_EQ(run_command({CDNCTL_BIN, "keygen", "--out", keys.string()}, log("keygen"), &out),
                  0)
            << out;
        std::string page;
        for (int i = 0; i < 300; ++i) page += "<p>paragraph " + std::to_string(i) + "</p>\n";
        write_text(site / "index.html", "<html>" + page + "</html>");
        write_text(site / "css/style.3f9a1c2b.css", std::string(3000, 'c'));
        write_text(site / "img/logo.png", random_bytes(5000, 1));
        write_text(site / "post/x/index.html", "<html>post x" + page + "</html>");
        fs::create_directories(origin);
        start_origin("0");
    }
    void TearDown() override {
        for (auto& s : syncs) {
            if (s) s->stop(SIGTERM);
        }
        if (http) http->stop(SIGTERM);
    }

    fs::path log(const std::string& name) { return tmp.path() / (name + ".log"); }
    fs::path node(int i) { return tmp.path() / ("node" + std::to_string(i)); }
    std::string url() { return "http://127.0.0.1:" + port + "/"; }

    // Serves `origin` over HTTP; port "0" picks a free one, read back from the server's banner.
    void start_origin(const std::string& want_port) {
        std::error_code ec;
        fs::remove(log("http"), ec);
        http = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/python3", "-u", "-m", "http.server", "--bind",
                                     "127.0.0.1", want_port, "--directory", origin.string()},
            log("http"));
        std::smatch m;
        std::regex re("port ([0-9]+)");
        ASSERT_TRUE(eventually([&] {
            std::string out = http->output();
            if (!std::regex_search(out, m, re)) return false;
            port = m[1];
            return true;
        })) << http->output();
    }

    void start_sync(int i, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv = {CDN_SYNC_BIN,
                                         "--origin",
                                         url(),
                                         "--state",
                                         node(i).string(),
                                         "--pubkey",
                                         (keys / "public.pem").string(),
                                         "--interval-ms",
                                         "100",
                                         "--max-backoff-ms",
                                         "300"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        if (syncs.size() <= static_cast<size_t>(i)) syncs.resize(i + 1);
        syncs[i] = std::make_unique<Process>(argv, log("sync" + std::to_string(i)));
        ASSERT_GT(syncs[i]->pid(), 0);
    }
    std::string sync_log(int i) { return syncs[i]->output(); }

    std::string publish(int expect_code = 0, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv = {CDNCTL_BIN,
                                         "publish",
                                         site.string(),
                                         "--origin",
                                         origin.string(),
                                         "--key",
                                         (keys / "private.pem").string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        std::string out;
        EXPECT_EQ(run_command(argv, log("publish"), &out), expect_code) << out;
        return out;
    }

    uint64_t live(int i) {
        auto pub = *VerifyKey::load(keys / "public.pem");
        auto g = load_live_generation(node(i), &pub);
        return g ? g->current.generation : 0;
    }
    nlohmann::json status(int i) {
        auto text = read_file(node(i) / "sync-status.json");
        if (!text) return nlohmann::json::object();
        auto j = nlohmann::json::parse(*text, nullptr, false);
        return j.is_discarded() ? nlohmann::json::object() : j;
    }
    bool status_error_contains(int i, const std::string& needle) {
        auto j = status(i);
        return j.value("state", "") == "error" &&
               j.value("last_error", "").find(needle) != std::string::npos;
    }
    // Every file of the node's live generation equals the origin's blob and the site file.
    void expect_node_serves_site(int i) {
        auto g = load_live_generation(node(i));
        ASSERT_TRUE(g.ok()) << g.error();
        ASSERT_TRUE(check_blobs(node(i), g->manifest).ok());
        for (const auto& [path, f] : g->manifest.files) {
            EXPECT_EQ(*read_file(blob_path(node(i), f.sha256)), *read_file(site / path)) << path;
            for (const auto& [enc, sha] : f.encodings) {
                EXPECT_EQ(*read_file(blob_path(node(i), sha)), *read_file(blob_path(origin, sha)));
            }
        }
    }
    size_t blob_count(const fs::path& root) {
        size_t n = 0;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(root / "objects", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_regular_file()) ++n;
        }
        return n;
    }
};

TEST_F(SyncTest, ThreeNodesConvergeOneChangeMovesOneBlobAndRollback) {
    std::string out = publish();
    EXPECT_NE(out.find("published generation 1"), std::string::npos) << out;
    for (int i = 0; i < 3; ++i) start_sync(i);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(eventually([&] { return live(i) == 1; })) << sync_log(i);
        expect_node_serves_site(i);
    }
    EXPECT_EQ(*read_file(node(0) / "current"), *read_file(node(2) / "current"));

    out = publish();
    EXPECT_NE(out.find("uploaded 0 blobs"), std::string::npos) << out;
    std::string edited;
    for (int i = 0; i < 100; ++i) edited += "<li>edited item " + std::to_string(i) + "</li>\n";
    write_text(site / "post/x/index.html", "<html>" + edited + "</html>");
    out = publish();
    // The edited page and its br and gzip variants.
    EXPECT_NE(out.find("generation 3"), std::string::npos) << out;
    EXPECT_NE(out.find("uploaded 3 blobs"), std::string::npos) << out;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(eventually([&] { return live(i) == 3; })) << sync_log(i);
        expect_node_serves_site(i);
        EXPECT_NE(sync_log(i).find("staged 3 (3 blobs fetched"), std::string::npos) << sync_log(i);
    }

    std::string rb;
    ASSERT_EQ(run_command({CDNCTL_BIN, "rollback", "--origin", origin.string(), "--key",
                           (keys / "private.pem").string()},
                          log("rollback"), &rb),
              0)
        << rb;
    auto g2 = load_generation(origin, 2);
    ASSERT_TRUE(g2.ok());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(eventually([&] { return live(i) == 4; })) << sync_log(i);
        EXPECT_EQ(load_live_generation(node(i))->manifest.files, g2->manifest.files);
        EXPECT_TRUE(eventually([&] { return status(i).value("state", "") == "ok"; }))
            << status(i).dump() << "\n"
            << sync_log(i);
    }
}

TEST_F(SyncTest, CorruptedBlobAtOriginNeverGoesLive) {
    publish();
    start_sync(0);
    ASSERT_TRUE(eventually([&] { return live(0) == 1; })) << sync_log(0);
    syncs[0]->stop(SIGTERM);

    write_text(site / "img/logo.png", random_bytes(5000, 2));
    publish();
    std::string good = random_bytes(5000, 2);
    fs::path blob = blob_path(origin, sha256_hex(good));
    write_text(blob, random_bytes(5000, 3));  // same size, wrong bytes

    start_sync(0);
    ASSERT_TRUE(eventually([&] { return status_error_contains(0, "does not match its hash"); }))
        << sync_log(0);
    EXPECT_EQ(live(0), 1u);
    EXPECT_FALSE(fs::exists(blob_path(node(0), sha256_hex(good))));
    EXPECT_FALSE(fs::exists(manifest_path(node(0), 2)));

    write_text(blob, good);  // the origin is repaired
    ASSERT_TRUE(eventually([&] { return live(0) == 2; })) << sync_log(0);
    expect_node_serves_site(0);
    EXPECT_TRUE(eventually([&] { return status(0).value("state", "") == "ok"; }));
}

TEST_F(SyncTest, ManifestSignedByAnotherKeyIsRefused) {
    publish();
    start_sync(0);
    ASSERT_TRUE(eventually([&] { return live(0) == 1; })) << sync_log(0);
    std::string cur = *read_file(origin / "current"), cur_sig = *read_file(origin / "current.sig");

    // An attacker with write access to the origin but not the key publishes generation 2.
    auto evil = *SigningKey::generate();
    Manifest m = *parse_manifest(*read_file(manifest_path(origin, 1)));
    m.generation = 2;
    m.parent = 1;
    std::string mb = serialize_manifest(m);
    ASSERT_TRUE(atomic_write_file(manifest_path(origin, 2), mb).ok());
    ASSERT_TRUE(atomic_write_file(manifest_sig_path(origin, 2), *evil.sign(mb)).ok());
    std::string pb = serialize_current(CurrentPointer{2, sha256_hex(mb), 1, 4102444800});
    ASSERT_TRUE(atomic_write_file(origin / "current.sig", *evil.sign(pb)).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", pb).ok());

    ASSERT_TRUE(eventually([&] { return status_error_contains(0, "signature"); })) << sync_log(0);
    EXPECT_EQ(live(0), 1u);
    EXPECT_NE(sync_log(0).find("signed by another key"), std::string::npos) << sync_log(0);

    // Only the manifest is forged (pointer signed correctly): the manifest check catches it.
    auto good = *SigningKey::load(keys / "private.pem");
    ASSERT_TRUE(atomic_write_file(origin / "current.sig", *good.sign(pb)).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", pb).ok());
    ASSERT_TRUE(eventually([&] { return status_error_contains(0, "2.json fails signature"); }))
        << sync_log(0);
    EXPECT_EQ(live(0), 1u);

    ASSERT_TRUE(atomic_write_file(origin / "current.sig", cur_sig).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", cur).ok());
    EXPECT_TRUE(eventually([&] { return status(0).value("state", "") == "ok"; })) << sync_log(0);
    EXPECT_EQ(live(0), 1u);
}

TEST_F(SyncTest, OlderGenerationReplayedIsRefused) {
    publish();
    std::string old_cur = *read_file(origin / "current");
    std::string old_sig = *read_file(origin / "current.sig");
    write_text(site / "index.html", "<html>v2</html>");
    publish();
    start_sync(0);
    ASSERT_TRUE(eventually([&] { return live(0) == 2; })) << sync_log(0);

    ASSERT_TRUE(atomic_write_file(origin / "current.sig", old_sig).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", old_cur).ok());
    ASSERT_TRUE(eventually([&] { return status_error_contains(0, "lower than live 2"); }))
        << sync_log(0);
    EXPECT_EQ(live(0), 2u);
    expect_node_serves_site(0);
}

TEST_F(SyncTest, OriginDownThenUp) {
    publish();
    start_sync(0);
    ASSERT_TRUE(eventually([&] { return live(0) == 1; })) << sync_log(0);
    std::string same_port = port;
    http->stop(SIGTERM);
    ASSERT_TRUE(eventually([&] { return status(0).value("state", "") == "error"; })) << sync_log(0);
    write_text(site / "index.html", "<html>published while the origin was unreachable</html>");
    publish();
    EXPECT_EQ(live(0), 1u);

    start_origin(same_port);
    ASSERT_TRUE(eventually([&] { return live(0) == 2; })) << sync_log(0);
    expect_node_serves_site(0);
    EXPECT_TRUE(eventually([&] { return status(0).value("state", "") == "ok"; }));
}

TEST_F(SyncTest, KillDashNineMidDownloadThenRestartResumes) {
    for (int i = 0; i < 60; ++i) {
        write_text(site / ("img/photo" + std::to_string(i) + ".jpg"), random_bytes(20000, 100 + i));
    }
    publish();
    // Throttled to one blob per 50 ms so that the kill lands in the middle of the download.
    start_sync(0, {"--parallel", "1", "--throttle-ms", "50"});
    ASSERT_TRUE(eventually([&] { return blob_count(node(0)) >= 5; })) << sync_log(0);
    syncs[0]->stop(SIGKILL);
    size_t before = blob_count(node(0));
    ASSERT_LT(before, 60u) << "the download finished before the kill";
    EXPECT_FALSE(fs::exists(node(0) / "current"));
    EXPECT_FALSE(fs::exists(manifest_path(node(0), 1)));

    start_sync(0);
    ASSERT_TRUE(eventually([&] { return live(0) == 1; })) << sync_log(0);
    expect_node_serves_site(0);
    std::smatch m;
    std::string text = sync_log(0);
    ASSERT_TRUE(std::regex_search(text, m, std::regex("already here")));
    std::regex re("staged 1 \\(([0-9]+) blobs fetched, [0-9]+ bytes; ([0-9]+) already here");
    ASSERT_TRUE(std::regex_search(text, m, re)) << text;
    EXPECT_GE(std::stoul(m[2]), before - 1) << text;  // at most one write was in flight
    syncs[0]->stop(SIGTERM);  // no write in flight while looking for leftovers
    for (auto& e : fs::recursive_directory_iterator(node(0))) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
}

TEST_F(SyncTest, NodeThatSkippedAGenerationFetchesTheParentForSkewProtection) {
    publish();
    write_text(site / "css/style.0a1b2c3d.css", std::string(3000, 'n'));
    fs::remove(site / "css/style.3f9a1c2b.css");
    publish();
    start_sync(0);  // joins at generation 2, never saw 1
    ASSERT_TRUE(eventually([&] { return live(0) == 2; })) << sync_log(0);
    ASSERT_TRUE(eventually([&] { return fs::exists(manifest_path(node(0), 1)); })) << sync_log(0);
    auto prev = load_previous_generation(node(0), load_live_generation(node(0))->manifest);
    ASSERT_TRUE(prev.ok()) << prev.error();
    EXPECT_TRUE(eventually([&] { return check_blobs(node(0), prev->manifest).ok(); }));
    EXPECT_EQ(prev->manifest.files.count("css/style.3f9a1c2b.css"), 1u);
}

TEST_F(SyncTest, KeepsLastGenerationsAndCollectsGarbage) {
    start_sync(0, {"--keep", "2"});
    for (int v = 1; v <= 4; ++v) {
        write_text(site / "index.html", "<html>version " + std::to_string(v) + "</html>");
        publish();
        ASSERT_TRUE(eventually([&] { return live(0) == static_cast<uint64_t>(v); })) << sync_log(0);
    }
    ASSERT_TRUE(eventually([&] { return list_generations(node(0)).size() == 2; })) << sync_log(0);
    EXPECT_EQ(list_generations(node(0)), (std::vector<uint64_t>{3, 4}));
    std::set<std::string> wanted;
    for (uint64_t g : {3, 4}) {
        for (auto& s : referenced_blobs(load_generation(node(0), g)->manifest)) wanted.insert(s);
    }
    EXPECT_TRUE(eventually([&] { return blob_count(node(0)) == wanted.size(); }))
        << blob_count(node(0)) << " blobs, want " << wanted.size() << "\n"
        << sync_log(0);
    // The live generation's parent survives for skew protection.
    EXPECT_TRUE(load_previous_generation(node(0), load_live_generation(node(0))->manifest).ok());
}

// Starts a python helper that prints "port N"; returns N.
std::string start_helper(Process& p, const std::vector<std::string>& argv, const fs::path& log) {
    p.start(argv, log);
    std::smatch m;
    std::string port;
    eventually([&] {
        std::string text = p.output();
        if (!std::regex_search(text, m, std::regex("port ([0-9]+)"))) return false;
        port = m[1];
        return true;
    });
    return port;
}

TEST_F(SyncTest, EdgeReloadAndPublishWait) {
    std::vector<std::unique_ptr<Process>> admins;
    std::string nodes;
    for (int i = 0; i < 2; ++i) {
        admins.push_back(std::make_unique<Process>());
        std::string p = start_helper(*admins[i],
                                     {"/usr/bin/python3", "-u", FAKE_ADMIN_PY, node(i).string(),
                                      "edge-" + std::to_string(i)},
                                     log("admin" + std::to_string(i)));
        ASSERT_FALSE(p.empty()) << admins[i]->output();
        std::string admin = "http://127.0.0.1:" + p;
        nodes += (nodes.empty() ? "" : ",") + admin;
        start_sync(i, {"--edge-admin", admin});
    }
    std::string out = publish(0, {"--wait", "--nodes", nodes, "--wait-timeout", "20"});
    EXPECT_NE(out.find("all 2 nodes live on generation 1"), std::string::npos) << out;
    for (int i = 0; i < 2; ++i) EXPECT_NE(sync_log(i).find("edge reloaded"), std::string::npos);

    ASSERT_EQ(run_command({CDNCTL_BIN, "status", "--nodes", nodes}, log("status"), &out), 0) << out;
    EXPECT_NE(out.find("edge-0"), std::string::npos) << out;
    EXPECT_NE(out.find("edge-1"), std::string::npos) << out;

    // A node whose cdn-sync is stopped never reaches the new generation: --wait names it.
    syncs[1]->stop(SIGTERM);
    write_text(site / "index.html", "<html>v2</html>");
    out = publish(1, {"--wait", "--nodes", nodes, "--wait-timeout", "2"});
    std::string laggard = nodes.substr(nodes.find(',') + 1);
    EXPECT_NE(out.find("not every node reached generation 2"), std::string::npos) << out;
    EXPECT_NE(out.find(laggard), std::string::npos) << out;
    for (auto& a : admins) a->stop(SIGTERM);
}

TEST_F(SyncTest, HttpsOriginIsVerified) {
    publish();
    fs::path cert = tmp.path() / "cert.pem", key = tmp.path() / "key.pem";
    std::string out;
    ASSERT_EQ(run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                           "/CN=anyedge-test-origin", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", key.string(), "-out", cert.string()},
                          log("openssl"), &out),
              0)
        << out;
    Process tls(
        {"/usr/bin/python3", "-u", TLS_ORIGIN_PY, origin.string(), cert.string(), key.string()},
        log("tls"));
    std::smatch m;
    std::string tls_port;
    ASSERT_TRUE(eventually([&] {
        std::string text = tls.output();
        if (!std::regex_search(text, m, std::regex("port ([0-9]+)"))) return false;
        tls_port = m[1];
        return true;
    })) << tls.output();
    std::string https = "https://127.0.0.1:" + tls_port + "/";
    auto sync_argv = [&](int i) {
        return std::vector<std::string>{CDN_SYNC_BIN,
                                        "--origin",
                                        https,
                                        "--state",
                                        node(i).string(),
                                        "--pubkey",
                                        (keys / "public.pem").string(),
                                        "--once"};
    };
    // Not trusted by the system store: refused, nothing staged.
    EXPECT_NE(run_command(sync_argv(0), log("tls0"), &out), 0) << out;
    EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
    EXPECT_EQ(live(0), 0u);
    // Trusted CA but the certificate names 127.0.0.1 only, not "localhost": refused.
    auto wrong_name = sync_argv(2);
    wrong_name[2] = "https://localhost:" + tls_port + "/";
    wrong_name.insert(wrong_name.end(), {"--ca", cert.string()});
    EXPECT_NE(run_command(wrong_name, log("tls2"), &out), 0) << out;
    EXPECT_EQ(live(2), 0u);
    // Trusted with --ca: synced over TLS.
    auto argv = sync_argv(1);
    argv.insert(argv.end(), {"--ca", cert.string()});
    ASSERT_EQ(run_command(argv, log("tls1"), &out), 0) << out;
    EXPECT_EQ(live(1), 1u);
    expect_node_serves_site(1);
    tls.stop(SIGTERM);
}

}  // namespace
}  // namespace anyedge
