// cdn-edge speaking HTTP/3 to a real QUIC client: Debian's gtlsclient (ngtcp2's example client
// on GnuTLS). HTTP/3 is on by default on the UDP side of every TLS listener.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "edge/io/ring.h"
#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

size_t count_of(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + 1)) {
        ++n;
    }
    return n;
}

// gtlsclient comes with README's test command (.ci/install-deps.sh): missing, a test fails
// under CI rather than pass by skipping.
#define REQUIRE_GTLSCLIENT()                                                                \
    do {                                                                                    \
        if (run_command("command -v gtlsclient").empty()) {                                 \
            if (std::getenv("ANYEDGE_REQUIRE_URING")) FAIL() << "gtlsclient not installed"; \
            GTEST_SKIP() << "gtlsclient (Debian package ngtcp2-client) is not installed";   \
        }                                                                                   \
    } while (0)

// An edge of its own for one test: the bundled site on a TLS port (and its UDP side), an admin
// port, and `settings` (JSON members) on top.
std::unique_ptr<EdgeProcess> edge_with(const fs::path& dir, const std::string& settings) {
    std::ofstream(dir / "cfg.json")
        << R"({"site": ")" << source_dir() << R"(/site", "tls_listen": "127.0.0.1:0",
        "admin": "127.0.0.1:0", )"
        << settings << "}";
    return std::make_unique<EdgeProcess>(
        edge_binary(), std::vector<std::string>{"--config", (dir / "cfg.json").string()}, 3);
}

class EdgeH3 : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (const std::string why = io::probe_io_uring_support(); !why.empty()) {
            skip_ = "io_uring unavailable: " + why;
            return;
        }
        if (run_command("command -v gtlsclient").empty()) {
            skip_ = "gtlsclient (Debian package ngtcp2-client) is not installed";
            return;
        }
        dir_ = fs::temp_directory_path() / ("anyedge-h3-" + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "site");
        const std::string d = dir_.string();
        make_test_certificate(dir_, "a", "a.example");
        fs::copy(source_dir() + "/site", dir_ / "site", fs::copy_options::recursive);
        std::mt19937_64 rng(11);
        std::string big(2 * 1024 * 1024 + 7, '\0');
        for (char& c : big) c = static_cast<char>(rng());
        std::ofstream(dir_ / "site" / "big.bin", std::ios::binary) << big;
        std::ofstream(dir_ / "h3.json")
            << R"({"site": ")" << d << R"(/site", "tls_listen": "127.0.0.1:0", "cert": [")" << d
            << R"(/a.pem"], "key": [")" << d << R"(/a.key"], "access_log": ")" << d
            << R"(/access.log", "admin": "127.0.0.1:0", "compress": true})";
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(), std::vector<std::string>{"--config", d + "/h3.json"}, 3);
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
    static uint16_t port_of(const std::string& kind) { return edge_->port_of(kind); }
    static std::string port() { return std::to_string(port_of("https")); }
    // gtlsclient's dump: response fields as "http: stream 0x0 [name: value]" lines; bodies into
    // `download` when given. Bounded by its idle timeout and ours.
    static std::string h3(const std::string& args, const std::string& path,
                          const fs::path& download = {}) {
        std::string cmd =
            "timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump "
            "--no-http-dump --timeout=5s " +
            args;
        if (!download.empty()) cmd += " --download=" + download.string();
        return run_command(cmd + " 127.0.0.1 " + port() + " https://a.example:" + port() + path +
                           " 2>&1");
    }
    static std::string metrics() {
        return run_command(
            "timeout 10 curl -s http://127.0.0.1:" + std::to_string(port_of("admin")) + "/metrics");
    }

    static inline fs::path dir_;
    static inline std::string skip_;
    static inline std::unique_ptr<EdgeProcess> edge_;
};

TEST_F(EdgeH3, ServesTheSameBytesAsOverTcp) {
    const fs::path dl = dir_ / "dl-same";
    fs::create_directories(dl);
    for (const std::string path : {"/index.html", "/big.bin"}) {
        const std::string out = h3("", path, dl);
        EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
        const std::string name = fs::path(path).filename().string();
        EXPECT_EQ(read_file_bytes(dl / name), read_file_bytes(dir_ / "site" / path.substr(1)))
            << path;
    }
    // The access log says which protocol carried each request.
    const std::string log = read_file_bytes(dir_ / "access.log");
    EXPECT_NE(log.find(R"("target":"/big.bin","version":"3","status":200,"bytes":2097159)"),
              std::string::npos)
        << log;
}

TEST_F(EdgeH3, AnswersLikeTheOtherProtocols) {
    std::string out = h3("", "/no-such-page");
    EXPECT_NE(out.find("[:status: 404]"), std::string::npos) << out;
    out = h3("-m HEAD", "/robots.txt");
    EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    EXPECT_NE(out.find("[content-length: " +
                       std::to_string(fs::file_size(dir_ / "site/robots.txt")) + "]"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("[etag: \""), std::string::npos) << out;
    // No connection-specific fields in HTTP/3 (RFC 9114 §4.2).
    EXPECT_EQ(out.find("[connection:"), std::string::npos) << out;
    out = h3("-m DELETE", "/robots.txt");
    EXPECT_NE(out.find("[:status: 405]"), std::string::npos) << out;
}

// bench/h3load sends the fields gtlsclient cannot: the responder's answers are HTTP/3's too.
// More requests on one connection than it may have open at once (100): later requests reuse
// the stream objects of finished ones, and each still gets its own answer, never a leftover.
TEST_F(EdgeH3, ManyRequestsOnOneConnectionEachGetTheirOwnAnswer) {
    const std::string base = "https://a.example:" + port();
    const std::string out = run_command(
        "timeout 30 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump "
        "--timeout=5s -n 250 127.0.0.1 " +
        port() + " " + base + "/robots.txt " + base + "/no-such-page " + base + "/index.html 2>&1");
    // gtlsclient opens streams 0, 4, 8, ... and takes the URIs in turn.
    const std::string expected[3][2] = {
        {"200", std::to_string(fs::file_size(dir_ / "site/robots.txt"))},
        {"404", ""},
        {"200", std::to_string(fs::file_size(dir_ / "site/index.html"))}};
    size_t answered = 0;
    for (size_t i = 0; i < 250; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "stream 0x%zx [", i * 4);
        const std::string status = std::string(id) + ":status: " + expected[i % 3][0] + "]";
        if (out.find(status) == std::string::npos) continue;
        ++answered;
        if (!expected[i % 3][1].empty()) {
            EXPECT_NE(out.find(std::string(id) + "content-length: " + expected[i % 3][1] + "]"),
                      std::string::npos)
                << "request " << i;
        }
    }
    EXPECT_EQ(answered, 250u) << out.substr(0, 4000);
}

TEST_F(EdgeH3, RangesConditionalsEncodingsAndLimitsAnswerAsOverTcp) {
    const std::string h3load = std::string(ANYEDGE_BINARY_DIR) + "/bench/h3load";
    const fs::path body = dir_ / "h3load.body";
    auto get = [&](const std::string& fields, const std::string& path) {
        return run_command("timeout 20 " + h3load + " -n 1 -D 10 --print --body " + body.string() +
                           " " + fields + " https://127.0.0.1:" + port() + path + " 2>&1");
    };
    const std::string full = read_file_bytes(dir_ / "site" / "robots.txt");
    std::string out = get("-H 'Range: bytes=0-9'", "/robots.txt");
    EXPECT_NE(out.find("< :status: 206"), std::string::npos) << out;
    EXPECT_NE(out.find("< content-range: bytes 0-9/" + std::to_string(full.size())),
              std::string::npos)
        << out;
    EXPECT_EQ(read_file_bytes(body), full.substr(0, 10));

    out = get("", "/robots.txt");
    const size_t at = out.find("< etag: ");
    ASSERT_NE(at, std::string::npos) << out;
    const std::string etag = out.substr(at + 8, out.find('\n', at) - at - 8);
    out = get("-H 'If-None-Match: " + etag + "'", "/robots.txt");
    EXPECT_NE(out.find("< :status: 304"), std::string::npos) << out;

    for (const std::string coding : {"zstd", "br", "gzip"}) {
        out = get("-H 'Accept-Encoding: " + coding + "'", "/index.html");
        EXPECT_NE(out.find("< content-encoding: " + coding), std::string::npos) << out;
        EXPECT_NE(out.find("< vary: Accept-Encoding"), std::string::npos) << out;
    }
    // A field section past max_header_bytes (16 KiB): 431, as over TCP.
    out = get("-H 'x-big: " + std::string(20000, 'a') + "'", "/robots.txt");
    EXPECT_NE(out.find("< :status: 431"), std::string::npos) << out;
}

// RFC 9114 §4.1.2: a malformed request is a stream error of type H3_MESSAGE_ERROR (0x10e), never
// an answer and never the end of the connection. h3load sends each case as its connection's
// first request, exactly as written (names as given, pseudo-fields included), then a valid one
// on the same connection, which must be answered.
TEST_F(EdgeH3, MalformedRequestsAreResetWithMessageErrorAndTheConnectionServesOn) {
    const std::string h3load = std::string(ANYEDGE_BINARY_DIR) + "/bench/h3load";
    const std::string get = "-H ':method: GET' -H ':scheme: https' -H ':authority: a.example' ";
    const std::string request = get + "-H ':path: /robots.txt' ";
    const std::pair<const char*, std::string> cases[] = {
        {"an upper-case field name (§4.2)", request + "-H 'Accept: text/plain'"},
        {"connection (§4.2)", request + "-H 'connection: close'"},
        {"keep-alive (§4.2)", request + "-H 'keep-alive: 5'"},
        {"proxy-connection (§4.2)", request + "-H 'proxy-connection: x'"},
        {"transfer-encoding (§4.2)", request + "-H 'transfer-encoding: chunked'"},
        {"upgrade (§4.2)", request + "-H 'upgrade: h2c'"},
        {"te other than trailers (§4.2)", request + "-H 'te: gzip'"},
        {"no :path (§4.3.1)", get},
        {"an empty :path (§4.3.1)", get + "-H ':path: '"},
        {"no :authority nor host (§4.3.1)",
         "-H ':method: GET' -H ':scheme: https' -H ':path: /robots.txt'"},
        {"a :method twice (§4.3.1)", "-H ':method: GET' " + request},
        {"an unknown pseudo-field (§4.3)", request + "-H ':protocol-x: 1'"},
        {"a response pseudo-field (§4.3)", request + "-H ':status: 200'"},
        {"a pseudo-field after a field (§4.3)",
         "-H ':method: GET' -H 'accept: */*' -H ':scheme: https' -H ':authority: a.example' "
         "-H ':path: /robots.txt'"},
    };
    for (const auto& [what, fields] : cases) {
        const std::string out =
            run_command("timeout 20 " + h3load + " -c 1 -m 1 -n 2 -D 10 --raw-first " + fields +
                        " https://127.0.0.1:" + port() + "/robots.txt 2>&1");
        EXPECT_NE(out.find("stream resets: 1, codes 0x10e\n"), std::string::npos) << what << "\n"
                                                                                  << out;
        EXPECT_NE(out.find("requests: 2 total, 1 succeeded, 1 failed"), std::string::npos)
            << what << "\n"
            << out;
        EXPECT_NE(out.find("connections: 1 opened, 0 failed"), std::string::npos) << what << "\n"
                                                                                  << out;
    }
    // The same fields, well formed: answered, nothing reset.
    const std::string out =
        run_command("timeout 20 " + h3load + " -c 1 -m 1 -n 2 -D 10 --raw-first " + request +
                    "-H 'accept: text/plain' https://127.0.0.1:" + port() + "/robots.txt 2>&1");
    EXPECT_NE(out.find("requests: 2 total, 2 succeeded, 0 failed"), std::string::npos) << out;
    EXPECT_EQ(out.find("stream resets"), std::string::npos) << out;
}

// A field whose name or value holds a character RFC 9110 forbids there (CR, a control byte, a
// space in a name) never acts on the response. RFC 9114 §4.1.2 makes such a request malformed;
// Debian 12's nghttp3 0.8 drops the field instead, before the edge sees it, and the request is
// answered as if it were absent. Either answer passes here; applying the field does not: the
// Range below would make a 206.
TEST_F(EdgeH3, AFieldWithForbiddenCharactersIsNeverActedOn) {
    const std::string h3load = std::string(ANYEDGE_BINARY_DIR) + "/bench/h3load";
    const std::string request =
        "-H ':method: GET' -H ':scheme: https' -H ':authority: a.example' "
        "-H ':path: /robots.txt' ";
    for (const std::string field :
         {"\"$(printf 'range: bytes=0-9\\r')\"", "\"$(printf 'range: bytes=0-9\\001')\"",
          "'ran ge: bytes=0-9'", "\"$(printf 'range: bytes=0-9\\r\\nx: y')\""}) {
        const std::string out = run_command(
            "timeout 20 " + h3load + " -c 1 -m 1 -n 2 -D 10 --raw-first --print " + request +
            "-H " + field + " https://127.0.0.1:" + port() + "/robots.txt 2>&1");
        const bool reset = out.find("stream resets: 1, codes 0x10e\n") != std::string::npos;
        const bool ignored = out.find("< :status: 200\n") != std::string::npos;
        EXPECT_TRUE(reset || ignored) << field << "\n" << out;
        EXPECT_EQ(out.find("< :status: 206"), std::string::npos) << field << "\n" << out;
        EXPECT_NE(out.find("connections: 1 opened, 0 failed"), std::string::npos) << field << "\n"
                                                                                  << out;
    }
}

// Path MTU discovery (RFC 9000 §14.3): once a probe is acknowledged, packets grow past QUIC's
// 1,200-byte minimum to the largest size the edge sends (1,452 bytes, ngtcp2's default for a
// 1,500-byte Ethernet path). Before, no probe ever fitted the buffer offered for it.
TEST_F(EdgeH3, PathMtuDiscoveryGrowsPacketsPastTheMinimum) {
    const std::string out =
        run_command("timeout 30 " + std::string(ANYEDGE_BINARY_DIR) +
                    "/bench/h3load -c 1 -m 1 -n 2 -D 20 https://127.0.0.1:" + port() + "/big.bin");
    EXPECT_NE(out.find("2 succeeded"), std::string::npos) << out;
    const size_t at = out.find("largest datagram: ");
    ASSERT_NE(at, std::string::npos) << out;
    const int largest = std::atoi(out.c_str() + at + 18);
    EXPECT_GT(largest, 1200) << out;
    EXPECT_LE(largest, 1452) << out;
}

TEST_F(EdgeH3, TcpResponsesAdvertiseHttp3OnTheSamePort) {
    const std::string out = run_command(
        "timeout 20 curl -s --http1.1 -D- -o /dev/null --cacert " + (dir_ / "a.pem").string() +
        " --resolve a.example:" + port() + ":127.0.0.1 https://a.example:" + port() + "/");
    EXPECT_NE(out.find("Alt-Svc: h3=\":" + port() + "\"; ma=3600"), std::string::npos) << out;
}

TEST_F(EdgeH3, ZeroRttGetIsAnsweredAndAPostInEarlyDataGets425) {
    const std::string sess = (dir_ / "session").string(), tp = (dir_ / "tp").string();
    const std::string resume = "--session-file=" + sess + " --tp-file=" + tp;
    std::string out = h3(resume, "/robots.txt");
    ASSERT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    ASSERT_TRUE(fs::exists(sess) && fs::exists(tp));
    // The second connection sends its request in 0-RTT.
    out = h3(resume, "/robots.txt");
    EXPECT_NE(out.find("type=0RTT"), std::string::npos) << out;
    EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    out = h3(resume + " -m POST", "/robots.txt");
    EXPECT_NE(out.find("type=0RTT"), std::string::npos) << out;
    EXPECT_NE(out.find("[:status: 425]"), std::string::npos) << out;
    EXPECT_NE(metrics().find("anyedge_h3_too_early_total 1"), std::string::npos);
}

TEST_F(EdgeH3, UnknownVersionGetsVersionNegotiation) {
    const std::string out = h3("-v 0x1a2a3a4a --preferred-versions=v1", "/robots.txt");
    EXPECT_NE(out.find("type=VN"), std::string::npos) << out;
    EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
}

TEST_F(EdgeH3, GarbageDatagramsAreDroppedAndCountedAndServingGoesOn) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_of("https"));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    std::mt19937 rng(5);
    std::string datagram;
    for (int i = 0; i < 3000; ++i) {
        datagram.resize(size_t(i) % 1400);  // from empty (legal UDP) up
        for (char& c : datagram) c = static_cast<char>(rng());
        // A third look like long headers (Initials of unknown connections), a third like
        // short headers (stray packets of connections that do not exist).
        if (i % 3 == 0 && !datagram.empty()) datagram[0] = static_cast<char>(datagram[0] | 0xc0);
        if (i % 3 == 1 && !datagram.empty()) {
            datagram[0] = static_cast<char>(0x40 | (datagram[0] & 0x3f));
        }
        ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof to);
    }
    ::close(fd);
    const std::string out = h3("", "/robots.txt");
    EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    const std::string m = metrics();
    EXPECT_EQ(m.find("anyedge_quic_dropped_total{reason=\"garbage\"} 0\n"), std::string::npos) << m;
    EXPECT_NE(m.find("anyedge_protocol_requests_total{version=\"3\"}"), std::string::npos) << m;
    EXPECT_GE(count_of(m, "anyedge_quic_"), 5u) << m;
}

// Past quic_retry_above_per_s new handshakes a second (0: always), a client first proves its
// address with a Retry round trip, then is served as usual.
TEST(EdgeH3Retry, HandshakesPastTheRateAreValidatedByRetry) {
    ANYEDGE_REQUIRE_IO_URING();
    REQUIRE_GTLSCLIENT();
    const fs::path d = fresh_test_dir("h3retry");
    const auto edge_ptr = edge_with(d, R"("quic_retry_above_per_s": 0)");
    EdgeProcess& edge = *edge_ptr;
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string port = std::to_string(edge.port_of("https"));
    for (int i = 0; i < 2; ++i) {
        const std::string out = run_command(
            "timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump "
            "--timeout=5s 127.0.0.1 " +
            port + " https://127.0.0.1:" + port + "/robots.txt 2>&1");
        EXPECT_NE(out.find("type=Retry"), std::string::npos) << out;
        EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    }
    const std::string m =
        run_command("timeout 10 curl -s http://127.0.0.1:" + std::to_string(edge.port_of("admin")) +
                    "/metrics");
    EXPECT_NE(m.find("anyedge_quic_retries_total 2\n"), std::string::npos) << m;
    EXPECT_NE(m.find("anyedge_quic_invalid_tokens_total 0\n"), std::string::npos) << m;
    fs::remove_all(d);
}

// Several workers share the UDP port. A client whose address changes mid-connection (NAT
// rebinding: a new source port) lands on another socket by the kernel's hash; the reuseport
// program must still hand its packets to the worker that owns the connection.
TEST(EdgeH3Workers, AClientWhoseAddressChangesStaysWithItsWorker) {
    ANYEDGE_REQUIRE_IO_URING();
    REQUIRE_GTLSCLIENT();
    EdgeProcess edge(edge_binary(),
                     {"--site", source_dir() + "/site", "--tls-listen", "127.0.0.1:0", "--threads",
                      "4", "--admin", "127.0.0.1:0"},
                     3);
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string port = std::to_string(edge.port_of("https"));
    // The request waits until after the rebinding, so it travels from the new address.
    for (int i = 0; i < 8; ++i) {
        const std::string out = run_command(
            "timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump "
            "--timeout=3s --change-local-addr=200ms --nat-rebinding --delay-stream=600ms "
            "127.0.0.1 " +
            port + " https://127.0.0.1:" + port + "/robots.txt 2>&1");
        EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    }
    const std::string m =
        run_command("timeout 10 curl -s http://127.0.0.1:" + std::to_string(edge.port_of("admin")) +
                    "/metrics");
    EXPECT_NE(m.find("anyedge_quic_dropped_total{reason=\"unknown_connection\"} 0\n"),
              std::string::npos)
        << m;
}

// Slowloris over HTTP/3: a request stream whose header section never completes is refused
// when header_timeout_ms passes, while the connection itself stays busy enough not to idle out.
TEST(EdgeH3Slowloris, AnIncompleteHeaderSectionIsRefusedAtTheHeaderTimeout) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path d = fresh_test_dir("h3slow");
    const auto edge_ptr = edge_with(d, R"("header_timeout_ms": 500)");
    EdgeProcess& edge = *edge_ptr;
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string port = std::to_string(edge.port_of("https"));
    const std::string out =
        run_command("timeout 30 " + std::string(ANYEDGE_BINARY_DIR) +
                    "/bench/h3load -c 3 -D 15 --slow-request https://127.0.0.1:" + port + "/ 2>&1");
    EXPECT_NE(out.find("slow requests: 3 of 3 reset by the server"), std::string::npos) << out;
    const std::string m =
        run_command("timeout 10 curl -s http://127.0.0.1:" + std::to_string(edge.port_of("admin")) +
                    "/metrics");
    EXPECT_NE(m.find("anyedge_h3_header_timeouts_total 3\n"), std::string::npos) << m;
    fs::remove_all(d);
}

// Session tickets over QUIC follow the fleet's ticket-key file as TCP's do: made with the key
// whose window holds now (switching when the next window opens, without a reload), accepted
// on every node while their key is in its window, and refused once it is gone. "Accepted"
// means resumed with its 0-RTT request answered; refused, a full handshake that still serves.
TEST(EdgeH3TicketKeys, TicketsFollowTheKeyFilesWindowsOnEveryNode) {
    ANYEDGE_REQUIRE_IO_URING();
    REQUIRE_GTLSCLIENT();
    const fs::path d = fresh_test_dir("h3tickets");
    std::mt19937_64 rng(std::random_device{}());
    auto key_line = [&](long not_before, long not_after) {
        std::string line = std::to_string(not_before) + " " + std::to_string(not_after) + " ";
        for (int i = 0; i < 80; ++i) {
            char b[3];
            snprintf(b, sizeof b, "%02x", unsigned(rng() & 0xff));
            line += b;
        }
        return line + "\n";
    };
    const long now = time(nullptr);
    // A now; B from two seconds on (its later start makes it the key for new tickets).
    const std::string a = key_line(now - 3600, now + 7200), b = key_line(now + 2, now + 86400);
    std::ofstream(d / "tickets") << a << b;
    make_test_certificate(d, "a", "a.example");
    const std::string files = "\"cert\": [\"" + (d / "a.pem").string() + "\"], \"key\": [\"" +
                              (d / "a.key").string() + "\"], \"ticket_keys\": \"" +
                              (d / "tickets").string() + "\"";
    fs::create_directories(d / "n1");
    fs::create_directories(d / "n2");
    const auto n1 = edge_with(d / "n1", files);
    const auto n2 = edge_with(d / "n2", files);
    ASSERT_TRUE(n1->started()) << n1->log();
    ASSERT_TRUE(n2->started()) << n2->log();

    // A connection with the session file `session` (written with the ticket it gets).
    auto get = [&](EdgeProcess& edge, const fs::path& session) {
        const std::string port = std::to_string(edge.port_of("https"));
        return run_command(
            "timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump "
            "--no-http-dump --timeout=5s --session-file=" +
            session.string() + " --tp-file=" + session.string() + ".tp 127.0.0.1 " + port +
            " https://a.example:" + port + "/robots.txt 2>&1");
    };
    auto resumed = [](const std::string& out) {
        return out.find("[:status: 200]") != std::string::npos &&
               out.find("type=0RTT") != std::string::npos &&
               out.find("Early data was rejected") == std::string::npos;
    };
    auto copy = [&](const std::string& from, const std::string& to) {
        for (const std::string ext : {"", ".tp"}) {
            fs::copy_file(d / (from + ext), d / (to + ext), fs::copy_options::overwrite_existing);
        }
    };

    // A ticket from node 1 (key A) resumes on node 2.
    std::string out = get(*n1, d / "sa");
    ASSERT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    copy("sa", "sa-kept");
    out = get(*n2, d / "sa");
    EXPECT_TRUE(resumed(out)) << out;

    // B's window opens: new tickets are made with it, with no reload; A's still resume.
    for (int i = 0; i < 50 && time(nullptr) < now + 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    out = get(*n1, d / "sb");
    ASSERT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    copy("sb", "sb-kept");
    copy("sa-kept", "sa");
    EXPECT_TRUE(resumed(get(*n2, d / "sa")));
    out = get(*n2, d / "sb");
    EXPECT_TRUE(resumed(out)) << out;

    // A leaves the file: its tickets are refused (a full handshake), B's still resume.
    std::ofstream(d / "tickets", std::ios::trunc) << b;
    for (EdgeProcess* edge : {n1.get(), n2.get()}) {
        const size_t before = edge->log().size();
        kill(edge->pid(), SIGHUP);
        for (int i = 0; i < 100 && edge->log().find("HTTP/3 certificates and tickets reloaded",
                                                    before) == std::string::npos;
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ASSERT_NE(edge->log().find("HTTP/3 certificates and tickets reloaded", before),
                  std::string::npos)
            << edge->log();
    }
    copy("sa-kept", "sa");
    out = get(*n2, d / "sa");
    EXPECT_NE(out.find("Early data was rejected"), std::string::npos) << out;
    EXPECT_NE(out.find("[:status: 200]"), std::string::npos) << out;
    copy("sb-kept", "sb");
    out = get(*n1, d / "sb");
    EXPECT_TRUE(resumed(out)) << out;
    // The resumptions each node counted: three on node 2, the last one on node 1.
    auto metrics_of = [](EdgeProcess& edge) {
        return run_command("timeout 10 curl -s http://127.0.0.1:" +
                           std::to_string(edge.port_of("admin")) + "/metrics");
    };
    EXPECT_NE(metrics_of(*n2).find("anyedge_quic_resumed_total 3\n"), std::string::npos)
        << metrics_of(*n2);
    EXPECT_NE(metrics_of(*n1).find("anyedge_quic_resumed_total 1\n"), std::string::npos)
        << metrics_of(*n1);
    fs::remove_all(d);
}

TEST(EdgeH3Off, NoHttp3FlagLeavesUdpAndAltSvcOut) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path d = fs::temp_directory_path() / ("anyedge-h3off-" + std::to_string(getpid()));
    fs::create_directories(d);
    EdgeProcess edge(
        edge_binary(),
        {"--site", source_dir() + "/site", "--tls-listen", "127.0.0.1:0", "--no-http3"}, 1);
    ASSERT_TRUE(edge.started()) << edge.log();
    EXPECT_EQ(edge.kinds().size(), 1u);
    const std::string out =
        run_command("timeout 20 curl -sk --http1.1 -D- -o /dev/null https://127.0.0.1:" +
                    std::to_string(edge.port()) + "/");
    EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
    EXPECT_EQ(out.find("Alt-Svc"), std::string::npos) << out;
    fs::remove_all(d);
}

}  // namespace
}  // namespace anyedge::testing
