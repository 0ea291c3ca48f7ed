// Hostile HTTP/1.1 against a real cdn-edge, over plain TCP and over TLS: every malformed
// request gets the RFC's 4xx and a close, nothing pipelined after it is answered, and the TLS
// port refuses plain HTTP and closes after a fatal alert. The timeouts are set far above the
// tests' waits, so a close seen here is the edge's decision, not a timeout.
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tests/edge/hostile_requests.h"
#include "tests/integration/edge_process.h"

#include <poll.h>

namespace anyedge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Far longer than any answer takes, far shorter than the edge's own timeouts (600 s): a
// connection that ends within it was closed by the edge's decision, not by a timeout.
constexpr milliseconds kWait = seconds(30);

class EdgeHostileHttp : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (!io_uring_unavailable().empty()) return;
        dir_ = std::filesystem::temp_directory_path() /
               ("anyedge-hostile-" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
        const auto cfg = dir_ / "edge.json";
        std::ofstream(cfg) << R"({"site": ")" << source_dir() << R"(/site",
            "listen": ["127.0.0.1:0"], "tls_listen": ["127.0.0.1:0"],
            "header_timeout_ms": 600000, "idle_timeout_ms": 600000})";
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(), std::vector<std::string>{"--config", cfg.string()}, 2);
    }
    static void TearDownTestSuite() {
        edge_.reset();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    void SetUp() override {
        ANYEDGE_REQUIRE_IO_URING();
        ASSERT_TRUE(edge_ && edge_->started()) << (edge_ ? edge_->log() : "");
    }
    static uint16_t port_of(const std::string& kind) { return edge_->port_of(kind); }
    static uint16_t plain_port() { return port_of("http"); }
    static uint16_t tls_port() { return port_of("https"); }

    static inline std::filesystem::path dir_;
    static inline std::unique_ptr<EdgeProcess> edge_;
};

// A blocking TLS client on a RawClient's socket (the edge's self-signed certificate is not
// checked: what is tested is HTTP, not the certificate).
class TlsClient {
  public:
    explicit TlsClient(uint16_t port)
        : tcp_(port),
          ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free),
          ssl_(nullptr, SSL_free) {
        if (!tcp_.connected() || !ctx_) return;
        ssl_.reset(SSL_new(ctx_.get()));
        SSL_set_fd(ssl_.get(), tcp_.fd());
        SSL_set_tlsext_host_name(ssl_.get(), "localhost");
        // A blocking socket still reports "want read" when a signal interrupts a receive
        // (EINTR) or the receive timeout passes: retry, bounded.
        int rc = 0;
        for (int i = 0; i < 20; ++i) {
            rc = SSL_connect(ssl_.get());
            if (rc == 1 || !wants_retry(rc)) break;
        }
        if (rc != 1) {
            fprintf(stderr, "SSL_connect: %d, SSL_get_error %d, errno %d\n", rc,
                    SSL_get_error(ssl_.get(), rc), errno);
            ERR_print_errors_fp(stderr);
            ssl_.reset();
        }
    }
    bool connected() const { return ssl_ != nullptr; }
    SSL* ssl() const { return ssl_.get(); }
    RawClient& tcp() { return tcp_; }
    bool send_all(const std::string& bytes) {
        for (int i = 0; i < 20; ++i) {
            const int n = SSL_write(ssl_.get(), bytes.data(), int(bytes.size()));
            if (n == int(bytes.size())) return true;
            if (!wants_retry(n)) return false;
        }
        return false;
    }
    // Plaintext until the server ends the TLS stream (close_notify, an alert or EOF) or the
    // wait passes; `ended` says which.
    std::string read_until_end(milliseconds wait, bool& ended) {
        std::string out;
        ended = false;
        const auto deadline = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{tcp_.fd(), POLLIN, 0};
            if (SSL_pending(ssl_.get()) == 0 && poll(&p, 1, 50) <= 0) continue;
            char buf[16384];
            const int n = SSL_read(ssl_.get(), buf, sizeof buf);
            if (n > 0) {
                out.append(buf, size_t(n));
                continue;
            }
            const int err = SSL_get_error(ssl_.get(), n);
            if (err == SSL_ERROR_WANT_READ) continue;
            ended = true;
            break;
        }
        return out;
    }

  private:
    bool wants_retry(int rc) const {
        const int err = SSL_get_error(ssl_.get(), rc);
        return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
    }
    RawClient tcp_;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
};

int count(const std::string& hay, const std::string& needle) {
    int n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

void expect_one_error_then_close(const HostileRequest& c, const std::string& out, bool closed,
                                 const char* transport) {
    EXPECT_TRUE(out.starts_with("HTTP/1.1 " + std::to_string(c.status) + " "))
        << transport << ", " << c.name << ":\n"
        << out.substr(0, 300);
    EXPECT_EQ(count(out, "HTTP/1.1 "), 1) << transport << ", " << c.name << ": answered more";
    EXPECT_EQ(out.find(" 200 OK"), std::string::npos) << transport << ", " << c.name;
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << transport << ", " << c.name;
    EXPECT_TRUE(closed) << transport << ", " << c.name << ": the connection stayed open";
}

TEST_F(EdgeHostileHttp, EveryMalformedRequestGetsItsErrorAndACloseOverPlainHttp) {
    for (const auto& c : hostile_requests()) {
        RawClient client(plain_port());
        ASSERT_TRUE(client.connected()) << edge_->log();
        ASSERT_TRUE(client.send_all(c.bytes + kPipelinedAfterHostile)) << c.name;
        bool closed = false;
        const std::string out = client.read_until_close(kWait, &closed);
        expect_one_error_then_close(c, out, closed, "plain");
    }
}

TEST_F(EdgeHostileHttp, EveryMalformedRequestGetsItsErrorAndACloseOverTls) {
    for (const auto& c : hostile_requests()) {
        TlsClient client(tls_port());
        ASSERT_TRUE(client.connected()) << c.name << edge_->log();
        ASSERT_TRUE(client.send_all(c.bytes + kPipelinedAfterHostile)) << c.name;
        bool ended = false;
        const std::string out = client.read_until_end(kWait, ended);
        expect_one_error_then_close(c, out, ended, "TLS");
        // The TCP connection ends too, not only the TLS stream.
        EXPECT_TRUE(client.tcp().closed_by_peer(kWait)) << c.name;
    }
}

// The same requests, well formed, are answered and the pipelined one after them too.
TEST_F(EdgeHostileHttp, WellFramedBodiesAndTrailersAreReadAndTheNextRequestAnswered) {
    const std::string ok = chunked_get("5;a=\"b c\"\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n");
    RawClient client(plain_port());
    ASSERT_TRUE(client.send_all(ok + kPipelinedAfterHostile));
    const auto responses = client.read_responses(2);
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_TRUE(responses[0].starts_with("HTTP/1.1 200 OK"));
    EXPECT_TRUE(responses[1].starts_with("HTTP/1.1 200 OK"));
    EXPECT_NE(responses[1].find("Sitemap:"), std::string::npos);

    TlsClient tls(tls_port());
    ASSERT_TRUE(tls.connected());
    ASSERT_TRUE(tls.send_all(ok + kPipelinedAfterHostile));
    bool ended = false;
    std::string out;
    for (int i = 0; i < 100 && count(out, "Sitemap:") == 0 && !ended; ++i) {
        out += tls.read_until_end(milliseconds(50), ended);
    }
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 2) << out.substr(0, 300);
    EXPECT_FALSE(ended);
}

// nginx's answer: a plain request to a TLS port gets a plain 400 and a close, not silence
// until the header timeout.
TEST_F(EdgeHostileHttp, PlainHttpOnTheTlsPortGets400InClearText) {
    RawClient client(tls_port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: blog.example\r\n\r\n"));
    bool closed = false;
    const std::string out = client.read_until_close(kWait, &closed);
    EXPECT_TRUE(closed) << "still open";
    EXPECT_TRUE(out.starts_with("HTTP/1.1 400 Bad Request\r\n")) << out;
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_NE(out.find("https"), std::string::npos);
    // The port still speaks TLS to the next client.
    TlsClient tls(tls_port());
    ASSERT_TRUE(tls.connected());
}

// RFC 8446 §6.2: after a fatal alert the connection is closed. A record whose authentication
// fails (bytes flipped on the wire) gets bad_record_mac and then the end of the TCP stream.
TEST_F(EdgeHostileHttp, CorruptRecordAfterTheHandshakeGetsAnAlertAndAClose) {
    TlsClient client(tls_port());
    ASSERT_TRUE(client.connected());
    // A well-formed application-data record header with a body that cannot authenticate.
    std::string record = "\x17\x03\x03";
    record += char(0);
    record += char(64);
    record += std::string(64, '\x5a');
    ASSERT_TRUE(client.tcp().send_all(record));
    // OpenSSL reads the alert: SSL_read fails with SSL_ERROR_SSL, not a want-read.
    bool ended = false;
    const std::string out = client.read_until_end(kWait, ended);
    EXPECT_TRUE(ended) << "no alert and no close";
    EXPECT_EQ(out, "");
    ERR_clear_error();
    EXPECT_TRUE(client.tcp().closed_by_peer(kWait)) << "the TCP connection stayed open";
}

// A handshake that fails (a ClientHello cut short inside its own length) ends the same way.
TEST_F(EdgeHostileHttp, BrokenHandshakeGetsAnAlertAndAClose) {
    RawClient client(tls_port());
    ASSERT_TRUE(client.connected());
    const std::string hello("\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00", 13);
    ASSERT_TRUE(client.send_all(hello));
    bool closed = false;
    const std::string out = client.read_until_close(kWait, &closed);
    EXPECT_TRUE(closed) << "still open";
    ASSERT_GE(out.size(), 7u);
    EXPECT_EQ(out[0], '\x15') << "not an alert record";
}

}  // namespace
}  // namespace anyedge::testing
