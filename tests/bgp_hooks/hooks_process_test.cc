// Integration: the cdn-hooks process with the ExaBGP backend (no BIRD, no namespaces): its
// stdout is the ExaBGP process API; systemd's notify protocol (READY, WATCHDOG) is received on a
// socket the test owns. The edge is the real cdn-edge serving a small folder on loopback.
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "origin-sync/content/digest.h"
#include "tests/bgp_hooks/process_util.h"

namespace {

using namespace anyedge::test;

class HooksProcess : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("bgp_hooks_proc_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        port_ = free_port();
        admin_port_ = free_port();
        fs::create_directories(dir_ / "site");
        write_file(dir_ / "site" / "canary.html", "x");
    }
    void TearDown() override {
        stop(hooks_);
        stop(edge_);
        reading_ = false;
        if (reader_.joinable()) reader_.join();
        if (notify_fd_ >= 0) ::close(notify_fd_);
        fs::remove_all(dir_);
    }

    void start_edge() {
        edge_ = spawn(
            {CDN_EDGE_BIN, "--site", (dir_ / "site").string(), "--listen",
             "127.0.0.1:" + std::to_string(port_), "--admin",
             "127.0.0.1:" + std::to_string(admin_port_), "--node-name", "exa1", "--threads", "1"},
            dir_ / "edge.out");
        write_file(dir_ / "edge.pid", std::to_string(edge_) + "\n");
        ASSERT_TRUE(wait_for(
            [&] {
                return run("curl -sf http://127.0.0.1:" + std::to_string(admin_port_) +
                           "/healthz") == 0;
            },
            20s))
            << read_file(dir_ / "edge.out");
    }

    // cdn-hooks with stdout (the ExaBGP API) and stderr (the log) in separate files.
    // `extra`: keys merged into the config; `no_capabilities`: run it with an empty capability
    // bounding set (as an unprivileged service would be), through util-linux's setpriv.
    void start_hooks(const std::string& notify_path, const nlohmann::json& extra = {},
                     bool no_capabilities = false) {
        nlohmann::json j = {
            {"node", "exa1"},
            {"backend", "exabgp"},
            {"anycast", {{"ipv4", {"203.0.113.10/32"}}, {"ipv6", {"2001:db8:a::10/128"}}}},
            {"bird", {{"local_as", 64601}}},
            {"deprefer", {{"prepend", 1}, {"communities", {"64601:100"}}}},
            {"edge",
             {{"admin", "127.0.0.1:" + std::to_string(admin_port_)},
              {"pid_file", (dir_ / "edge.pid").string()}}},
            {"checks",
             {{"interval_ms", 100},
              {"canary",
               {{"address", "127.0.0.1:" + std::to_string(port_)},
                {"path", "/canary.html"},
                {"expected_etag", anyedge::sha256_hex("x")}}}}},
            {"policy", {{"success_threshold", 2}, {"hold_down_ms", 500}}},
        };
        if (extra.is_object()) j.update(extra);
        write_file(dir_ / "hooks.json", j.dump());
        hooks_ = fork();
        if (hooks_ == 0) {
            int out = ::open((dir_ / "exabgp.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = ::open((dir_ / "hooks.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(out, 1);
            dup2(err, 2);
            setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
            if (no_capabilities) {
                execlp("setpriv", "setpriv", "--bounding-set=-all", "--inh-caps=-all",
                       CDN_HOOKS_BIN, "--config", (dir_ / "hooks.json").c_str(),
                       static_cast<char*>(nullptr));
                _exit(127);
            }
            execl(CDN_HOOKS_BIN, CDN_HOOKS_BIN, "--config", (dir_ / "hooks.json").c_str(),
                  static_cast<char*>(nullptr));
            _exit(127);
        }
    }

    std::string notify_socket() {
        std::string path = (dir_ / "notify.sock").string();
        notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
        EXPECT_EQ(::bind(notify_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        return path;
    }
    // systemd's queue is deep; a unix datagram socket's is max_dgram_qlen (often 10): read
    // continuously, as systemd would.
    void read_notifications() {
        reading_ = true;
        reader_ = std::thread([this] {
            char buf[4096];
            while (reading_) {
                ssize_t n = ::recv(notify_fd_, buf, sizeof(buf), 0);
                if (n > 0) {
                    std::lock_guard<std::mutex> lock(mu_);
                    notified_.append(buf, static_cast<size_t>(n));
                    notified_ += '\n';
                } else {
                    std::this_thread::sleep_for(5ms);
                }
            }
        });
    }
    std::string drain_notify() {
        std::lock_guard<std::mutex> lock(mu_);
        return notified_;
    }
    std::string exabgp() { return read_file(dir_ / "exabgp.out"); }
    bool wait_for_announce() {
        return wait_for(
                   [&] {
                       return exabgp().find("announce route 203.0.113.10/32 next-hop self\n") !=
                              std::string::npos;
                   },
                   20s)
            .has_value();
    }

    fs::path dir_;
    int port_ = 0, admin_port_ = 0;
    pid_t edge_ = -1, hooks_ = -1;
    int notify_fd_ = -1;
    std::atomic<bool> reading_{false};
    std::thread reader_;
    std::mutex mu_;
    std::string notified_;
};

TEST_F(HooksProcess, ExabgpLinesFollowTheEdgeAndSystemdIsNotified) {
    std::string notify = notify_socket();
    read_notifications();
    start_hooks(notify);
    // Starts withdrawn: the first lines are withdrawals, and no announcement while the edge is
    // absent.
    ASSERT_TRUE(wait_for(
        [&] { return exabgp().find("withdraw route 2001:db8:a::10/128") != std::string::npos; },
        20s));
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(exabgp().find("announce"), std::string::npos) << exabgp();

    start_edge();
    ASSERT_TRUE(wait_for_announce()) << read_file(dir_ / "hooks.log");
    EXPECT_NE(exabgp().find("announce route 2001:db8:a::10/128 next-hop self\n"),
              std::string::npos);

    auto before = exabgp().size();
    ASSERT_EQ(::kill(edge_, SIGKILL), 0);
    auto t = wait_for(
        [&] {
            return exabgp().find("withdraw route 203.0.113.10/32", before) != std::string::npos;
        },
        20s);
    ASSERT_TRUE(t) << exabgp() << read_file(dir_ / "hooks.log") << read_file(dir_ / "edge.out");
    std::printf("[exabgp] SIGKILL -> withdraw line in %lld ms\n", (long long)t->count());
    waitpid(edge_, nullptr, 0);
    edge_ = -1;

    ASSERT_TRUE(wait_for(
        [&] { return drain_notify().find("STATUS=withdrawn") != std::string::npos; }, 10s));
    std::string n = drain_notify();
    EXPECT_NE(n.find("READY=1"), std::string::npos) << n;
    EXPECT_NE(n.find("WATCHDOG=1"), std::string::npos) << n;
    EXPECT_NE(n.find("STATUS=withdrawn"), std::string::npos) << n;

    // Every announce/withdraw line is a valid ExaBGP API command for one of our prefixes.
    std::istringstream lines(exabgp());
    int count = 0;
    for (std::string l; std::getline(lines, l); ++count) {
        bool ok = (l.rfind("announce route ", 0) == 0 || l.rfind("withdraw route ", 0) == 0) &&
                  (l.find(" 203.0.113.10/32 next-hop self") != std::string::npos ||
                   l.find(" 2001:db8:a::10/128 next-hop self") != std::string::npos);
        EXPECT_TRUE(ok) << l;
    }
    EXPECT_EQ(count, 6);  // withdraw x2, announce x2, withdraw x2
}

// Where stray forwarding cannot run (its interface is missing, or the process may not load
// eBPF), the node announces and serves as before; the log says so once, the status says why.
TEST_F(HooksProcess, ForwardingThatCannotRunLeavesTheNodeAsBefore) {
    for (bool no_capabilities : {false, true}) {
        SCOPED_TRACE(no_capabilities ? "without capabilities" : "missing interface");
        const std::string status = (dir_ / "status.json").string();
        nlohmann::json extra = {
            {"status_file", status},
            {"forwarding",
             // No such interface: nothing is ever attached to this machine's own interfaces.
             // Without capabilities the load fails first, at the bpf() call.
             {{"interfaces", {"anyedge-none0"}},
              {"peers", {{{"name", "e2"}, {"interface", "anyedge-none1"}}}}}}};
        fs::remove(dir_ / "exabgp.out");  // the previous run's lines must not count
        fs::remove(dir_ / "hooks.log");
        start_hooks("", extra, no_capabilities);
        if (edge_ < 0) start_edge();
        ASSERT_TRUE(wait_for_announce()) << read_file(dir_ / "hooks.log");
        const std::string log = read_file(dir_ / "hooks.log");
        const auto first = log.find("stray forwarding is OFF: ");
        ASSERT_NE(first, std::string::npos) << log;
        EXPECT_EQ(log.find("stray forwarding is OFF", first + 1), std::string::npos) << log;
        EXPECT_NE(log.find("The node serves as before"), std::string::npos) << log;
        if (no_capabilities) {
            EXPECT_NE(log.find("needs CAP_BPF and CAP_NET_ADMIN"), std::string::npos) << log;
        } else {
            EXPECT_NE(log.find("anyedge-none0: no such interface"), std::string::npos) << log;
        }
        ASSERT_TRUE(wait_for([&] { return fs::exists(status); }, 10s));
        ASSERT_TRUE(wait_for(
            [&] {
                auto j = nlohmann::json::parse(read_file(status), nullptr, false);
                return j.is_object() && j["forwarding"]["state"] == "failed" &&
                       j["state"] == "announced";
            },
            10s))
            << read_file(status);
        stop(hooks_);
        hooks_ = -1;
        fs::remove(status);
    }
}

TEST_F(HooksProcess, BadConfigFailsFastNamingTheKey) {
    write_file(dir_ / "bad.json",
               R"({"node":"x","anycast":{"ipv4":["203.0.113.10/32"]},)"
               R"("edge":{"admin":"127.0.0.1:1"},"policy":{"fail_treshold":3}})");
    pid_t p = spawn({CDN_HOOKS_BIN, "--config", (dir_ / "bad.json").string()}, dir_ / "bad.log");
    int status = 0;
    ASSERT_TRUE(wait_for([&] { return waitpid(p, &status, WNOHANG) == p; }, 20s));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    EXPECT_NE(read_file(dir_ / "bad.log").find("policy.fail_treshold: unknown key"),
              std::string::npos)
        << read_file(dir_ / "bad.log");
}

}  // namespace
