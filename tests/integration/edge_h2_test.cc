// cdn-edge speaking HTTP/2 (`"http2": true`) to real clients: curl, h2load, s_client, and a
// hand-driven OpenSSL client for what they cannot do (send half a frame and wait).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "edge/io/ring.h"
#include "tests/integration/edge_process.h"

#include <poll.h>

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

class EdgeH2 : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (const std::string why = io::probe_io_uring_support(); !why.empty()) {
            skip_ = "io_uring unavailable: " + why;
            return;
        }
        dir_ = fs::temp_directory_path() / ("anyedge-h2-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "site");
        const std::string d = dir_.string();
        make_test_certificate(dir_, "a", "a.example");
        fs::copy(source_dir() + "/site", dir_ / "site", fs::copy_options::recursive);
        std::mt19937_64 rng(7);
        std::string big(3 * 1024 * 1024 + 11, '\0');
        for (char& c : big) c = static_cast<char>(rng());
        std::ofstream(dir_ / "site" / "big.bin", std::ios::binary) << big;
        std::ofstream(dir_ / "upload.token") << "upl0ad\n";
        std::ofstream(dir_ / "h2.json")
            << R"({"site": ")" << d << R"(/site", "tls_listen": "127.0.0.1:0", "cert": [")" << d
            << R"(/a.pem"], "key": [")" << d << R"(/a.key"], "http2": true,
               "hsts": "max-age=63072000", "header_timeout_ms": 500,
               "access_log": ")"
            << d << R"(/access.log"})";
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(), std::vector<std::string>{"--config", d + "/h2.json"}, 1);
    }
    static void TearDownTestSuite() {
        edge_.reset();
        if (!dir_.empty()) fs::remove_all(dir_);
    }
    void SetUp() override {
        if (!skip_.empty()) {
            if (std::getenv("ANYEDGE_REQUIRE_URING")) FAIL() << skip_;
            GTEST_SKIP() << skip_;
        }
        ASSERT_TRUE(edge_->started()) << edge_->log();
    }
    static std::string port() { return std::to_string(edge_->port()); }
    static std::string url(const std::string& path) { return "https://a.example:" + port() + path; }
    static std::string curl(const std::string& args, const std::string& path) {
        return run_command("timeout 20 curl -s --cacert " + (dir_ / "a.pem").string() +
                           " --resolve a.example:" + port() + ":127.0.0.1 " + args + " " +
                           url(path));
    }

    static inline fs::path dir_;
    static inline std::string skip_;
    static inline std::unique_ptr<EdgeProcess> edge_;
};

TEST_F(EdgeH2, CurlGetsTheSameAnswersOverHttp2) {
    std::string out = curl("--http2 -i", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/2 200")) << out;
    EXPECT_NE(out.find("strict-transport-security: max-age=63072000"), std::string::npos) << out;
    EXPECT_NE(out.find("x-content-type-options: nosniff"), std::string::npos) << out;
    EXPECT_EQ(out.find("connection:"), std::string::npos) << out;
    EXPECT_NE(out.find("Sitemap:"), std::string::npos) << out;

    const std::string full = read_file_bytes((dir_ / "site" / "robots.txt").string());
    EXPECT_EQ(curl("--http2 -r 0-9", "/robots.txt"), full.substr(0, 10));
    const std::string etag = "\"" + sha256_hex_of(full) + "\"";
    out = curl("--http2 -i -H 'If-None-Match: " + etag + "'", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/2 304")) << out;
    out = curl("--http2 -i -X FOO", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/2 501")) << out;

    // The same listener still speaks HTTP/1.1 to a client that asks for it.
    out = curl("--http1.1 -i", "/robots.txt");
    EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK")) << out;

    // The access log says which protocol each request came in.
    std::string log;
    for (int i = 0; i < 50 && log.find("\"version\":\"2\"") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        log = read_file_bytes((dir_ / "access.log").string());
    }
    EXPECT_NE(log.find("\"version\":\"2\""), std::string::npos) << log;
    EXPECT_NE(log.find("\"version\":\"1.1\""), std::string::npos) << log;
}

TEST_F(EdgeH2, AlpnOffersH2FirstThenHttp11) {
    auto s_client = [](const std::string& alpn) {
        return run_command("timeout 10 openssl s_client -connect 127.0.0.1:" + port() +
                           " -servername a.example -alpn " + alpn + " </dev/null 2>&1");
    };
    EXPECT_NE(s_client("h2,http/1.1").find("ALPN protocol: h2"), std::string::npos);
    EXPECT_NE(s_client("http/1.1").find("ALPN protocol: http/1.1"), std::string::npos);
}

TEST_F(EdgeH2, ALargeFileArrivesWholeOverHttp2) {
    const std::string body = curl("--http2", "/big.bin");
    EXPECT_EQ(body.size(), fs::file_size(dir_ / "site" / "big.bin"));
    EXPECT_EQ(sha256_hex_of(body),
              sha256_hex_of(read_file_bytes((dir_ / "site" / "big.bin").string())));
}

// Many concurrent streams on few connections, as a browser opens them.
TEST_F(EdgeH2, ManyStreamsOnFewConnections) {
    const std::string out = run_command("timeout 60 h2load -n 600 -c 2 -m 32 " + url("/") +
                                        " --connect-to=127.0.0.1:" + port() + " 2>&1");
    EXPECT_NE(out.find("600 total, 600 started, 600 done, 600 succeeded, 0 failed, 0 errored"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("status codes: 600 2xx"), std::string::npos) << out;
}

// A TLS connection that negotiated h2, driven by hand.
struct H2Client {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    RawClient tcp;
    SSL* ssl = nullptr;
    explicit H2Client(uint16_t port) : tcp(port) {
        static const unsigned char kH2[] = {2, 'h', '2'};
        ssl = SSL_new(ctx);
        SSL_set_alpn_protos(ssl, kH2, sizeof kH2);
        SSL_set_tlsext_host_name(ssl, "a.example");
        SSL_set_fd(ssl, tcp.fd());
        if (SSL_connect(ssl) != 1) {
            SSL_free(ssl);
            ssl = nullptr;
        }
    }
    ~H2Client() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    bool send(const std::string& bytes) {
        return SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) ==
               static_cast<int>(bytes.size());
    }
    // True when the server closes the connection within `limit` (reading and dropping frames).
    bool closed_within(std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        char buf[4096];
        while (std::chrono::steady_clock::now() < end) {
            pollfd p{tcp.fd(), POLLIN, 0};
            if (SSL_pending(ssl) == 0 && poll(&p, 1, 50) <= 0) continue;
            const int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) return true;
        }
        return false;
    }
};

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const std::string kEmptySettings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);

// Slowloris over HTTP/2: a HEADERS frame that never completes is cut off by the header
// timeout (500 ms here), while an HTTP/2 connection with nothing half-sent is left alone.
TEST_F(EdgeH2, AHalfSentFrameIsClosedByTheHeaderTimeout) {
    H2Client idle(edge_->port());
    H2Client slow(edge_->port());
    ASSERT_TRUE(idle.ssl && slow.ssl);
    ASSERT_TRUE(idle.send(kPreface + kEmptySettings));
    ASSERT_TRUE(slow.send(kPreface + kEmptySettings));
    // A HEADERS frame announcing 32 bytes of header block, of which one arrives.
    ASSERT_TRUE(slow.send(std::string("\x00\x00\x20\x01\x05\x00\x00\x00\x01", 9) + "\x82"));
    // Closed by the edge: the bound is twenty times the timeout, far below the idle timeout.
    EXPECT_TRUE(slow.closed_within(std::chrono::seconds(10)));
    EXPECT_FALSE(idle.closed_within(std::chrono::milliseconds(300)));
    // And others are served meanwhile.
    EXPECT_TRUE(curl("--http2 -i", "/robots.txt").starts_with("HTTP/2 200"));
}

// HTTP/1.1 bytes on a connection that agreed on h2: a protocol error, GOAWAY, closed.
TEST_F(EdgeH2, Http11AfterAgreeingOnH2IsAProtocolError) {
    H2Client c(edge_->port());
    ASSERT_TRUE(c.ssl);
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    EXPECT_TRUE(c.closed_within(std::chrono::seconds(4)));
    EXPECT_TRUE(curl("--http2 -i", "/robots.txt").starts_with("HTTP/2 200"));
}

// The origin role takes uploads over HTTP/2 too: request bodies reach the handler.
TEST_F(EdgeH2, UploadsOverHttp2) {
    const std::string d = dir_.string();
    fs::create_directories(dir_ / "origin");
    EdgeProcess origin(
        edge_binary(),
        {"--site", d + "/origin", "--tls-listen", "127.0.0.1:0", "--cert", d + "/a.pem", "--key",
         d + "/a.key", "--http2", "--upload-token-file", d + "/upload.token"},
        1);
    ASSERT_TRUE(origin.started()) << origin.log();
    const std::string base =
        "timeout 20 curl -s -o /dev/null -w '%{http_version} %{http_code}' "
        "--cacert " +
        d + "/a.pem --resolve a.example:" + std::to_string(origin.port()) +
        ":127.0.0.1 --http2 -X PUT ";
    const std::string sha = sha256_hex_of("hello");
    const std::string blob = "https://a.example:" + std::to_string(origin.port()) +
                             "/objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
    EXPECT_EQ(run_command(base + "--data-binary hello " + blob), "2 401");
    EXPECT_EQ(run_command(base + "-H 'Authorization: Bearer upl0ad' --data-binary hellO " + blob),
              "2 400");
    EXPECT_EQ(run_command(base + "-H 'Authorization: Bearer upl0ad' --data-binary hello " + blob),
              "2 201");
    EXPECT_EQ(
        read_file_bytes(d + "/origin/objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2)),
        "hello");
}

}  // namespace
}  // namespace anyedge::testing
