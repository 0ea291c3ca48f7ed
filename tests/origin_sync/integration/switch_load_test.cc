// Generation switches under load: a client loops keep-alive page loads (a page, then every
// asset it references) on a real node while ten generations are published, each changing the
// page and the fingerprinted assets it references. No request may fail and no page load may
// mix generations; the previous generation's assets stay servable during the skew grace.
// Figures (requests, connections, switch times) are printed, never asserted.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "tests/origin_sync/integration/fleet_fixture.h"

namespace anyedge {
namespace {

using namespace testing_util;
using Clock = std::chrono::steady_clock;

struct Version {
    int v = 0;
    std::string css_path, js_path;  // URL paths
};

// Writes version `v` of a small site into `dir`: a page whose fingerprinted stylesheet and
// script carry the same marker. The previous version's fingerprinted files are removed, so
// only the previous generation (the skew grace) still has them.
Version write_version(const fs::path& dir, int v) {
    std::error_code ec;
    fs::remove_all(dir / "assets", ec);
    std::string marker = "/* v" + std::to_string(v) + " */\n";
    std::string css = marker + "body { color: #" + std::to_string(100 + v) + "; }\n" +
                      std::string(1500, ' ') + "\n";
    std::string js = marker + "console.log('v" + std::to_string(v) + "');\n" +
                     std::string(20000, '/') + "\n";  // big enough to leave the small-file path
    Version out;
    out.v = v;
    out.css_path = "/assets/style." + sha256_hex(css).substr(0, 8) + ".css";
    out.js_path = "/assets/app." + sha256_hex(js).substr(0, 8) + ".js";
    write_text(dir / out.css_path.substr(1), css);
    write_text(dir / out.js_path.substr(1), js);
    std::string page = "<!doctype html><html><head><meta name=\"version\" content=\"v" +
                       std::to_string(v) + "\"><link rel=\"stylesheet\" href=\"" + out.css_path +
                       "\"></head><body><img src=\"/img/logo.png\">";
    for (int i = 0; i < 50; ++i) page += "<p>version " + std::to_string(v) + " line</p>\n";
    page += "<script src=\"" + out.js_path + "\"></script></body></html>\n";
    write_text(dir / "index.html", page);
    return out;
}

struct LoadFigures {
    std::atomic<uint64_t> requests{0}, page_loads{0}, failures{0}, mixed{0};
    std::atomic<int> newest_seen{0};
    std::mutex mu;
    std::vector<std::string> failure_samples;
    std::set<int> versions_seen;
    uint64_t connections = 0;
    void fail(const std::string& what) {
        ++failures;
        std::lock_guard<std::mutex> lock(mu);
        if (failure_samples.size() < 10) failure_samples.push_back(what);
    }
};

// One browser-like client: page, then its assets, on one keep-alive connection.
void page_load_loop(uint16_t port, const std::atomic<bool>& stop, LoadFigures& f) {
    KeepAliveClient client(port);
    const std::regex ref("(?:href|src)=\"(/[^\"]+)\"");
    const std::regex version("content=\"v([0-9]+)\"");
    for (int round = 0; round < 1000000 && !stop.load(); ++round) {
        Response page = client.get("/");
        ++f.requests;
        if (!page.ok || page.status >= 400) {
            f.fail("page: " + (page.ok ? std::to_string(page.status) : page.error));
            continue;
        }
        std::smatch m;
        if (!std::regex_search(page.body, m, version)) {
            f.fail("page without a version marker");
            continue;
        }
        int v = std::stoi(m[1]);
        std::string marker = "/* v" + std::to_string(v) + " */";
        for (auto it = std::sregex_iterator(page.body.begin(), page.body.end(), ref);
             it != std::sregex_iterator(); ++it) {
            std::string path = (*it)[1];
            Response r = client.get(path);
            ++f.requests;
            if (!r.ok || r.status >= 400) {
                f.fail(path + " (page v" + std::to_string(v) +
                       "): " + (r.ok ? std::to_string(r.status) : r.error));
                continue;
            }
            if (r.header("ETag") != "\"" + sha256_hex(r.body) + "\"") f.fail(path + ": ETag");
            if (path.rfind("/assets/", 0) == 0 && r.body.compare(0, marker.size(), marker) != 0) {
                ++f.mixed;
                f.fail(path + ": asset of another generation than page v" + std::to_string(v));
            }
        }
        ++f.page_loads;
        int seen = f.newest_seen.load();
        while (v > seen && !f.newest_seen.compare_exchange_weak(seen, v)) {
        }
        {
            std::lock_guard<std::mutex> lock(f.mu);
            f.versions_seen.insert(v);
        }
        // A short think time: a steady load that leaves the shared CPUs to the processes.
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    f.connections = client.connections;
}

class SwitchLoadTest : public FleetTest {};

TEST_F(SwitchLoadTest, TenSwitchesUnderKeepAliveLoadNoFailureNoMixedPage) {
    start_nodes(1);
    Node& node = *nodes[0];
    write_text(site / "img/logo.png", random_bytes(3000, 7));
    Version prev = write_version(site, 2);
    publish_wait();  // generation 2 = version 2
    ASSERT_EQ(node.serving(), 2u);

    LoadFigures f;
    std::atomic<bool> stop{false};
    std::thread load([&] { page_load_loop(node.http_port(), stop, f); });
    ASSERT_TRUE(eventually([&] { return f.page_loads.load() >= 5; }));

    std::vector<std::string> fleet_switch, client_switch;
    Version older = prev;
    for (int v = 3; v <= 12; ++v) {
        older = prev;
        prev = write_version(site, v);
        auto t0 = Clock::now();
        std::string out = publish_wait();
        std::smatch m;
        if (std::regex_search(out, m, std::regex("after current moved"))) {
            std::regex_search(out, m, std::regex("generation [0-9]+ ([0-9.]+)s after"));
            fleet_switch.push_back(m[1]);
        }
        // The client notices the switch on its next page load.
        ASSERT_TRUE(eventually([&] { return f.newest_seen.load() >= v; })) << out;
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.0f",
                      std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        client_switch.push_back(ms);
        EXPECT_EQ(node.serving(), static_cast<uint64_t>(v));
    }
    uint64_t loads_at_end = f.page_loads.load();
    ASSERT_TRUE(eventually([&] { return f.page_loads.load() >= loads_at_end + 3; }));
    stop = true;
    load.join();

    std::string fs_list, cs_list;
    for (auto& s : fleet_switch) fs_list += s + "s ";
    for (auto& s : client_switch) cs_list += s + "ms ";
    std::printf(
        "switch under load: 10 generations, %llu requests in %llu page loads over %llu "
        "connection(s), %llu failed, %llu mixed page loads, %zu versions seen\n"
        "  publish --wait, current moved -> node live: %s\n"
        "  publish start -> client sees the new page: %s\n",
        static_cast<unsigned long long>(f.requests.load()),
        static_cast<unsigned long long>(f.page_loads.load()),
        static_cast<unsigned long long>(f.connections),
        static_cast<unsigned long long>(f.failures.load()),
        static_cast<unsigned long long>(f.mixed.load()), f.versions_seen.size(), fs_list.c_str(),
        cs_list.c_str());
    for (auto& s : f.failure_samples) std::printf("  failure: %s\n", s.c_str());
    EXPECT_EQ(f.failures.load(), 0u);
    EXPECT_EQ(f.mixed.load(), 0u);
    EXPECT_EQ(fleet_switch.size(), 10u);

    // Skew grace: the previous generation's assets (referenced by no live page) still load;
    // the one before that is gone.
    Response old_css = http_once(node.http_port(), "GET", older.css_path);
    EXPECT_EQ(old_css.status, 200) << older.css_path;
    EXPECT_EQ(old_css.body.rfind("/* v11 */", 0), 0u);
    EXPECT_EQ(old_css.header("ETag"), "\"" + sha256_hex(old_css.body) + "\"");
    EXPECT_EQ(http_once(node.http_port(), "GET", older.js_path).status, 200);
    EXPECT_EQ(http_once(node.http_port(), "GET", "/assets/style.00000000.css").status, 404);
}

}  // namespace
}  // namespace anyedge
