// Integration: cdn-hooks against REAL BIRD 2 processes in two network namespaces joined by a
// veth pair. The edge BIRD is configured by `cdn-hooks render-bird`; the upstream BIRD uses the
// rendered upstream snippet; the upstream's own `show route` shows what the edge exports.
// The edge's admin API and canary are played by fake_edge.py on loopback.
//
// Needs root (ip netns). Without it the tests skip loudly, unless ANYEDGE_REQUIRE_NETNS=1.
// Everything started is stopped by PID; the namespaces are deleted even when a test fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bgp-hooks/bird/client.h"
#include "tests/bgp_hooks/process_util.h"
#include "bgp-hooks/policy/route_state.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/manifest.h"

namespace {

using namespace anyedge::test;
using namespace std::chrono_literals;
using anyedge::bird::Client;

const char* kV4 = "203.0.113.10/32";
const char* kV6 = "2001:db8:a::10/128";

// The two-namespace lab, shared by every test in the suite (it takes ~2 s to come up).
class Lab {
public:
    bool up(std::string* why) {
        if (::geteuid() != 0) {
            *why = "not root: cannot create network namespaces";
            return false;
        }
        std::string tag = std::to_string(::getpid() % 100000);
        edge_ns = "aehE" + tag;
        up_ns = "aehU" + tag;
        dir = fs::temp_directory_path() / ("bgp_hooks_lab_" + tag);
        fs::remove_all(dir);
        fs::create_directories(dir);
        if (run("ip netns add " + edge_ns) != 0) {
            *why = "`ip netns add` failed (no CAP_SYS_ADMIN or no netns support)";
            return false;
        }
        made_ns = true;
        if (run("ip netns add " + up_ns) != 0) {
            *why = "second `ip netns add` failed";
            return false;
        }
        std::string ve = "veE" + tag, vu = "veU" + tag;
        const std::vector<std::string> cmds = {
            "ip -n " + edge_ns + " link add " + ve + " type veth peer name " + vu + " netns " +
                up_ns,
            "ip -n " + edge_ns + " link set lo up",
            "ip -n " + up_ns + " link set lo up",
            "ip -n " + edge_ns + " addr add 192.0.2.2/24 dev " + ve,
            "ip -n " + up_ns + " addr add 192.0.2.1/24 dev " + vu,
            "ip -n " + edge_ns + " addr add 2001:db8::2/64 dev " + ve + " nodad",
            "ip -n " + up_ns + " addr add 2001:db8::1/64 dev " + vu + " nodad",
            "ip -n " + edge_ns + " addr add 203.0.113.10/32 dev lo",
            "ip -n " + edge_ns + " addr add 2001:db8:a::10/128 dev lo",
            "ip -n " + edge_ns + " link set " + ve + " up",
            "ip -n " + up_ns + " link set " + vu + " up",
        };
        for (const auto& c : cmds) {
            if (run(c) != 0) {
                *why = "lab setup failed: " + c;
                return false;
            }
        }
        return true;
    }

    void down() {
        stop(edge_bird);
        stop(up_bird);
        if (made_ns) {
            run("ip netns del " + edge_ns);
            run("ip netns del " + up_ns);
        }
        if (!dir.empty() && !std::getenv("ANYEDGE_KEEP_LAB")) fs::remove_all(dir);
    }

    void start_edge_bird() {
        edge_bird = spawn({"ip", "netns", "exec", edge_ns, "bird", "-f", "-c",
                           (dir / "edge.conf").string(), "-s", edge_sock().string(), "-P",
                           (dir / "edge.pid").string()},
                          dir / "edge-bird.out");
    }
    void start_up_bird() {
        up_bird = spawn({"ip", "netns", "exec", up_ns, "bird", "-f", "-c",
                         (dir / "up.conf").string(), "-s", up_sock().string(), "-P",
                         (dir / "up.pid").string()},
                        dir / "up-bird.out");
    }
    fs::path edge_sock() const { return dir / "edge.ctl"; }
    fs::path up_sock() const { return dir / "up.ctl"; }

    std::string edge_ns, up_ns;
    fs::path dir;
    bool made_ns = false;
    pid_t edge_bird = -1, up_bird = -1;
};

Lab* g_lab = nullptr;
std::string g_skip;  // the environment cannot run the lab (no netns): skip
std::string g_fail;  // the lab could run but did not come up: a real failure

class BgpHooksLab : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        g_lab = new Lab;
        if (!g_lab->up(&g_skip)) {
            g_lab->down();
            return;
        }
        if (!write_configs(&g_fail)) {
            g_lab->down();
            return;
        }
        g_lab->start_up_bird();
        g_lab->start_edge_bird();
        // Both sessions (IPv4, IPv6) established, seen from the upstream.
        Client up(g_lab->up_sock().string(), 1s);
        auto t = wait_for(
            [&] {
                auto r = up.show_protocols();
                if (!r) return false;
                size_t n = 0;
                for (size_t p = 0; (p = r->find("Established", p)) != std::string::npos; ++p) ++n;
                return n == 2;
            },
            20s);
        if (!t) {
            g_fail = "BGP sessions did not come up in 20 s: " +
                     read_file(g_lab->dir / "up-bird.log");
            g_lab->down();
            return;
        }
        std::printf("[lab] BGP v4+v6 established in %lld ms\n", (long long)t->count());
    }
    static void TearDownTestSuite() {
        if (g_lab) g_lab->down();
        delete g_lab;
        g_lab = nullptr;
    }

    static bool write_configs(std::string* why) {
        const auto& d = g_lab->dir;
        node_json = {
            {"node", "edge1"},
            {"anycast", {{"ipv4", {kV4}}, {"ipv6", {kV6}}}},
            {"bird",
             {{"socket", g_lab->edge_sock().string()},
              {"state_file", (d / "route-state.conf").string()},
              {"log", (d / "edge-bird.log").string()},
              {"router_id", "192.0.2.2"},
              {"local_as", 64601},
              {"upstreams",
               {{{"name", "up_v4"}, {"neighbor", "192.0.2.1"}, {"as", 64500},
                 {"source", "192.0.2.2"}},
                {{"name", "up_v6"}, {"neighbor", "2001:db8::1"}, {"as", 64500},
                 {"source", "2001:db8::2"}}}}}},
            {"deprefer", {{"prepend", 2}, {"communities", {"64601:100"}}}},
            {"edge", {{"admin", "127.0.0.1:0"}}},
        };
        write_file(d / "render.json", node_json.dump(2));
        std::string bin = CDN_HOOKS_BIN;
        if (run(bin + " render-bird --config " + (d / "render.json").string() + " --out " +
                (d / "edge.conf").string() + " --check") != 0) {
            *why = "render-bird --check failed";
            return false;
        }
        if (run(bin + " render-bird --upstream --config " + (d / "render.json").string() +
                " --out " + (d / "upstream-snippet.conf").string()) != 0) {
            *why = "render-bird --upstream failed";
            return false;
        }
        std::string session =
            "    local as 64500;\n    hold time 3;\n    keepalive time 1;\n"
            "    graceful restart off;\n    bfd on;\n    connect delay time 1;\n"
            "    connect retry time 1;\n    error wait time 1, 2;\n";
        std::string up =
            "log \"" + (d / "up-bird.log").string() + "\" all;\n"
            "router id 192.0.2.1;\n"
            "include \"" + (d / "upstream-snippet.conf").string() + "\";\n"
            "protocol device {}\n"
            "protocol bfd { interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; "
            "multiplier 3; }; }\n"
            "protocol bgp edge1_v4 {\n" + session +
            "    neighbor 192.0.2.2 as 64601;\n"
            "    ipv4 { import filter from_anycast_edge; export none; };\n}\n"
            "protocol bgp edge1_v6 {\n" + session +
            "    neighbor 2001:db8::2 as 64601;\n"
            "    ipv6 { import filter from_anycast_edge; export none; };\n}\n";
        write_file(d / "up.conf", up);
        if (run("bird -p -c " + (d / "up.conf").string()) != 0) {
            *why = "bird -p rejected the upstream config";
            return false;
        }
        return true;
    }

    void SetUp() override {
        ASSERT_TRUE(g_fail.empty()) << g_fail;
        if (!g_skip.empty()) {
            if (const char* req = std::getenv("ANYEDGE_REQUIRE_NETNS"); req && *req == '1') {
                FAIL() << "netns lab required (ANYEDGE_REQUIRE_NETNS=1) but: " << g_skip;
            }
            GTEST_SKIP() << "SKIPPING the BIRD netns lab: " << g_skip;
        }
        port_ = free_port();
        ctl_ = g_lab->dir / "fake-edge.json";
        origin_current_ = g_lab->dir / "origin-current.json";
        set_origin_generation(5);
        control_ = {{"healthy", true}, {"generation", 5}, {"drain", "serving"},
                    {"canary_body", "canary bytes"}, {"wedge", false},
                    {"origin_current", origin_current_.string()}};
        write_file(ctl_, control_.dump());
        fs::remove(g_lab->dir / "drain");
    }

    void TearDown() override {
        stop(hooks_);
        stop(edge_);
    }

    void set_origin_generation(uint64_t g) {
        anyedge::CurrentPointer c;
        c.generation = g;
        c.manifest_sha256 = anyedge::sha256_hex("m" + std::to_string(g));
        c.issued = 1700000000;
        c.expires = 4000000000;
        write_file(origin_current_, anyedge::serialize_current(c));
    }

    void control(const std::string& key, nlohmann::json v) {
        control_[key] = std::move(v);
        write_file(ctl_, control_.dump());
    }

    void start_edge() {
        edge_ = spawn({"/usr/bin/python3", ANYEDGE_FAKE_EDGE, std::to_string(port_), ctl_.string()},
                      g_lab->dir / "fake-edge.out");
        write_file(g_lab->dir / "edge-app.pid", std::to_string(edge_) + "\n");
        // Listening before cdn-hooks counts rounds.
        ASSERT_TRUE(wait_for([&] { return run("curl -sf http://127.0.0.1:" +
                                              std::to_string(port_) + "/healthz") == 0; },
                             5s));
    }

    void start_hooks(nlohmann::json policy_overrides = nlohmann::json::object()) {
        auto j = node_json;
        j["edge"] = {{"admin", "127.0.0.1:" + std::to_string(port_)},
                     {"pid_file", (g_lab->dir / "edge-app.pid").string()}};
        j["checks"] = {{"interval_ms", 100},
                       {"timeout_ms", 150},
                       {"canary",
                        {{"address", "127.0.0.1:" + std::to_string(port_)},
                         {"path", "/canary.html"},
                         {"host", "blog.example"},
                         {"expected_etag", anyedge::sha256_hex("canary bytes")}}},
                       {"freshness",
                        {{"grace_s", 0},
                         {"origin_current_url",
                          "http://127.0.0.1:" + std::to_string(port_) + "/origin/current"},
                         {"origin_poll_ms", 100}}}};
        j["policy"] = {{"fail_threshold", 3},      {"success_threshold", 3},
                       {"soft_fail_threshold", 2}, {"soft_success_threshold", 2},
                       {"hold_down_ms", 1500},     {"max_hold_down_ms", 8000},
                       {"flap_window_ms", 5000},   {"drain_tag_ms", 1000},
                       {"drain_timeout_ms", 5000}};
        for (auto& [k, v] : policy_overrides.items()) j["policy"][k] = v;
        j["drain_file"] = (g_lab->dir / "drain").string();
        j["status_file"] = (g_lab->dir / "hooks-status.json").string();
        write_file(g_lab->dir / "hooks.json", j.dump(2));
        hooks_log_ = g_lab->dir / "cdn-hooks.log";
        fs::remove(hooks_log_);
        hooks_ = spawn({CDN_HOOKS_BIN, "--config", (g_lab->dir / "hooks.json").string()},
                       hooks_log_);
    }

    // The upstream's view of a prefix: `show route PREFIX all` text, or nullopt when absent.
    std::optional<std::string> upstream_route(const char* prefix) {
        Client c(g_lab->up_sock().string(), 1s);
        auto r = c.command(std::string("show route ") + prefix + " all");
        if (!r || r->error()) return std::nullopt;
        return r->text();
    }
    bool upstream_has(const char* prefix) { return upstream_route(prefix).has_value(); }
    // What the edge BIRD exports to its IPv4 upstream (its own view, no network involved).
    bool edge_exports_v4() {
        Client c(g_lab->edge_sock().string(), 1s);
        auto r = c.command("show route export up_v4");
        return r && r->ok() && r->text().find("203.0.113.10/32") != std::string::npos;
    }
    std::optional<anyedge::policy::RouteState> state_file() {
        return anyedge::policy::parse_state_file(read_file(g_lab->dir / "route-state.conf"));
    }
    std::string hooks_log() { return read_file(hooks_log_); }
    std::string hooks_state() {
        auto j = nlohmann::json::parse(read_file(g_lab->dir / "hooks-status.json"), nullptr, false);
        return j.is_object() ? j.value("state", "") : "";
    }

    // Healthy edge + cdn-hooks, route visible upstream (v4 and v6).
    void bring_up_announced() {
        start_edge();
        start_hooks();
        auto t = wait_for([&] { return upstream_has(kV4) && upstream_has(kV6); }, 10s);
        ASSERT_TRUE(t) << hooks_log();
        std::printf("[lab] announced, visible upstream after %lld ms\n", (long long)t->count());
    }

    static nlohmann::json node_json;
    int port_ = 0;
    fs::path ctl_, origin_current_, hooks_log_;
    nlohmann::json control_;
    pid_t edge_ = -1, hooks_ = -1;
};

nlohmann::json BgpHooksLab::node_json;

TEST_F(BgpHooksLab, ControlSocketIsNotWorldWritable) {
    struct stat st {};
    ASSERT_EQ(::stat(g_lab->edge_sock().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & S_IWOTH, 0u) << std::oct << (st.st_mode & 0777);
    EXPECT_EQ(st.st_mode & S_IROTH, 0u) << std::oct << (st.st_mode & 0777);
}

TEST_F(BgpHooksLab, ClientSpeaksToRealBird) {
    Client c(g_lab->edge_sock().string(), 2s);
    auto check = c.configure_check();
    ASSERT_TRUE(check) << check.error();
    EXPECT_EQ(check->code(), 20);
    auto protos = c.show_protocols();
    ASSERT_TRUE(protos) << protos.error();
    EXPECT_NE(protos->find("anycast4"), std::string::npos);
    EXPECT_NE(protos->find("up_v6"), std::string::npos);
    auto bad = c.command("show protocols no_such_protocol");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->code(), 9001);  // an unknown name is a parse error (BIRD-NOTES pitfall 5)
    auto routes = c.show_route("for 203.0.113.10");
    ASSERT_TRUE(routes) << routes.error();
    EXPECT_NE(routes->find("203.0.113.10/32"), std::string::npos);
    EXPECT_EQ(c.connection_count(), 1u);
}

TEST_F(BgpHooksLab, StartsWithdrawnThenAnnouncesWhenHealthy) {
    // Edge down: cdn-hooks must write "withdraw" and keep it.
    start_hooks();
    ASSERT_TRUE(wait_for([&] { return state_file() == anyedge::policy::RouteState::withdraw &&
                                      hooks_log().find("applied") != std::string::npos; },
                         5s))
        << hooks_log();
    std::this_thread::sleep_for(600ms);  // several failing rounds
    EXPECT_FALSE(upstream_has(kV4));
    EXPECT_EQ(hooks_state(), "starting");
    start_edge();
    auto t = wait_for([&] { return upstream_has(kV4) && upstream_has(kV6); }, 10s);
    ASSERT_TRUE(t) << hooks_log();
    std::printf("[lab] healthy edge -> route at upstream in %lld ms\n", (long long)t->count());
    auto r = upstream_route(kV4);
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("BGP.as_path: 64601\n"), std::string::npos) << *r;
    EXPECT_NE(r->find("BGP.local_pref: 200"), std::string::npos) << *r;
    EXPECT_EQ(r->find("65535"), std::string::npos) << *r;
}

TEST_F(BgpHooksLab, EdgeSigkillWithdrawsAtOnceAndReturnsAfterHoldDown) {
    bring_up_announced();
    auto t0 = Clock::now();
    ASSERT_EQ(::kill(edge_, SIGKILL), 0);
    auto file_t = wait_for([&] { return state_file() == anyedge::policy::RouteState::withdraw; },
                           5s);
    auto export_t = wait_for([&] { return !edge_exports_v4(); }, 5s);
    auto up_t = wait_for([&] { return !upstream_has(kV4); }, 5s);
    ASSERT_TRUE(file_t && export_t && up_t) << hooks_log();
    auto total = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::printf("[lab] SIGKILL -> state file withdraw %lld ms, edge BIRD export gone by %lld ms, "
                "upstream route gone by %lld ms (cumulative %lld ms)\n",
                (long long)file_t->count(), (long long)(file_t->count() + export_t->count()),
                (long long)(file_t->count() + export_t->count() + up_t->count()),
                (long long)total.count());
    EXPECT_NE(hooks_log().find("edge process died"), std::string::npos) << hooks_log();
    waitpid(edge_, nullptr, 0);
    edge_ = -1;

    // Restart: healthy again at once, but the route waits out the hold-down.
    auto restart = Clock::now();
    start_edge();
    auto back = wait_for([&] { return upstream_has(kV4); }, 10s);
    ASSERT_TRUE(back) << hooks_log();
    auto since_death = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::printf("[lab] edge restarted; route back after %lld ms (%lld ms since the kill)\n",
                (long long)std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                                                 restart)
                    .count(),
                (long long)since_death.count());
    EXPECT_GE(since_death, 1500ms);  // the configured hold-down, enforced by the state machine
    EXPECT_NE(hooks_log().find("hold-down 1.5s passed"), std::string::npos) << hooks_log();
}

TEST_F(BgpHooksLab, WrongContentAndWedgedEdgeAreWithdrawn) {
    bring_up_announced();
    control("etag", std::string(64, 'f'));
    auto t = wait_for([&] { return !upstream_has(kV4); }, 5s);
    ASSERT_TRUE(t) << hooks_log();
    std::printf("[lab] wrong ETag -> withdrawn upstream in %lld ms\n", (long long)t->count());
    EXPECT_NE(hooks_log().find("ETag"), std::string::npos);
    control("etag", nullptr);
    ASSERT_TRUE(wait_for([&] { return upstream_has(kV4); }, 10s)) << hooks_log();

    control("wedge", true);
    t = wait_for([&] { return !upstream_has(kV4); }, 5s);
    ASSERT_TRUE(t) << hooks_log();
    std::printf("[lab] wedged edge -> withdrawn upstream in %lld ms\n", (long long)t->count());
    EXPECT_NE(hooks_log().find("timed out"), std::string::npos) << hooks_log();
}

TEST_F(BgpHooksLab, StaleContentIsDepreferredNotWithdrawn) {
    bring_up_announced();
    set_origin_generation(9);  // the origin moved on; this node still serves generation 5
    auto t = wait_for(
        [&] {
            auto r = upstream_route(kV4);
            auto r6 = upstream_route(kV6);
            return r && r->find("64601 64601 64601") != std::string::npos && r6 &&
                   r6->find("64601 64601 64601") != std::string::npos;
        },
        5s);
    ASSERT_TRUE(t) << hooks_log();
    std::printf("[lab] stale -> de-preferred at upstream in %lld ms\n", (long long)t->count());
    auto r = upstream_route(kV4);
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("BGP.community: (64601,100)"), std::string::npos) << *r;
    auto r6 = upstream_route(kV6);
    ASSERT_TRUE(r6);
    EXPECT_NE(r6->find("64601 64601 64601"), std::string::npos) << *r6;
    // Stays announced, however long it is stale.
    std::this_thread::sleep_for(1s);
    EXPECT_TRUE(upstream_has(kV4));
    EXPECT_EQ(hooks_state(), "announced");
    EXPECT_NE(hooks_log().find("content stale"), std::string::npos);
    // Fresh again -> full preference.
    control("generation", 9);
    ASSERT_TRUE(wait_for(
        [&] {
            auto x = upstream_route(kV4);
            return x && x->find("BGP.as_path: 64601\n") != std::string::npos;
        },
        5s))
        << hooks_log();
}

TEST_F(BgpHooksLab, DrainTagsGracefulShutdownThenWithdrawsThenUndrains) {
    bring_up_announced();
    auto t0 = Clock::now();
    control("drain", "draining");  // what the edge reports after `cdnctl drain`
    auto tagged = wait_for(
        [&] {
            auto r = upstream_route(kV4);
            return r && r->find("(65535,0)") != std::string::npos;
        },
        5s);
    ASSERT_TRUE(tagged) << hooks_log();
    auto r = upstream_route(kV4);
    ASSERT_TRUE(r);
    EXPECT_NE(r->find("BGP.local_pref: 0"), std::string::npos) << *r;  // RFC 8326 honoured
    auto gone = wait_for([&] { return !upstream_has(kV4); }, 5s);
    ASSERT_TRUE(gone) << hooks_log();
    auto tag_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::printf("[lab] drain: tagged 65535:0 after %lld ms, withdrawn %lld ms after the request\n",
                (long long)tagged->count(), (long long)tag_ms.count());
    EXPECT_GE(tag_ms, 1000ms);  // drain_tag_ms: the tag is held before the withdrawal
    EXPECT_EQ(hooks_state(), "draining");
    control("drain", "drained");
    ASSERT_TRUE(wait_for([&] { return hooks_state() == "drained"; }, 5s)) << hooks_log();
    EXPECT_FALSE(upstream_has(kV4));
    control("drain", "serving");
    ASSERT_TRUE(wait_for([&] { return upstream_has(kV4); }, 5s)) << hooks_log();
    EXPECT_NE(hooks_log().find("undrain"), std::string::npos);
}

TEST_F(BgpHooksLab, DrainFileWorksWhileEdgeRunsAndBirdRestartReapplies) {
    bring_up_announced();
    // Drain by file (the operator's fallback when the edge cannot be asked).
    write_file(g_lab->dir / "drain", "maintenance\n");
    ASSERT_TRUE(wait_for([&] { return !upstream_has(kV4); }, 5s)) << hooks_log();
    fs::remove(g_lab->dir / "drain");
    ASSERT_TRUE(wait_for([&] { return upstream_has(kV4); }, 5s)) << hooks_log();

    // BIRD restarts and its include file was reset to the safe default (withdraw), as after a
    // reboot with a fresh tmpfs: cdn-hooks must notice the new BIRD and re-apply "announce".
    stop(g_lab->edge_bird);
    write_file(g_lab->dir / "route-state.conf",
               anyedge::policy::render_state_file(anyedge::policy::RouteState::withdraw, "boot"));
    auto t0 = Clock::now();
    g_lab->start_edge_bird();
    auto t = wait_for([&] { return upstream_has(kV4); }, 15s);
    ASSERT_TRUE(t) << hooks_log();
    std::printf("[lab] BIRD restarted; route re-announced upstream after %lld ms\n",
                (long long)std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0)
                    .count());
    EXPECT_EQ(state_file(), anyedge::policy::RouteState::announce);
    EXPECT_NE(hooks_log().find("re-applied route state announce"), std::string::npos)
        << hooks_log();
}

TEST_F(BgpHooksLab, HooksStopWithdrawsAndSetRouteFencesAfterCrash) {
    bring_up_announced();
    // SIGTERM (systemctl stop): withdraw_on_exit.
    int status = stop(hooks_);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_TRUE(wait_for([&] { return !upstream_has(kV4); }, 5s)) << hooks_log();

    // SIGKILL leaves the last state; the unit's ExecStopPost (`set-route withdraw`) fences it.
    start_hooks();
    ASSERT_TRUE(wait_for([&] { return upstream_has(kV4); }, 10s)) << hooks_log();
    stop(hooks_, SIGKILL);
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(upstream_has(kV4));  // nothing withdraws a SIGKILLed cdn-hooks' route by itself
    ASSERT_EQ(run(std::string(CDN_HOOKS_BIN) + " set-route withdraw --config " +
                  (g_lab->dir / "hooks.json").string()),
              0);
    ASSERT_TRUE(wait_for([&] { return !upstream_has(kV4); }, 5s));
}

}  // namespace
