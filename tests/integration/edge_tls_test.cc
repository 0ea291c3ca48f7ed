// cdn-edge over real TLS: OpenSSL's s_client and curl against a real process, certificates made
// on the fly by the openssl command.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "edge/io/ring.h"
#include "tests/integration/edge_process.h"

#include <poll.h>

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

class EdgeTls : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (const std::string why = io::probe_io_uring_support(); !why.empty()) {
            skip_ = "io_uring unavailable: " + why;
            return;
        }
        dir_ = fs::temp_directory_path() / ("anyedge-tls-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        const std::string d = dir_.string();
        // An ECDSA P-256 certificate for a.example (the default) and an RSA one for *.w.example.
        run_command(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            "-subj /CN=a.example -addext subjectAltName=DNS:a.example,DNS:localhost,IP:127.0.0.1 "
            "-keyout " +
            d + "/a.key -out " + d + "/a.pem");
        run_command(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=w.example "
            "-addext subjectAltName=DNS:*.w.example -keyout " +
            d + "/w.key -out " + d + "/w.pem");
        // A shared ticket key file, valid from a minute ago for an hour.
        std::mt19937_64 rng(std::random_device{}());
        std::string hex;
        for (int i = 0; i < 80; ++i) {
            char b[3];
            snprintf(b, sizeof b, "%02x", unsigned(rng() & 0xff));
            hex += b;
        }
        const long now = time(nullptr);
        std::ofstream(dir_ / "tickets") << (now - 60) << " " << (now + 3600) << " " << hex << "\n";
        for (int i = 0; i < 2; ++i) {
            edges_[i] = std::make_unique<EdgeProcess>(
                edge_binary(),
                std::vector<std::string>{
                    "--site", source_dir() + "/site", "--tls-listen", "127.0.0.1:0", "--cert",
                    d + "/a.pem", "--key", d + "/a.key", "--cert", d + "/w.pem", "--key",
                    d + "/w.key", "--ticket-keys", d + "/tickets", "--hsts", "max-age=63072000"},
                1);
        }
    }
    static void TearDownTestSuite() {
        edges_[0].reset();
        edges_[1].reset();
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    void SetUp() override {
        if (!skip_.empty()) {
            if (std::getenv("ANYEDGE_REQUIRE_URING")) FAIL() << skip_;
            GTEST_SKIP() << skip_;
        }
        ASSERT_TRUE(edges_[0]->started() && edges_[1]->started()) << edges_[0]->log();
    }
    static std::string port(int i) { return std::to_string(edges_[i]->port()); }
    static std::string s_client(int i, const std::string& args) {
        return run_command(
            "printf 'GET /robots.txt HTTP/1.1\\r\\nHost: a.example\\r\\nConnection: "
            "close\\r\\n\\r\\n' | timeout 10 openssl s_client -connect 127.0.0.1:" +
            port(i) + " -ign_eof " + args);
    }
    static std::string curl(int i, const std::string& args, const std::string& path = "/") {
        return run_command("timeout 10 curl -s --cacert " + (dir_ / "a.pem").string() +
                           " --resolve a.example:" + port(i) + ":127.0.0.1 " + args +
                           " https://a.example:" + port(i) + path);
    }

    // A third cdn-edge on its own site with extra config keys (a JSON fragment such as
    // `"send_buffer": 4096`, or empty), by default with the a.example certificate.
    static std::unique_ptr<EdgeProcess> start_edge(const fs::path& site, const std::string& name,
                                                   const std::string& extra_keys,
                                                   const fs::path& cert = dir_ / "a.pem",
                                                   const fs::path& key = dir_ / "a.key",
                                                   int listeners = 1) {
        const fs::path cfg = dir_ / (name + ".json");
        std::ofstream(cfg) << R"({"site": ")" << site.string()
                           << R"(", "tls_listen": "127.0.0.1:0", "cert": [")" << cert.string()
                           << R"("], "key": [")" << key.string() << R"("])"
                           << (extra_keys.empty() ? "" : ", ") << extra_keys << "}";
        return std::make_unique<EdgeProcess>(
            edge_binary(), std::vector<std::string>{"--config", cfg.string()}, listeners);
    }

    // Blocking TLS clients written against OpenSSL directly, for what s_client and curl cannot
    // do (hold a connection, stop reading, close halfway).
    using ClientContext = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
    using ClientSsl = std::unique_ptr<SSL, decltype(&SSL_free)>;
    static ClientContext client_context() {
        return ClientContext(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    }
    // A TLS connection over `tcp` (connected) to a.example; null if the handshake fails.
    static ClientSsl connect_tls(SSL_CTX* ctx, const RawClient& tcp) {
        ClientSsl ssl(SSL_new(ctx), SSL_free);
        SSL_set_fd(ssl.get(), tcp.fd());
        SSL_set_tlsext_host_name(ssl.get(), "a.example");
        if (SSL_connect(ssl.get()) != 1) ssl.reset();
        return ssl;
    }
    // A TLS connection to a.example on `port`; ssl is null when connecting or the handshake
    // failed. The SSL keeps its own reference to the context.
    struct TlsConnection {
        std::unique_ptr<RawClient> tcp;
        ClientSsl ssl{nullptr, SSL_free};
    };
    static TlsConnection open_tls(uint16_t port, int receive_buffer = 0) {
        TlsConnection c;
        c.tcp = std::make_unique<RawClient>(port, "127.0.0.1", receive_buffer);
        const ClientContext ctx = client_context();
        if (ctx && c.tcp->connected()) c.ssl = connect_tls(ctx.get(), *c.tcp);
        return c;
    }
    // A TLS client over memory BIOs: the test carries its bytes, so it can send them as slowly
    // as it likes.
    class MemoryTlsClient {
      public:
        MemoryTlsClient() : ctx_(client_context()), ssl_(SSL_new(ctx_.get()), SSL_free) {
            out_ = BIO_new(BIO_s_mem());
            in_ = BIO_new(BIO_s_mem());
            SSL_set_bio(ssl_.get(), in_, out_);  // the SSL owns both
            SSL_set_tlsext_host_name(ssl_.get(), "a.example");
        }
        SSL* ssl() const { return ssl_.get(); }
        // What the client wrote since the last call.
        std::string take_output() {
            char* p = nullptr;
            const long n = BIO_get_mem_data(out_, &p);
            std::string bytes(p, size_t(n));
            (void)BIO_reset(out_);
            return bytes;
        }
        void give_input(const char* p, size_t n) { BIO_write(in_, p, int(n)); }

      private:
        ClientContext ctx_;
        ClientSsl ssl_;
        BIO* in_ = nullptr;
        BIO* out_ = nullptr;
    };

    static inline fs::path dir_;
    static inline std::unique_ptr<EdgeProcess> edges_[2];
    static inline std::string skip_;
};

TEST_F(EdgeTls, Tls13AndTls12OnlyWithStrongCiphers) {
    std::string out = s_client(0, "-tls1_3 -servername a.example");
    EXPECT_NE(out.find("TLSv1.3"), std::string::npos) << out;
    EXPECT_NE(out.find("Sitemap:"), std::string::npos) << out;
    out = s_client(0, "-tls1_2 -servername a.example");
    EXPECT_NE(out.find("Protocol  : TLSv1.2"), std::string::npos) << out;
    EXPECT_NE(out.find("GCM"), std::string::npos) << out;
    for (const char* old : {"-tls1_1", "-tls1"}) {
        out = s_client(0, std::string(old) + " -servername a.example");
        EXPECT_EQ(out.find("Sitemap:"), std::string::npos) << old << out;
    }
    // CBC and static-RSA suites are not offered.
    out = s_client(0, "-tls1_2 -cipher AES128-SHA:ECDHE-RSA-AES128-SHA -servername a.example");
    EXPECT_EQ(out.find("Sitemap:"), std::string::npos) << out;
}

TEST_F(EdgeTls, SuiteByServerOrderUnlessTheClientPrefersChaCha) {
    // OpenSSL's s_client lists AES-256-GCM first; the edge's order puts AES-128-GCM first.
    std::string out = s_client(0, "-tls1_3 -servername a.example");
    EXPECT_NE(out.find("Cipher is TLS_AES_128_GCM_SHA256"), std::string::npos) << out;
    out = s_client(0,
                   "-tls1_3 -servername a.example -ciphersuites "
                   "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256");
    EXPECT_NE(out.find("Cipher is TLS_CHACHA20_POLY1305_SHA256"), std::string::npos) << out;
    EXPECT_NE(out.find("Sitemap:"), std::string::npos) << out;
}

TEST_F(EdgeTls, SniChoosesTheCertificate) {
    std::string out = s_client(0, "-servername a.example");
    EXPECT_NE(out.find("CN = a.example"), std::string::npos) << out;
    out = s_client(0, "-servername x.w.example");
    EXPECT_NE(out.find("CN = w.example"), std::string::npos) << out;
    // "*.w.example" covers exactly one label.
    out = s_client(0, "-servername a.b.w.example");
    EXPECT_NE(out.find("CN = a.example"), std::string::npos) << out;
    out = s_client(0, "-noservername");
    EXPECT_NE(out.find("CN = a.example"), std::string::npos) << out;
}

// HTTP/2 is on by default: a client offering both gets h2, one offering http/1.1 gets that.
TEST_F(EdgeTls, AlpnPrefersH2AndServesHttp11ToWhoAsks) {
    std::string out = s_client(0, "-servername a.example -alpn h2,http/1.1");
    EXPECT_NE(out.find("ALPN protocol: h2"), std::string::npos) << out;
    out = s_client(0, "-servername a.example -alpn http/1.1");
    EXPECT_NE(out.find("ALPN protocol: http/1.1"), std::string::npos) << out;
}

TEST_F(EdgeTls, CurlGetsTheSiteWithHstsAndVerifiedCertificate) {
    const std::string out = curl(0, "-i --http1.1 --tlsv1.3", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK")) << out;
    EXPECT_NE(out.find("Strict-Transport-Security: max-age=63072000"), std::string::npos);
    EXPECT_NE(out.find("Sitemap:"), std::string::npos);
    const std::string body = curl(0, "--tlsv1.2 --tls-max 1.2", "/assets/img/content-store.png");
    EXPECT_EQ(sha256_hex_of(body),
              sha256_hex_of(read_file_bytes(source_dir() + "/site/assets/img/content-store.png")));
}

TEST_F(EdgeTls, RangesAndConditionalsOverHttps) {
    const std::string full = read_file_bytes(source_dir() + "/site/robots.txt");
    std::string out = curl(0, "-r 0-9", "/robots.txt");
    EXPECT_EQ(out, full.substr(0, 10));
    const std::string etag = "\"" + sha256_hex_of(full) + "\"";
    out = curl(0, "-i --http1.1 -H 'If-None-Match: " + etag + "'", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/1.1 304")) << out;
}

TEST_F(EdgeTls, TicketFromOneProcessResumesOnAnother) {
    const std::string sess = (dir_ / "sess.pem").string();
    std::string out = s_client(0, "-tls1_3 -servername a.example -sess_out " + sess);
    ASSERT_NE(out.find("Sitemap:"), std::string::npos) << out;
    out = s_client(1, "-tls1_3 -servername a.example -sess_in " + sess);
    EXPECT_NE(out.find("Reused, TLSv1.3"), std::string::npos) << out;
    // TLS 1.2 tickets too.
    out = s_client(0, "-tls1_2 -servername a.example -sess_out " + sess);
    out = s_client(1, "-tls1_2 -servername a.example -sess_in " + sess);
    EXPECT_NE(out.find("Reused, TLSv1.2"), std::string::npos) << out;
}

// How many tickets a handshake gets and their lifetime come from the config, as nginx's
// ssl_session_tickets and ssl_session_timeout.
TEST_F(EdgeTls, TicketCountAndLifetimeComeFromTheConfig) {
    const std::string site = source_dir() + "/site";
    auto s_client_to = [](const EdgeProcess& edge, const std::string& version) {
        return run_command(
            "printf 'GET /robots.txt HTTP/1.1\\r\\nHost: a.example\\r\\nConnection: "
            "close\\r\\n\\r\\n' | timeout 10 openssl s_client -ign_eof " +
            version + " -connect 127.0.0.1:" + std::to_string(edge.port()));
    };
    auto count = [](const std::string& text, const std::string& what) {
        size_t n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
            ++n;
        }
        return n;
    };
    const auto two = start_edge(site, "two-tickets",
                                R"("tls_tickets_per_handshake": 2, "tls_session_lifetime_s": 600)");
    ASSERT_TRUE(two->started()) << two->log();
    std::string out = s_client_to(*two, "-tls1_3");
    EXPECT_EQ(count(out, "Post-Handshake New Session Ticket arrived"), 2u) << out;
    EXPECT_NE(out.find("TLS session ticket lifetime hint: 600"), std::string::npos) << out;

    const auto none = start_edge(site, "no-tickets", R"("tls_tickets_per_handshake": 0)");
    ASSERT_TRUE(none->started()) << none->log();
    out = s_client_to(*none, "-tls1_3");
    EXPECT_NE(out.find("Sitemap:"), std::string::npos) << out;
    EXPECT_EQ(count(out, "Post-Handshake New Session Ticket arrived"), 0u) << out;
    out = s_client_to(*none, "-tls1_2");
    EXPECT_NE(out.find("Sitemap:"), std::string::npos) << out;
    EXPECT_EQ(out.find("TLS session ticket:"), std::string::npos) << out;
}

// TLS 1.3 tickets normally ride with the first response; a client that completes the
// handshake and sends nothing (a browser's preconnect) still gets one once it is idle.
TEST_F(EdgeTls, IdleTls13ConnectionStillGetsATicket) {
    const std::string sess = (dir_ / "idle.pem").string();
    run_command("(sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:" + port(0) +
                " -tls1_3 -servername a.example -sess_out " + sess);
    const std::string out = s_client(1, "-tls1_3 -servername a.example -sess_in " + sess);
    EXPECT_NE(out.find("Reused, TLSv1.3"), std::string::npos) << out;
}

// RFC 8446 §6.1: a close_notify closes only its sender's write side. A client may send it right
// after its request and still read the answer, whenever its alert reaches the server: before
// the response, while it is being sent, or just as the server closes.
TEST_F(EdgeTls, HalfClosingTls13ClientReadsTheWholeResponse) {
    const std::string body = read_file_bytes(source_dir() + "/site/robots.txt");
    ASSERT_FALSE(body.empty());
    const ClientContext ctx = client_context();
    ASSERT_TRUE(ctx);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    const std::string request =
        "GET /robots.txt HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n";
    int failures = 0;
    std::string first_failure;
    for (int i = 0; i < 300; ++i) {
        RawClient c(edges_[0]->port());
        ASSERT_TRUE(c.connected());
        const int one = 1;  // the alert leaves when written, not when the request is acked
        setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const ClientSsl ssl = connect_tls(ctx.get(), c);
        ASSERT_TRUE(ssl) << "connection " << i;
        ASSERT_EQ(SSL_write(ssl.get(), request.data(), int(request.size())), int(request.size()));
        // The alert follows the request after 0-99 us: it lands at a different point of the
        // server's work each time.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(i % 100);
        while (std::chrono::steady_clock::now() < until) {
        }
        SSL_shutdown(ssl.get());
        std::string got;
        char buf[16384];
        int n;
        while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) got.append(buf, size_t(n));
        const bool whole = got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\n" + body);
        if (!whole && failures++ == 0) {
            first_failure = "connection " + std::to_string(i) + ": " + std::to_string(got.size()) +
                            " bytes, SSL error " + std::to_string(SSL_get_error(ssl.get(), n));
        }
    }
    EXPECT_EQ(failures, 0) << first_failure;
}

// Slowloris over TLS: the header timeout runs from accept, so a ClientHello dribbled in a byte
// at a time (each byte resetting the idle clock) is closed too, while others are served; and
// after the handshake, from the first byte of a request's record.
TEST_F(EdgeTls, HandshakeOrRecordDribbledInIsClosedByTheHeaderTimeout) {
    const auto edge = start_edge(source_dir() + "/site", "dribble",
                                 R"("header_timeout_ms": 400, "idle_timeout_ms": 60000)");
    ASSERT_TRUE(edge->started()) << edge->log();
    // A real ClientHello.
    MemoryTlsClient hello_client;
    ASSERT_EQ(SSL_connect(hello_client.ssl()), -1);  // wants the server's answer
    const std::string hello = hello_client.take_output();
    ASSERT_GT(hello.size(), 100u);

    RawClient slow(edge->port());
    ASSERT_TRUE(slow.connected());
    bool closed = false;
    // 40 bytes, one per 100 ms: 4 s, ten times the header timeout.
    for (size_t i = 0; i < 40 && !closed; ++i) {
        closed = !slow.send_all(hello.substr(i, 1)) ||
                 slow.closed_by_peer(std::chrono::milliseconds(100));
        if (i == 1) {  // the slow one is open (the timeout is 400 ms): others are served
            const std::string served = run_command(
                "timeout 10 curl -s -o /dev/null -w '%{http_code}' --cacert " +
                (dir_ / "a.pem").string() + " --resolve a.example:" + std::to_string(edge->port()) +
                ":127.0.0.1 https://a.example:" + std::to_string(edge->port()) + "/robots.txt");
            EXPECT_EQ(served, "200");
        }
    }
    EXPECT_TRUE(closed) << "a handshake dribbled in for 4 s is still open";

    // After the handshake: a request whose one TLS record is dribbled in. No plaintext reaches
    // HTTP until the record is whole, yet the header timeout still runs from its first byte.
    RawClient tcp(edge->port());
    ASSERT_TRUE(tcp.connected());
    MemoryTlsClient client;
    for (int i = 0; i < 50 && SSL_connect(client.ssl()) != 1; ++i) {
        ASSERT_EQ(SSL_get_error(client.ssl(), -1), SSL_ERROR_WANT_READ);
        ASSERT_TRUE(tcp.send_all(client.take_output()));
        pollfd pfd{tcp.fd(), POLLIN, 0};
        ASSERT_EQ(poll(&pfd, 1, 5000), 1);
        char buf[16384];
        const ssize_t n = recv(tcp.fd(), buf, sizeof buf, 0);
        ASSERT_GT(n, 0);
        client.give_input(buf, size_t(n));
    }
    ASSERT_TRUE(SSL_is_init_finished(client.ssl()));
    ASSERT_TRUE(tcp.send_all(client.take_output()));  // the client's Finished
    const std::string request = "GET /robots.txt HTTP/1.1\r\nHost: a.example\r\n\r\n";
    ASSERT_EQ(SSL_write(client.ssl(), request.data(), int(request.size())), int(request.size()));
    const std::string record = client.take_output();
    ASSERT_GT(record.size(), request.size());
    closed = false;
    for (size_t i = 0; i + 1 < record.size() && i < 40 && !closed; ++i) {
        closed = !tcp.send_all(record.substr(i, 1)) ||
                 tcp.closed_by_peer(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(closed) << "a request record dribbled in for 4 s is still open";
    EXPECT_EQ(edge->stop(), 0) << edge->log();
}

// Over TLS as over plain HTTP: a client that completes the handshake, asks for a file larger
// than both socket buffers hold and never reads is dropped by the send timeout, and another
// client is served meanwhile.
TEST_F(EdgeTls, ReaderThatNeverReadsIsDroppedWithoutStallingOthers) {
    const fs::path site = dir_ / "stall-site";
    fs::create_directories(site);
    std::ofstream(site / "index.html") << "hello\n";
    const size_t huge = size_t(48) << 20;
    std::ofstream(site / "huge.bin", std::ios::binary) << std::string(huge, 'x');
    const auto edge = start_edge(site, "stall", R"("send_timeout_ms": 600)");
    ASSERT_TRUE(edge->started()) << edge->log();

    const TlsConnection stalled = open_tls(edge->port());
    ASSERT_TRUE(stalled.ssl);
    const std::string request = "GET /huge.bin HTTP/1.1\r\nHost: a.example\r\n\r\n";
    ASSERT_EQ(SSL_write(stalled.ssl.get(), request.data(), int(request.size())),
              int(request.size()));

    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string other =
        run_command("timeout 10 curl -s --cacert " + (dir_ / "a.pem").string() +
                    " --resolve a.example:" + std::to_string(edge->port()) +
                    ":127.0.0.1 https://a.example:" + std::to_string(edge->port()) + "/index.html");
    EXPECT_EQ(other, "hello\n");

    // Send timeout 600 ms, swept every 250 ms: reading now ends early, with a reset or EOF.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const std::string got = stalled.tcp->read_until_close(std::chrono::seconds(10));
    EXPECT_LT(got.size(), huge);
    EXPECT_TRUE(stalled.tcp->closed_by_peer());
    EXPECT_EQ(edge->stop(), 0) << edge->log();
}

// The same when the send stalls in a response's last piece, the one cdn-edge sends with the
// close linked behind it: with send_buffer 4096 and a 4 KiB receive buffer, neither 40 KiB
// (one piece, the last) nor 400 KiB (stalls earlier) fits, and both readers must be dropped.
TEST_F(EdgeTls, ReaderThatNeverReadsTheLastPieceIsDropped) {
    const fs::path site = dir_ / "last-piece-site";
    fs::create_directories(site);
    const std::vector<size_t> sizes = {40 * 1024, 400 * 1024};
    for (size_t size : sizes) {
        std::ofstream(site / (std::to_string(size) + ".bin"), std::ios::binary)
            << std::string(size, 'x');
    }
    const auto edge =
        start_edge(site, "last-piece", R"("send_timeout_ms": 600, "send_buffer": 4096)");
    ASSERT_TRUE(edge->started()) << edge->log();

    std::vector<TlsConnection> clients;
    for (size_t size : sizes) {
        clients.push_back(open_tls(edge->port(), 4096));
        SSL* ssl = clients.back().ssl.get();
        ASSERT_NE(ssl, nullptr);
        const std::string request = "GET /" + std::to_string(size) +
                                    ".bin HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n";
        ASSERT_EQ(SSL_write(ssl, request.data(), int(request.size())), int(request.size()));
    }
    // Send timeout 600 ms, swept every 250 ms: reading now ends early, with a reset or EOF.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    for (size_t i = 0; i < sizes.size(); ++i) {
        const std::string got = clients[i].tcp->read_until_close(std::chrono::seconds(10));
        EXPECT_TRUE(clients[i].tcp->closed_by_peer()) << sizes[i] << ": still open";
        EXPECT_LT(got.size(), sizes[i]) << sizes[i] << ": all of it arrived; not dropped";
    }
    EXPECT_EQ(edge->stop(), 0) << edge->log();
}

// Large responses on connections that close after them, through a small send buffer: the
// ciphertext goes out in many partial sends and wraps around the TLS output ring, and the last
// piece (sent with the close linked behind it) must still be all of what is left.
TEST_F(EdgeTls, LargeResponsesBeforeACloseArriveWhole) {
    const fs::path site = dir_ / "large-site";
    fs::create_directories(site);
    std::mt19937_64 rng(42);
    const std::vector<size_t> sizes = {1000003, 2500017, 3333331};
    for (size_t size : sizes) {
        std::string bytes(size, '\0');
        for (char& b : bytes) b = char(rng());
        std::ofstream(site / (std::to_string(size) + ".bin"), std::ios::binary) << bytes;
    }
    const auto edge = start_edge(site, "large", R"("send_buffer": 4096)");
    ASSERT_TRUE(edge->started()) << edge->log();
    const std::string port = std::to_string(edge->port());
    for (int round = 0; round < 3; ++round) {
        for (size_t size : sizes) {
            const fs::path out = dir_ / "large.out";
            run_command("timeout 20 curl -s -H 'Connection: close' -o " + out.string() +
                        " --cacert " + (dir_ / "a.pem").string() + " --resolve a.example:" + port +
                        ":127.0.0.1 https://a.example:" + port + "/" + std::to_string(size) +
                        ".bin");
            const std::string got = read_file_bytes(out);
            EXPECT_EQ(got.size(), size) << "round " << round;
            EXPECT_EQ(sha256_hex_of(got),
                      sha256_hex_of(read_file_bytes(site / (std::to_string(size) + ".bin"))))
                << size << " round " << round;
        }
    }
    EXPECT_EQ(edge->stop(), 0) << edge->log();
}

// A certificate renewed in place, as certbot does it (new files at the same paths), goes to new
// connections after SIGHUP or POST /reload, without a restart; a keep-alive connection opened
// before is still served. Files that do not load (half written, key not yet renewed) leave the
// current certificate serving. /status and /metrics say what is served, until when, and how
// reloads went.
TEST_F(EdgeTls, RenewedCertificateIsServedAfterSighup) {
    const fs::path d = dir_ / "renew";
    fs::create_directories(d);
    for (const std::string stem : {"old", "new"}) {
        run_command(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            "-subj /CN=a.example -addext subjectAltName=DNS:a.example -keyout " +
            (d / stem).string() + ".key -out " + (d / stem).string() + ".pem 2>&1");
    }
    fs::copy_file(d / "old.pem", d / "live.pem");
    fs::copy_file(d / "old.key", d / "live.key");
    const auto edge = start_edge(source_dir() + "/site", "renew", R"("admin": "127.0.0.1:0")",
                                 d / "live.pem", d / "live.key", 3);
    ASSERT_TRUE(edge->started()) << edge->log();
    ASSERT_NE(edge->port_of("admin"), 0);
    auto status = [&] { return admin_request(edge->port_of("admin"), "GET", "/status").body; };
    auto metrics = [&] { return admin_request(edge->port_of("admin"), "GET", "/metrics").body; };
    EXPECT_NE(status().find(R"("file":")" + (d / "live.pem").string() +
                            R"(","key_type":"EC","names":["a.example"],"not_after":)"),
              std::string::npos)
        << status();

    const std::string fingerprint = "openssl x509 -noout -fingerprint -sha256";
    auto served = [&] {
        return run_command(
            "timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(edge->port()) +
            " -servername a.example </dev/null 2>/dev/null | " + fingerprint);
    };
    auto of_file = [&](const char* stem) {
        return run_command(fingerprint + " -in " + (d / stem).string() + ".pem");
    };
    ASSERT_EQ(served(), of_file("old"));
    // SIGHUP, then wait (bounded) for the edge to say how the reload went.
    auto sighup = [&](const std::string& expect) {
        const size_t before = edge->log().size();
        kill(edge->pid(), SIGHUP);
        for (int i = 0; i < 100 && edge->log().find(expect, before) == std::string::npos; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return edge->log().find(expect, before) != std::string::npos;
    };

    // A keep-alive connection made with the old certificate.
    const TlsConnection old = open_tls(edge->port());
    ASSERT_TRUE(old.ssl);
    SSL* const ssl = old.ssl.get();
    auto get_on_old_connection = [&] {
        const std::string request = "GET /robots.txt HTTP/1.1\r\nHost: a.example\r\n\r\n";
        if (SSL_write(ssl, request.data(), int(request.size())) != int(request.size())) {
            return std::string("write failed");
        }
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos ||
               got.size() <
                   got.find("\r\n\r\n") + 4 + std::stoul("0" + header_of(got, "Content-Length"))) {
            const int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) return got + " (read ended)";
            got.append(buf, size_t(n));
        }
        return got.substr(0, got.find("\r\n"));
    };
    ASSERT_EQ(get_on_old_connection(), "HTTP/1.1 200 OK");

    fs::copy_file(d / "new.pem", d / "live.pem", fs::copy_options::overwrite_existing);
    fs::copy_file(d / "new.key", d / "live.key", fs::copy_options::overwrite_existing);
    ASSERT_TRUE(sighup("SIGHUP: certificates reloaded")) << edge->log();
    EXPECT_EQ(served(), of_file("new"));
    EXPECT_EQ(get_on_old_connection(), "HTTP/1.1 200 OK");
    EXPECT_NE(status().find(R"("certificate_reload_failures":0,"certificate_reloads":1)"),
              std::string::npos)
        << status();
    // The new certificate's expiry, as openssl prints it ("notAfter=Nov 26 21:50:00 2026 GMT").
    const std::string end =
        run_command("openssl x509 -noout -enddate -in " + (d / "new.pem").string());
    std::tm tm{};
    ASSERT_NE(strptime(end.c_str(), "notAfter=%b %d %H:%M:%S %Y GMT", &tm), nullptr) << end;
    EXPECT_NE(
        metrics().find("anyedge_tls_certificate_not_after_seconds{file=\"" +
                       (d / "live.pem").string() + "\"} " + std::to_string(timegm(&tm)) + "\n"),
        std::string::npos)
        << metrics();

    // Half written: refused, the new certificate stays.
    std::ofstream(d / "live.pem", std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nMIIB\n";
    EXPECT_TRUE(sighup("SIGHUP: certificates not reloaded")) << edge->log();
    EXPECT_EQ(served(), of_file("new"));
    // A renewed certificate whose key is not there yet: refused too.
    fs::copy_file(d / "old.pem", d / "live.pem", fs::copy_options::overwrite_existing);
    EXPECT_TRUE(sighup("does not match")) << edge->log();
    EXPECT_EQ(served(), of_file("new"));
    EXPECT_EQ(get_on_old_connection(), "HTTP/1.1 200 OK");
    const std::string after_failures = status();
    EXPECT_NE(after_failures.find(R"("certificate_reload_failures":2,"certificate_reloads":1)"),
              std::string::npos)
        << after_failures;
    EXPECT_NE(after_failures.find("does not match"), std::string::npos) << after_failures;
    EXPECT_NE(metrics().find("anyedge_tls_certificate_reload_failures_total 2\n"),
              std::string::npos);
    // A client that speaks only TLS 1.1 fails its handshake, and is counted.
    run_command("timeout 10 openssl s_client -tls1_1 -connect 127.0.0.1:" +
                std::to_string(edge->port()) + " </dev/null 2>&1");
    EXPECT_NE(metrics().find("anyedge_tls_handshake_failures_total 1\n"), std::string::npos)
        << metrics();

    // Its key arrives: POST /reload (what cdn-sync sends after a publish) picks it up too.
    fs::copy_file(d / "old.key", d / "live.key", fs::copy_options::overwrite_existing);
    EXPECT_EQ(admin_request(edge->port_of("admin"), "POST", "/reload").status(), 200);
    EXPECT_EQ(served(), of_file("old"));
    EXPECT_EQ(status().find("last_certificate_error"), std::string::npos) << status();
    EXPECT_EQ(edge->stop(), 0) << edge->log();
}

TEST_F(EdgeTls, PlainHttpOnTheTlsPortIsRefused) {
    RawClient c(edges_[0]->port());
    c.send_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const std::string r = c.read_until_close(std::chrono::seconds(5));
    EXPECT_EQ(r.find("HTTP/1.1 200"), std::string::npos);
    EXPECT_TRUE(c.closed_by_peer());
}

// With no certificate configured (README's run command), HTTPS works out of the box with a
// self-signed certificate for localhost; /status names it for what it is, not by the file it
// was read from (removed once loaded, so no copy of the key stays on disk).
TEST_F(EdgeTls, WithoutACertificateASelfSignedOneServesLocalhost) {
    EdgeProcess edge(
        edge_binary(),
        {"--site", source_dir() + "/site", "--tls-listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"},
        3);
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string port = std::to_string(edge.port(0));
    EXPECT_EQ(run_command("timeout 10 curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1:" +
                          port + "/"),
              "200");
    const std::string subject =
        run_command("timeout 10 openssl s_client -connect 127.0.0.1:" + port +
                    " -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -ext "
                    "subjectAltName");
    EXPECT_NE(subject.find("DNS:localhost"), std::string::npos) << subject;
    EXPECT_NE(subject.find("IP Address:127.0.0.1"), std::string::npos) << subject;
    const std::string status = admin_request(edge.port_of("admin"), "GET", "/status").body;
    EXPECT_NE(status.find(R"("file":"self-signed for localhost, made at start","key_type":"EC")"),
              std::string::npos)
        << status;
    EXPECT_EQ(status.find("cdn-edge-selfsigned"), std::string::npos) << status;
    EXPECT_EQ(edge.stop(), 0) << edge.log();
}

}  // namespace
}  // namespace anyedge::testing
