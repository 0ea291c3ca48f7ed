// Connection without sockets (tests/edge/connection_driver.h): the operations it asks for and
// the bytes it sends, for keep-alive, pipelining, closing, timeouts, back-pressure, the memory
// an idle connection gives back, and TLS with a real OpenSSL client over memory.
#include "edge/server/connection.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "edge/tls/self_signed.h"
#include "edge/tls/tls_context.h"
#include "tests/edge/connection_driver.h"

namespace anyedge::server {
namespace {

using testing::ConnectionDriver;

constexpr std::string_view kGet = "GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n";

size_t count(std::string_view haystack, std::string_view needle) {
    size_t n = 0;
    for (size_t p = haystack.find(needle); p != std::string_view::npos;
         p = haystack.find(needle, p + 1)) {
        ++n;
    }
    return n;
}

bool has_op(const testing::FakeIo& io, std::string_view op) {
    return std::find(io.ops.begin(), io.ops.end(), op) != io.ops.end();
}

TEST(Connection, KeepAliveAnswersPipelinedRequestsInOrderAndStaysOpen) {
    ConnectionDriver d;
    d.start();
    EXPECT_EQ(d.io().ops.front(), "arm_receive");
    ASSERT_TRUE(d.receive(std::string(kGet) + "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n"));
    const std::string out = d.take_output();
    const size_t first = out.find("HTTP/1.1 200 OK\r\n");
    const size_t second = out.find("HTTP/1.1 404 ");
    ASSERT_NE(first, std::string::npos) << out;
    ASSERT_NE(second, std::string::npos) << out;
    EXPECT_LT(first, second);
    EXPECT_NE(out.find("<p>hello</p>"), std::string::npos);
    EXPECT_FALSE(d.closed());
    EXPECT_TRUE(d.io().armed);
    EXPECT_EQ(d.counters().requests.load(), 2u);
    EXPECT_EQ(d.counters().status_4xx.load(), 1u);
    EXPECT_EQ(d.counters().in_flight.load(), 0u);
}

TEST(Connection, ARequestSplitAtEveryByteIsAnsweredOnce) {
    for (size_t cut = 1; cut < kGet.size(); ++cut) {
        ConnectionDriver d;
        d.start();
        ASSERT_TRUE(d.receive(kGet.substr(0, cut)));
        EXPECT_EQ(d.take_output(), "") << cut;
        ASSERT_TRUE(d.receive(kGet.substr(cut)));
        EXPECT_EQ(count(d.take_output(), "HTTP/1.1 200 OK"), 1u) << cut;
    }
}

TEST(Connection, ConnectionCloseAnswersThenShutsWriteThenClosesOnThePeersFin) {
    ConnectionDriver d;
    d.start();
    ASSERT_TRUE(d.receive("GET /index.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    EXPECT_NE(d.take_output().find("Connection: close"), std::string::npos);
    // The lingering close: our FIN, then input is read and dropped until the peer's.
    EXPECT_TRUE(d.io().write_shut);
    EXPECT_FALSE(d.closed());
    ASSERT_TRUE(d.receive("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(d.take_output(), "");
    d.receive_end(0);
    EXPECT_TRUE(d.closed());
}

TEST(Connection, BadRequestGets400AndNothingAfterIt) {
    ConnectionDriver d;
    d.start();
    ASSERT_TRUE(
        d.receive("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2"
                  "\r\n\r\n" +
                  std::string(kGet)));
    const std::string out = d.take_output();
    EXPECT_TRUE(out.starts_with("HTTP/1.1 400 ")) << out;
    EXPECT_EQ(count(out, "HTTP/1.1 "), 1u) << out;
    EXPECT_TRUE(d.io().write_shut);
}

TEST(Connection, PeerFinWithNothingPendingCloses) {
    ConnectionDriver d;
    d.start();
    ASSERT_TRUE(d.receive(kGet));
    d.take_output();
    d.receive_end(0);
    EXPECT_TRUE(d.closed());
    EXPECT_TRUE(has_op(d.io(), "close"));
}

TEST(Connection, ResetByPeerAborts) {
    ConnectionDriver d;
    d.start();
    ASSERT_TRUE(d.receive("GET /index"));
    d.receive_end(-ECONNRESET);
    EXPECT_TRUE(d.closed());
}

TEST(Connection, Timeouts) {
    ConnectionOptions o;
    o.header_timeout_ms = 1000;
    o.idle_timeout_ms = 5000;
    {
        // Slowloris: a header that is not whole within the header timeout.
        ConnectionDriver d(o);
        d.start();
        ASSERT_TRUE(d.receive("GET / HTTP/1.1\r\n"));
        d.tick(500);
        ASSERT_TRUE(d.receive("X-A: 1\r\n"));  // arriving slowly does not reset the clock
        EXPECT_FALSE(d.closed());
        d.tick(600);
        EXPECT_TRUE(d.closed());
        EXPECT_TRUE(has_op(d.io(), "cancel_all"));
    }
    {
        // An idle keep-alive connection lasts the idle timeout, not the header timeout.
        ConnectionDriver d(o);
        d.start();
        ASSERT_TRUE(d.receive(kGet));
        d.tick(2000);
        EXPECT_FALSE(d.closed());
        d.tick(3100);
        EXPECT_TRUE(d.closed());
    }
    {
        // A stop closes idle connections at the next tick.
        ConnectionDriver d(o);
        d.start();
        ASSERT_TRUE(d.receive(kGet));
        d.stop();
        d.tick(1);
        EXPECT_TRUE(d.closed());
    }
}

TEST(Connection, IdleConnectionGivesBackItsMemoryAndKeepsCounting) {
    ConnectionOptions o;
    o.session.max_requests_per_connection = 3;
    ConnectionDriver d(o);
    d.start();
    for (int i = 1; i <= 3; ++i) {
        ASSERT_TRUE(d.receive(kGet)) << i;
        const std::string out = d.take_output();
        EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK")) << out;
        EXPECT_EQ(out.find("Connection: close") != std::string::npos, i == 3) << i;
        if (i < 3) {
            EXPECT_TRUE(d.connection().holds_session());
            d.tick(150);  // idle past 100 ms
            EXPECT_FALSE(d.connection().holds_session()) << i;
            EXPECT_FALSE(d.connection().holds_output_queues()) << i;
        }
    }
}

TEST(Connection, PipelinedInputBeyondTheCapPausesReadingUntilAnswered) {
    ConnectionOptions o;
    o.session.output_budget = 16 * 1024;
    ConnectionDriver d(o);
    d.start();
    // More pipelined requests than the output budget answers at once, and more input than
    // the held-input cap (one maximal header + 64 KiB): reading pauses (the receive is
    // cancelled) and resumes once the answers have gone out.
    std::string batch;
    for (int i = 0; i < 4000; ++i) batch += kGet;
    ASSERT_TRUE(d.receive(batch));
    const std::string out = d.take_output();
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 4000u);
    EXPECT_TRUE(has_op(d.io(), "cancel_receive"));
    EXPECT_GE(d.io().arms, 2);
    EXPECT_TRUE(d.io().armed);
    EXPECT_FALSE(d.closed());
}

TEST(Connection, LargeFileGoesOutWhole) {
    ConnectionDriver d;
    d.start();
    ASSERT_TRUE(d.receive("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n"));
    const std::string out = d.take_output();
    const size_t body = out.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    EXPECT_EQ(out.size() - body - 4, 256u * 1024);
    EXPECT_EQ(out[body + 4], 'a');
}

TEST(Connection, DrainingSaysCloseOnTheNextResponse) {
    ConnectionDriver d;
    d.start();
    d.set_draining(true);
    ASSERT_TRUE(d.receive(kGet));
    EXPECT_NE(d.take_output().find("Connection: close"), std::string::npos);
    EXPECT_TRUE(d.io().write_shut);
}

// TLS: a real OpenSSL client over a BIO pair, its network side wired to the driver.
class TlsClient {
  public:
    explicit TlsClient(SSL_CTX* ctx) : ssl_(SSL_new(ctx)) {
        BIO* internal = nullptr;
        BIO_new_bio_pair(&internal, 0, &network_, 0);
        SSL_set_bio(ssl_, internal, internal);
        SSL_set_connect_state(ssl_);
        SSL_set_tlsext_host_name(ssl_, "localhost");
    }
    ~TlsClient() {
        SSL_free(ssl_);
        BIO_free(network_);
    }
    // Ciphertext the client wants to send.
    std::string outgoing() {
        std::string out;
        char buf[16384];
        for (int n; (n = BIO_read(network_, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
        return out;
    }
    void incoming(std::string_view bytes) {
        while (!bytes.empty()) {
            const int n = BIO_write(network_, bytes.data(), int(bytes.size()));
            if (n <= 0) break;
            bytes.remove_prefix(size_t(n));
            // Keep the pair's buffer from filling: let the client take what it can.
            char sink[1];
            (void)sink;
            step();
        }
    }
    void step() {
        if (!SSL_is_init_finished(ssl_)) {
            SSL_do_handshake(ssl_);
            ERR_clear_error();
            return;
        }
        char buf[16384];
        for (int n; (n = SSL_read(ssl_, buf, sizeof buf)) > 0;) plaintext_.append(buf, size_t(n));
        ERR_clear_error();
    }
    bool handshake_done() const { return SSL_is_init_finished(ssl_); }
    void write(std::string_view s) { SSL_write(ssl_, s.data(), int(s.size())); }
    std::string take_plaintext() { return std::exchange(plaintext_, std::string()); }

  private:
    SSL* ssl_;
    BIO* network_ = nullptr;
    std::string plaintext_;
};

class ConnectionTls : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("conn_tls_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        const std::string crt = (dir_ / "c.pem").string(), key = (dir_ / "k.pem").string();
        ASSERT_TRUE(tls::generate_self_signed(crt, key));
        tls::TlsConfig config;
        config.certificates = {{crt, key, {}}};
        auto ctx = tls::TlsContext::create(config);
        ASSERT_TRUE(ctx) << ctx.error();
        server_ = std::move(*ctx);
        client_ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_NONE, nullptr);
    }
    void TearDown() override {
        SSL_CTX_free(client_ctx_);
        std::filesystem::remove_all(dir_);
    }
    // Handshake, then the request; returns what the client read.
    std::string exchange(ConnectionDriver& d, TlsClient& c, std::string_view request) {
        auto session = tls::TlsSession::accept(*server_);
        EXPECT_TRUE(session);
        d.start(std::make_unique<tls::TlsSession>(std::move(*session)));
        for (int i = 0; i < 20 && !c.handshake_done(); ++i) {
            c.step();
            const std::string hello = c.outgoing();
            if (!hello.empty()) d.receive(hello);
            c.incoming(d.take_output());
        }
        EXPECT_TRUE(c.handshake_done());
        c.write(request);
        d.receive(c.outgoing());
        for (int i = 0; i < 50; ++i) {
            const std::string bytes = d.take_output();
            if (bytes.empty()) break;
            c.incoming(bytes);
        }
        c.step();
        return c.take_plaintext();
    }

    std::filesystem::path dir_;
    std::unique_ptr<tls::TlsContext> server_;
    SSL_CTX* client_ctx_ = nullptr;
};

TEST_F(ConnectionTls, HandshakeRequestAndResponse) {
    ConnectionDriver d;
    TlsClient c(client_ctx_);
    const std::string got = exchange(d, c, kGet);
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK")) << got;
    EXPECT_NE(got.find("<p>hello</p>"), std::string::npos);
    EXPECT_EQ(d.counters().tls_handshakes.load(), 1u);
    EXPECT_FALSE(d.closed());
    // Idle: the session and the TLS buffers go; the next request is still answered.
    d.tick(150);
    EXPECT_FALSE(d.connection().holds_session());
    c.write(kGet);
    d.receive(c.outgoing());
    c.incoming(d.take_output());
    c.step();
    EXPECT_TRUE(c.take_plaintext().starts_with("HTTP/1.1 200 OK"));
}

TEST_F(ConnectionTls, PlainHttpOnTheTlsPortGetsAPlain400) {
    ConnectionDriver d;
    auto session = tls::TlsSession::accept(*server_);
    ASSERT_TRUE(session);
    d.start(std::make_unique<tls::TlsSession>(std::move(*session)));
    ASSERT_TRUE(d.receive(kGet));
    const std::string out = d.take_output();
    EXPECT_TRUE(out.starts_with("HTTP/1.1 400 Bad Request")) << out;
    EXPECT_TRUE(d.io().write_shut);
}

TEST_F(ConnectionTls, GarbageAfterTheHandshakeStartSendsAnAlertAndCloses) {
    ConnectionDriver d;
    auto session = tls::TlsSession::accept(*server_);
    ASSERT_TRUE(session);
    d.start(std::make_unique<tls::TlsSession>(std::move(*session)));
    // A record header that claims a handshake, then nonsense.
    ASSERT_TRUE(d.receive(std::string("\x16\x03\x01\x00\x05garbage", 12)));
    const std::string out = d.take_output();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[0], '\x15');  // an alert record
    EXPECT_TRUE(d.io().write_shut);
    d.receive_end(0);
    EXPECT_TRUE(d.closed());
}

}  // namespace
}  // namespace anyedge::server
