// `cdnctl drain` and `cdnctl undrain` against a real cdn-edge under a keep-alive load: the
// load's connections get `Connection: close`, reconnect, and see no failed request while the
// node keeps serving; drained is reached only once the load stops (new connections keep
// arriving until then, and cdnctl says so when its timeout passes).
#include <atomic>
#include <thread>

#include "tests/origin_sync/integration/fleet_fixture.h"

namespace anyedge {
namespace {

using namespace testing_util;

struct Load {
    std::atomic<uint64_t> requests{0}, failures{0}, closes{0}, connections{0};
    std::string first_failure;
};

void keep_alive_loop(uint16_t port, const std::atomic<bool>& stop, Load& l) {
    KeepAliveClient c(port);
    const char* paths[] = {"/", "/assets/style.css", "/img/logo.png"};
    for (int i = 0; i < 1000000 && !stop.load(); ++i) {
        Response r = c.get(paths[i % 3]);
        ++l.requests;
        if (!r.ok || r.status >= 400) {
            if (l.failures++ == 0) {
                l.first_failure =
                    std::string(paths[i % 3]) + ": " + (r.ok ? std::to_string(r.status) : r.error);
            }
        }
        l.closes = c.server_closes;
        l.connections = c.connections;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

class DrainTest : public FleetTest {
  protected:
    int cdnctl(const std::vector<std::string>& args, std::string* out) {
        std::vector<std::string> argv = {CDNCTL_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, log("cdnctl"), out);
    }
};

TEST_F(DrainTest, DrainUnderKeepAliveLoadThenUndrain) {
    write_text(site / "index.html", "<html><link href=/assets/style.css></html>");
    write_text(site / "assets/style.css", std::string(4000, 'c'));
    write_text(site / "img/logo.png", random_bytes(30000, 5));
    std::string out;
    ASSERT_EQ(publish_dir(site, &out), 0) << out;
    start_nodes(1);
    Node& node = *nodes[0];
    ASSERT_TRUE(eventually([&] { return node.serving() == 2; })) << node.sync_log();
    const std::string admin = node.admin_url(), token = node.token_file().string();

    Load load;
    std::atomic<bool> stop{false};
    std::thread client([&] { keep_alive_loop(node.http_port(), stop, load); });
    ASSERT_TRUE(eventually([&] { return load.requests.load() >= 20; }));
    EXPECT_EQ(load.connections.load(), 1u);  // keep-alive before the drain

    // Without the token the edge refuses, and cdnctl says why.
    EXPECT_NE(cdnctl({"drain", "--node", admin, "--timeout", "1"}, &out), 0);
    EXPECT_NE(out.find("401"), std::string::npos) << out;
    EXPECT_EQ(node.status()["drain"].value("state", ""), "serving");

    // Under load: connections are closed after each response and come back, so the node never
    // goes quiet and cdnctl gives up at its timeout naming the reason.
    uint64_t before = load.requests.load();
    EXPECT_EQ(cdnctl({"drain", "--node", admin, "--token-file", token, "--timeout", "2"}, &out), 1)
        << out;
    EXPECT_NE(out.find("not drained after 2s"), std::string::npos) << out;
    EXPECT_NE(out.find("new connections still arriving"), std::string::npos) << out;
    EXPECT_NE(out.find("draining, in_flight"), std::string::npos) << out;  // progress lines
    EXPECT_GT(load.closes.load(), 10u);
    EXPECT_GT(load.requests.load(), before + 100);  // the node kept serving
    EXPECT_EQ(load.failures.load(), 0u) << load.first_failure;
    Response r = http_once(node.http_port(), "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Connection"), "close");

    stop = true;
    client.join();
    std::printf(
        "drain under load: %llu requests over %llu connections, %llu closed by the "
        "edge with Connection: close, %llu failed\n",
        static_cast<unsigned long long>(load.requests.load()),
        static_cast<unsigned long long>(load.connections.load()),
        static_cast<unsigned long long>(load.closes.load()),
        static_cast<unsigned long long>(load.failures.load()));
    EXPECT_EQ(load.failures.load(), 0u) << load.first_failure;

    // The load has stopped: drained after the edge's quiet period.
    ASSERT_EQ(cdnctl({"drain", "--node", admin, "--token-file", token, "--timeout", "15"}, &out), 0)
        << out;
    EXPECT_NE(out.find("drained after"), std::string::npos) << out;
    std::smatch m;
    if (std::regex_search(out, m, std::regex("drained after ([0-9.]+)s"))) {
        std::printf("drained %ss after the load stopped (edge quiet period: 2 s)\n",
                    m[1].str().c_str());
    }
    int code = 0;
    std::string table = cdnctl_status(&code);
    EXPECT_NE(table.find("drained"), std::string::npos) << table;

    ASSERT_EQ(cdnctl({"undrain", "--node", admin, "--token-file", token}, &out), 0) << out;
    EXPECT_NE(out.find("serving"), std::string::npos) << out;
    EXPECT_EQ(node.status()["drain"].value("state", ""), "serving");
    KeepAliveClient c(node.http_port());
    for (int i = 0; i < 3; ++i) {
        Response k = c.get("/");
        EXPECT_EQ(k.status, 200);
        EXPECT_NE(k.header("Connection"), "close");
    }
    EXPECT_EQ(c.connections, 1u);
}

}  // namespace
}  // namespace anyedge
