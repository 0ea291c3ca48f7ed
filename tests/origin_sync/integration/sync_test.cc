// End-to-end content plane on loopback with real processes only: cdnctl publishes into an
// origin directory served by `cdn-edge --site`, and three nodes (cdn-edge --state + cdn-sync
// each) follow it. Every bad case leaves every node serving its previous generation and makes
// the error visible in cdn-sync's log, sync-status.json, the edge's /status and `cdnctl status`.
// Every wait is bounded; every process is stopped by its PID.
#include "tests/origin_sync/integration/fleet_fixture.h"

namespace anyedge {
namespace {

using namespace testing_util;

class SyncTest : public FleetTest {};

TEST_F(SyncTest, BundledSitePublishWaitConvergesEditRollback) {
    start_nodes(3);
    copy_bundled_site();
    std::string out = publish_wait();
    EXPECT_NE(out.find("published generation 2"), std::string::npos) << out;
    EXPECT_NE(out.find("hashed 25/25 files"), std::string::npos) << out;  // progress, not a tty
    EXPECT_NE(out.find("waiting: "), std::string::npos) << out;
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(out, m, std::regex("all 3 nodes live on generation 2 ([0-9.]+)s")))
        << out;
    std::printf("publish --wait (bundled site, 3 nodes): fleet live %ss after current moved\n",
                m[1].str().c_str());
    expect_fleet_serves(2, site);

    out = publish_wait();  // unchanged content: a new generation, no blob moves
    EXPECT_NE(out.find("published generation 3"), std::string::npos) << out;
    EXPECT_NE(out.find("uploaded 0 blobs"), std::string::npos) << out;
    for (auto& n : nodes) {
        EXPECT_NE(n->sync_log().find("staged 3 (0 blobs fetched"), std::string::npos)
            << n->sync_log();
    }

    const std::string post = "post/anycast-basics/index.html";
    std::string original = *read_file(site / post);
    write_text(site / post, original + "<!-- edited -->\n" + std::string(2000, ' ') + "<p>x</p>");
    out = publish_wait();
    // The edited page and its br, zstd and gzip variants: nothing else moves, to the origin or
    // nodes.
    EXPECT_NE(out.find("published generation 4"), std::string::npos) << out;
    EXPECT_NE(out.find("uploaded 4 blobs"), std::string::npos) << out;
    for (auto& n : nodes) {
        EXPECT_NE(n->sync_log().find("staged 4 (4 blobs fetched"), std::string::npos)
            << n->sync_log();
    }
    expect_fleet_serves(4, site);

    ASSERT_EQ(run_command({CDNCTL_BIN, "rollback", "--origin", origin.string(), "--key",
                           (keys / "private.pem").string(), "--wait", "--nodes", admin_urls()},
                          log("rollback"), &out),
              0)
        << out;
    EXPECT_NE(out.find("all 3 nodes live on generation 5"), std::string::npos) << out;
    write_text(site / post, original);
    expect_fleet_serves(5, site);  // generation 3's files again, under a higher number
    expect_recovered_everywhere();
}

TEST_F(SyncTest, PublishWaitNamesTheNodeThatDidNotFollow) {
    start_nodes(3);
    write_text(site / "index.html", "<html>v2</html>");
    nodes[1]->stop_sync();
    std::string out = publish_wait(1, 2);
    EXPECT_NE(out.find("not every node reached generation 2"), std::string::npos) << out;
    EXPECT_NE(out.find(nodes[1]->admin_url()), std::string::npos) << out;
    EXPECT_EQ(out.find(nodes[0]->admin_url() + ","), std::string::npos) << out;
    EXPECT_EQ(nodes[1]->serving(), 1u);
    nodes[1]->start_sync();
    ASSERT_TRUE(eventually([&] { return all_serving(2); })) << nodes[1]->sync_log();
    expect_fleet_serves(2, site);
}

TEST_F(SyncTest, CorruptedBlobAtOriginNeverGoesLive) {
    start_nodes(3);
    std::string good = random_bytes(5000, 2);
    write_text(site / "index.html", "<html>v2</html>");
    write_text(site / "img/logo.png", good);
    // The syncs pause while the blob is corrupted, so that none fetches the good one first.
    for (auto& n : nodes) n->stop_sync();
    publish();
    fs::path blob = blob_path(origin, sha256_hex(good));
    ASSERT_TRUE(fs::exists(blob));
    write_text(blob, random_bytes(5000, 3));  // same size, wrong bytes
    ASSERT_TRUE(origin_server->wait_reloaded());
    for (auto& n : nodes) n->start_sync();

    expect_error_visible_everywhere("does not match its hash");
    expect_fleet_still_on(1);
    for (auto& n : nodes) {
        EXPECT_FALSE(fs::exists(blob_path(n->state(), sha256_hex(good))));
        EXPECT_FALSE(fs::exists(manifest_path(n->state(), 2)));
    }

    write_text(blob, good);  // the origin is repaired
    ASSERT_TRUE(eventually([&] { return all_serving(2); }));
    expect_fleet_serves(2, site);
    expect_recovered_everywhere();
}

TEST_F(SyncTest, ManifestSignedByAnotherKeyIsRefused) {
    start_nodes(3);
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

    expect_error_visible_everywhere("signed by another key");
    expect_fleet_still_on(1);

    // Only the manifest is forged (pointer signed correctly): the manifest check catches it.
    auto good = *SigningKey::load(keys / "private.pem");
    ASSERT_TRUE(atomic_write_file(origin / "current.sig", *good.sign(pb)).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", pb).ok());
    expect_error_visible_everywhere("2.json fails signature");
    expect_fleet_still_on(1);

    ASSERT_TRUE(atomic_write_file(origin / "current.sig", cur_sig).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", cur).ok());
    expect_recovered_everywhere();
    expect_fleet_still_on(1);
}

TEST_F(SyncTest, OlderGenerationReplayedIsRefused) {
    start_nodes(3);
    std::string old_cur = *read_file(origin / "current");
    std::string old_sig = *read_file(origin / "current.sig");
    write_text(site / "index.html", "<html>v2</html>");
    publish_wait();
    ASSERT_TRUE(all_serving(2));

    ASSERT_TRUE(atomic_write_file(origin / "current.sig", old_sig).ok());
    ASSERT_TRUE(atomic_write_file(origin / "current", old_cur).ok());
    expect_error_visible_everywhere("lower than live 2");
    expect_fleet_still_on(2);
    expect_fleet_serves(2, site);

    write_text(site / "index.html", "<html>v3</html>");  // the next real publish recovers
    publish_wait();
    expect_fleet_serves(3, site);
    expect_recovered_everywhere();
}

TEST_F(SyncTest, OriginDownThenUp) {
    start_nodes(3);
    uint16_t same_port = origin_server->port();
    origin_server->stop();
    expect_error_visible_everywhere("current");  // "GET current: Connection refused" or so
    std::printf("origin down, sync error: %s\n",
                nodes[0]->sync_status().value("last_error", "").c_str());
    write_text(site / "index.html", "<html>published while the origin was unreachable</html>");
    publish();
    expect_fleet_still_on(1);

    start_origin(same_port);
    ASSERT_TRUE(eventually([&] { return all_serving(2); }));
    expect_fleet_serves(2, site);
    expect_recovered_everywhere();
}

TEST_F(SyncTest, KillDashNineMidDownloadThenRestartResumes) {
    start_nodes(3);
    for (int i = 0; i < 40; ++i) {
        write_text(site / ("img/photo" + std::to_string(i) + ".jpg"), random_bytes(20000, 100 + i));
    }
    // Node 0 downloads throttled to one blob per 50 ms so that the kill lands mid-download.
    Node& n0 = *nodes[0];
    n0.stop_sync();
    auto blobs_on_disk = [&] {
        size_t n = 0;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(n0.state() / "objects", ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            n += it->is_regular_file();
        }
        return n;
    };
    size_t at_start = blobs_on_disk();
    publish();
    n0.start_sync({"--parallel", "1", "--throttle-ms", "50"});
    ASSERT_TRUE(eventually([&] { return blobs_on_disk() >= at_start + 5; })) << n0.sync_log();
    n0.stop_sync(SIGKILL);
    size_t before = blobs_on_disk() - at_start;
    ASSERT_LT(before, 40u) << "the download finished before the kill";
    EXPECT_FALSE(fs::exists(manifest_path(n0.state(), 2)));
    EXPECT_EQ(n0.serving(), 1u);  // the edge never saw a partial generation
    Response r = http_once(n0.http_port(), "GET", "/index.html");
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "<html>booting</html>");
    EXPECT_EQ(http_once(n0.http_port(), "GET", "/img/photo0.jpg").status, 404);

    n0.start_sync();
    ASSERT_TRUE(eventually([&] { return all_serving(2); })) << n0.sync_log();
    expect_fleet_serves(2, site);
    std::smatch m;
    std::string text = n0.sync_log();
    std::regex re("staged 2 \\(([0-9]+) blobs fetched, [0-9]+ bytes; ([0-9]+) already here");
    std::string after_restart = text.substr(text.rfind("following"));
    ASSERT_TRUE(std::regex_search(after_restart, m, re)) << text;
    std::printf("kill -9 after %zu of 40 blobs; after restart: %s fetched, %s already here\n",
                before, m[1].str().c_str(), m[2].str().c_str());
    EXPECT_GE(std::stoul(m[2]), before - 1) << text;  // at most one write was in flight
    EXPECT_LE(std::stoul(m[1]), 40 - before + 1) << text;
    n0.stop_sync();  // no write in flight while looking for leftovers
    for (auto& e : fs::recursive_directory_iterator(n0.state())) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
}

// cdn-sync alone (no edge): a node that joins late fetches the live generation's parent so
// that its edge can serve the previous generation's assets during the skew grace.
TEST_F(SyncTest, NodeThatSkippedAGenerationFetchesTheParentForSkewProtection) {
    write_text(site / "index.html", "<link href=/css/style.0a1b2c3d.css>");
    write_text(site / "css/style.0a1b2c3d.css", std::string(3000, 'n'));
    publish();
    fs::path late = tmp.path() / "late";
    Process sync({CDN_SYNC_BIN, "--origin", origin_url(), "--state", late.string(), "--pubkey",
                  (keys / "public.pem").string(), "--interval-ms", "100"},
                 log("late"));
    ASSERT_TRUE(eventually([&] {
        auto g = load_live_generation(late);
        return g.ok() && g->current.generation == 2 && fs::exists(manifest_path(late, 1));
    })) << sync.output();
    auto live = load_live_generation(late);
    ASSERT_TRUE(live.ok()) << live.error();
    auto prev = load_previous_generation(late, live->manifest);
    ASSERT_TRUE(prev.ok()) << prev.error();
    EXPECT_TRUE(eventually([&] { return check_blobs(late, prev->manifest).ok(); }));
}

TEST_F(SyncTest, KeepsLastGenerationsAndCollectsGarbage) {
    fs::path node = tmp.path() / "gc";
    Process sync({CDN_SYNC_BIN, "--origin", origin_url(), "--state", node.string(), "--pubkey",
                  (keys / "public.pem").string(), "--interval-ms", "100", "--keep", "2"},
                 log("gc"));
    auto live = [&] {
        auto g = load_live_generation(node);
        return g ? g->current.generation : 0;
    };
    for (uint64_t v = 2; v <= 5; ++v) {
        write_text(site / "index.html", "<html>version " + std::to_string(v) + "</html>");
        publish();
        ASSERT_TRUE(eventually([&] { return live() == v; })) << sync.output();
    }
    ASSERT_TRUE(eventually([&] { return list_generations(node).size() == 2; })) << sync.output();
    EXPECT_EQ(list_generations(node), (std::vector<uint64_t>{4, 5}));
    std::set<std::string> wanted;
    for (uint64_t g : {4, 5}) {
        for (auto& s : referenced_blobs(load_generation(node, g)->manifest)) wanted.insert(s);
    }
    auto blob_count = [&] {
        size_t n = 0;
        for (auto& e : fs::recursive_directory_iterator(node / "objects")) n += e.is_regular_file();
        return n;
    };
    EXPECT_TRUE(eventually([&] { return blob_count() == wanted.size(); }))
        << blob_count() << " blobs, want " << wanted.size() << "\n"
        << sync.output();
    // The live generation's parent survives for skew protection.
    EXPECT_TRUE(load_previous_generation(node, load_live_generation(node)->manifest).ok());
}

// The origin over HTTPS is cdn-edge itself with a certificate made for 127.0.0.1.
TEST_F(SyncTest, HttpsOriginIsVerified) {
    fs::path cert = tmp.path() / "cert.pem", key = tmp.path() / "key.pem";
    std::string out;
    ASSERT_EQ(run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                           "/CN=anyedge-test-origin", "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", key.string(), "-out", cert.string()},
                          log("openssl"), &out),
              0)
        << out;
    origin_server->stop();
    start_origin(0,
                 {"--tls-listen", "127.0.0.1:0", "--cert", cert.string(), "--key", key.string()});
    ASSERT_NE(origin_server->tls_port(), 0) << origin_server->log();
    std::string https = "https://127.0.0.1:" + std::to_string(origin_server->tls_port()) + "/";
    auto sync_argv = [&](const std::string& name, const std::string& url) {
        return std::vector<std::string>{CDN_SYNC_BIN,
                                        "--origin",
                                        url,
                                        "--state",
                                        (tmp.path() / name).string(),
                                        "--pubkey",
                                        (keys / "public.pem").string(),
                                        "--once"};
    };
    auto live = [&](const std::string& name) {
        auto g = load_live_generation(tmp.path() / name);
        return g ? g->current.generation : 0;
    };
    // Not trusted by the system store: refused, nothing staged.
    EXPECT_NE(run_command(sync_argv("tls0", https), log("tls0"), &out), 0) << out;
    EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
    EXPECT_EQ(live("tls0"), 0u);
    // Trusted CA but the certificate names 127.0.0.1 only, not "localhost": refused.
    auto wrong_name =
        sync_argv("tls2", "https://localhost:" + std::to_string(origin_server->tls_port()) + "/");
    wrong_name.insert(wrong_name.end(), {"--ca", cert.string()});
    EXPECT_NE(run_command(wrong_name, log("tls2"), &out), 0) << out;
    EXPECT_EQ(live("tls2"), 0u);
    // Trusted with --ca: synced over TLS.
    auto argv = sync_argv("tls1", https);
    argv.insert(argv.end(), {"--ca", cert.string()});
    ASSERT_EQ(run_command(argv, log("tls1"), &out), 0) << out;
    EXPECT_EQ(live("tls1"), 1u);
    EXPECT_TRUE(
        check_blobs(tmp.path() / "tls1", load_live_generation(tmp.path() / "tls1")->manifest).ok());
}

}  // namespace
}  // namespace anyedge
