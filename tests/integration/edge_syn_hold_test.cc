// POST /hold-syn against a real cdn-edge (two workers; HTTP on IPv4 and IPv6, HTTPS on IPv4):
// while the hold is on, a new connection attempt on any public listener gets no answer at all
// (its SYN is dropped: the connect stays in progress, it is never refused), established
// connections are served, and the admin listener is never held (every admin_request() call below is
// a new connection). After the hold, released by /undrain or ended by itself with nobody
// calling the admin API, the kernel's SYN retransmission connects.
//
// This is also where the socket filter's offset 0 is pinned down: the filter reads the TCP
// flags at byte 13, which is only right if offset 0 is the TCP header for both families (at the
// IP header, byte 13 is inside the source address: nothing would be dropped and these tests
// fail).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/edge_process.h"

#include <poll.h>

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kStillConnecting = -1;

// A non-blocking connect left in progress, to see whether (and how) it completes.
class PendingConnect {
  public:
    PendingConnect(const std::string& host, uint16_t port) {
        const bool v6 = host.find(':') != std::string::npos;
        fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(port);
            inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
            len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(port);
            inet_pton(AF_INET, host.c_str(), &a->sin_addr);
            len = sizeof *a;
        }
        const int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len);
        start_errno_ = rc == 0 ? 0 : errno;
        what_ = host + ":" + std::to_string(port);
    }
    ~PendingConnect() {
        if (fd_ >= 0) ::close(fd_);
    }
    PendingConnect(const PendingConnect&) = delete;
    PendingConnect& operator=(const PendingConnect&) = delete;

    // Waits up to `timeout` for the connect to finish: 0 connected, an errno when it failed
    // (ECONNREFUSED: a RST came back), kStillConnecting when no answer came.
    int wait(std::chrono::milliseconds timeout) {
        if (start_errno_ != 0 && start_errno_ != EINPROGRESS) return start_errno_;
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) == 0) return kStillConnecting;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        return err;
    }
    // One GET on the connected socket; the status line of the answer.
    std::string get() {
        const int flags = ::fcntl(fd_, F_GETFL);
        ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        const std::string req = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) return "";
        std::string got;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd_, buf, sizeof buf, 0)) > 0) got.append(buf, size_t(n));
        return got.substr(0, got.find("\r\n"));
    }
    const std::string& what() const { return what_; }

  private:
    int fd_ = -1;
    int start_errno_ = 0;
    std::string what_;
};

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

class EdgeSynHold : public ::testing::Test {
  protected:
    void SetUp() override {
        ANYEDGE_REQUIRE_IO_URING();
        dir_ = fresh_test_dir("synhold");
        std::ofstream(dir_ / "token") << "s3cret\n";
        // Two workers: two SO_REUSEPORT listeners per address, every one of them must be held.
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(),
            std::vector<std::string>{
                "--site", source_dir() + "/site", "--listen", "127.0.0.1:0", "--listen", "[::1]:0",
                "--tls-listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--admin-token-file",
                (dir_ / "token").string(), "--threads", "2", "--node-name", "n1"},
            5);
        ASSERT_TRUE(edge_->started()) << edge_->log();
        // HTTP/3 listens on the UDP side of the TLS address; a SYN hold is TCP's alone.
        ASSERT_EQ(edge_->kinds(),
                  (std::vector<std::string>{"http", "http", "https", "h3", "admin"}));
    }
    void TearDown() override {
        edge_.reset();
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    uint16_t http4() { return edge_->port(0); }
    uint16_t http6() { return edge_->port(1); }
    uint16_t https4() { return edge_->port(2); }
    uint16_t admin_port() { return edge_->port_of("admin"); }
    AdminReply post(const std::string& path) {
        return admin_request(admin_port(), "POST", path, "s3cret");
    }
    std::string status() { return admin_request(admin_port(), "GET", "/status").body; }

    fs::path dir_;
    std::unique_ptr<EdgeProcess> edge_;
};

TEST_F(EdgeSynHold, DropsNewConnectionsOnEveryPublicListenerServesEstablishedOnes) {
    RawClient established(http4());
    ASSERT_TRUE(established.send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_EQ(established.read_responses(1).size(), 1u);

    AdminReply r = post("/hold-syn?ms=8000");
    ASSERT_EQ(r.status(), 200) << r.raw;
    // 3 TCP addresses and the TLS address's UDP side (HTTP/3), x 2 workers.
    EXPECT_TRUE(contains(r.body, "\"listeners\":8")) << r.body;

    // Several attempts per address: SO_REUSEPORT spreads them over both workers' listeners.
    std::vector<std::unique_ptr<PendingConnect>> pending;
    for (int i = 0; i < 4; ++i) {
        pending.push_back(std::make_unique<PendingConnect>("127.0.0.1", http4()));
        pending.push_back(std::make_unique<PendingConnect>("::1", http6()));
        pending.push_back(std::make_unique<PendingConnect>("127.0.0.1", https4()));
    }
    // A loopback handshake takes microseconds; none may complete, none may be refused.
    std::this_thread::sleep_for(300ms);
    for (auto& p : pending) EXPECT_EQ(p->wait(0ms), kStillConnecting) << p->what();

    // Established connections go on while new ones are held.
    ASSERT_TRUE(established.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n"));
    auto rs = established.read_responses(1);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_TRUE(rs[0].starts_with("HTTP/1.1 200")) << rs[0];

    // QUIC's new connections are held too: the client's Initials are dropped, so it cannot
    // finish a handshake while the hold lasts.
    const std::string h3_command =
        "timeout 20 gtlsclient --exit-on-all-streams-close "
        "--no-quic-dump --no-http-dump --handshake-timeout=1s "
        "127.0.0.1 " +
        std::to_string(https4()) + " https://127.0.0.1:" + std::to_string(https4()) +
        "/robots.txt 2>&1";
    const bool have_gtlsclient = !run_command("command -v gtlsclient").empty();
    if (have_gtlsclient) {
        const std::string out = run_command(h3_command);
        EXPECT_FALSE(contains(out, "[:status: 200]")) << out;
    }

    const std::string held = status();
    EXPECT_TRUE(contains(held, "\"syn_hold\":true")) << held;
    EXPECT_TRUE(contains(held, "\"syn_holds\":1")) << held;
    EXPECT_FALSE(contains(held, "\"syns_dropped\":0")) << held;
    const std::string metrics = admin_request(admin_port(), "GET", "/metrics").body;
    EXPECT_TRUE(contains(metrics, "\nanyedge_syn_hold 1\n")) << metrics;
    EXPECT_TRUE(contains(metrics, "\nanyedge_syn_holds_total 1\n")) << metrics;

    // /undrain releases at once; a new connection is served straight away.
    ASSERT_EQ(post("/undrain").status(), 200);
    const std::string released = status();
    EXPECT_TRUE(contains(released, "\"syn_hold\":false")) << released;
    EXPECT_TRUE(contains(released, "\"syn_hold_left_ms\":0")) << released;
    {
        RawClient fresh(http4());
        ASSERT_TRUE(fresh.connected());
        ASSERT_TRUE(fresh.send_all("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        EXPECT_TRUE(fresh.read_until_close().starts_with("HTTP/1.1 200"));
    }
    if (have_gtlsclient) {
        const std::string out = run_command(h3_command);
        EXPECT_TRUE(contains(out, "[:status: 200]")) << out;
    }
    // The held attempts connect on the kernel's SYN retransmission (initial RTO: 1 s) and are
    // served like any other.
    for (auto& p : pending) {
        ASSERT_EQ(p->wait(10s), 0) << p->what();
        if (p->what().ends_with(":" + std::to_string(https4()))) continue;
        EXPECT_EQ(p->get(), "HTTP/1.1 200 OK") << p->what();
    }
    EXPECT_TRUE(
        contains(admin_request(admin_port(), "GET", "/metrics").body, "\nanyedge_syn_hold 0\n"));
}

TEST_F(EdgeSynHold, EndsByItselfWithoutAnotherAdminRequest) {
    ASSERT_EQ(post("/hold-syn?ms=2000").status(), 200);
    PendingConnect p4("127.0.0.1", http4());
    PendingConnect p6("::1", http6());
    EXPECT_EQ(p4.wait(500ms), kStillConnecting);
    EXPECT_EQ(p6.wait(0ms), kStillConnecting);
    // Nothing talks to the admin API now: the hold must end on its own timer, and a later
    // retransmission of the dropped SYN connects (after 1 s, then every second where
    // net.ipv4.tcp_syn_linear_timeouts exists, else 2 s later: exponential backoff).
    ASSERT_EQ(p4.wait(10s), 0);
    ASSERT_EQ(p6.wait(5s), 0);
    EXPECT_EQ(p4.get(), "HTTP/1.1 200 OK");
    EXPECT_EQ(p6.get(), "HTTP/1.1 200 OK");
    const std::string s = status();
    EXPECT_TRUE(contains(s, "\"syn_hold\":false")) << s;
    EXPECT_TRUE(contains(s, "\"syn_holds\":1")) << s;
    EXPECT_FALSE(contains(s, "\"syns_dropped\":0")) << s;
}

TEST_F(EdgeSynHold, RefusesBadDurationsAndMissingToken) {
    for (const std::string target :
         {"/hold-syn", "/hold-syn?ms=0", "/hold-syn?ms=10001", "/hold-syn?ms=abc",
          "/hold-syn?ms=", "/hold-syn?ms=-5", "/hold-syn?ms=100x", "/hold-syn?seconds=1"}) {
        AdminReply r = post(target);
        EXPECT_EQ(r.status(), 400) << target << ": " << r.raw;
        EXPECT_TRUE(contains(r.body, "ms=N, N milliseconds from 1 to 10000")) << r.body;
    }
    EXPECT_EQ(admin_request(admin_port(), "POST", "/hold-syn?ms=100").status(), 401);
    EXPECT_EQ(admin_request(admin_port(), "POST", "/hold-syn?ms=100", "wrong").status(), 401);
    EXPECT_EQ(admin_request(admin_port(), "GET", "/hold-syn?ms=100", "s3cret").status(), 405);
    const std::string s = status();
    EXPECT_TRUE(contains(s, "\"syn_holds\":0")) << s;
    // Nothing was held: a new connection is served at once.
    PendingConnect p("127.0.0.1", http4());
    EXPECT_EQ(p.wait(5s), 0);
    EXPECT_EQ(p.get(), "HTTP/1.1 200 OK");
    // The edges of the range are accepted.
    EXPECT_EQ(post("/hold-syn?ms=1").status(), 200);
    EXPECT_EQ(post("/hold-syn?ms=10000&x=1").status(), 200);
    EXPECT_EQ(post("/undrain").status(), 200);
}

}  // namespace
}  // namespace anyedge::testing
