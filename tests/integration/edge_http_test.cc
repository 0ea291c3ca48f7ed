// cdn-edge as a black box: a real process on an ephemeral port, raw HTTP/1.1 over sockets.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "edge/io/ring.h"
#include "origin-sync/content/compress.h"
#include "tests/integration/edge_process.h"

namespace anyedge::testing {
namespace {
namespace fs = std::filesystem;

class EdgeHttp : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        const std::string why = io::probe_io_uring_support();
        if (!why.empty()) {
            skip_reason_ = "io_uring unavailable: " + why;
            return;
        }
        // A copy of the bundled site plus a large random file and a symlink that leaves it.
        root_ = fs::temp_directory_path() / ("anyedge-http-" + std::to_string(getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "outside");
        fs::copy(source_dir() + "/site", root_ / "site", fs::copy_options::recursive);
        std::ofstream(root_ / "outside" / "secret.txt") << "top secret\n";
        fs::create_symlink(root_ / "outside" / "secret.txt", root_ / "site" / "leak.txt");
        fs::create_symlink(root_ / "outside", root_ / "site" / "leakdir");
        fs::create_symlink(root_ / "site" / "robots.txt", root_ / "site" / "robots-link.txt");
        std::mt19937_64 rng(42);
        std::string big(5 * 1024 * 1024 + 123, '\0');
        for (auto& c : big) c = static_cast<char>(rng());
        std::ofstream(root_ / "site" / "big.bin", std::ios::binary) << big;
        edge_ = std::make_unique<EdgeProcess>(
            edge_binary(),
            std::vector<std::string>{"--site", (root_ / "site").string(), "--listen", "127.0.0.1:0",
                                     "--threads", "2", "--node-name", "it-node"});
    }
    static void TearDownTestSuite() {
        edge_.reset();
        if (!root_.empty()) fs::remove_all(root_);
    }
    void SetUp() override {
        if (!skip_reason_.empty()) {
            if (std::getenv("ANYEDGE_REQUIRE_URING")) FAIL() << skip_reason_;
            GTEST_SKIP() << skip_reason_;
        }
        ASSERT_TRUE(edge_ && edge_->started()) << (edge_ ? edge_->log() : "");
    }
    static std::string ask(const std::string& req) {
        RawClient c(edge_->port());
        EXPECT_TRUE(c.connected());
        c.send_all(req);
        return c.read_until_close(std::chrono::seconds(3));
    }
    static std::string get1(const std::string& target, const std::string& extra = "") {
        RawClient c(edge_->port());
        c.send_all("GET " + target + " HTTP/1.1\r\nHost: blog.example\r\n" + extra + "\r\n");
        auto r = c.read_responses(1);
        return r.empty() ? std::string() : r[0];
    }

    static inline fs::path root_;
    static inline std::unique_ptr<EdgeProcess> edge_;
    static inline std::string skip_reason_;
};

TEST_F(EdgeHttp, GetAndHeadOfHome) {
    const std::string r = get1("/");
    ASSERT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r.substr(0, 200);
    const std::string expected = read_file_bytes(root_ / "site" / "index.html");
    EXPECT_EQ(body_of(r), expected);
    EXPECT_EQ(header_of(r, "ETag"), "\"" + sha256_hex_of(expected) + "\"");
    EXPECT_EQ(header_of(r, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(header_of(r, "X-Served-By"), "it-node");
    EXPECT_FALSE(header_of(r, "Date").empty());
    EXPECT_FALSE(header_of(r, "Last-Modified").empty());

    RawClient c(edge_->port());
    c.send_all("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    auto head = c.read_responses(1, true);
    ASSERT_EQ(head.size(), 1u);
    EXPECT_EQ(header_of(head[0], "Content-Length"), std::to_string(expected.size()));
    EXPECT_EQ(body_of(head[0]), "");
    // Nothing follows the HEAD response on the connection.
    c.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    auto next = c.read_responses(1);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(body_of(next[0]), read_file_bytes(root_ / "site" / "robots.txt"));
}

TEST_F(EdgeHttp, NotFoundServes404Page) {
    const std::string r = get1("/no/such/page");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_EQ(body_of(r), read_file_bytes(root_ / "site" / "404.html"));
}

TEST_F(EdgeHttp, PipelinedKeepAliveInOrder) {
    RawClient c(edge_->port());
    std::string batch;
    const char* targets[] = {"/robots.txt", "/", "/nope", "/sitemap.xml", "/robots.txt"};
    for (const char* t : targets) batch += std::string("GET ") + t + " HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_TRUE(c.send_all(batch));
    auto rs = c.read_responses(5);
    ASSERT_EQ(rs.size(), 5u);
    EXPECT_EQ(body_of(rs[0]), read_file_bytes(root_ / "site" / "robots.txt"));
    EXPECT_EQ(body_of(rs[1]), read_file_bytes(root_ / "site" / "index.html"));
    EXPECT_TRUE(rs[2].starts_with("HTTP/1.1 404"));
    EXPECT_EQ(body_of(rs[3]), read_file_bytes(root_ / "site" / "sitemap.xml"));
    EXPECT_EQ(body_of(rs[4]), read_file_bytes(root_ / "site" / "robots.txt"));
    // Still open for more (keep-alive).
    c.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(c.read_responses(1).size(), 1u);
}

TEST_F(EdgeHttp, ManyPipelinedRequestsByteAtATime) {
    RawClient c(edge_->port());
    std::string batch;
    for (int i = 0; i < 50; ++i) batch += "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    for (char ch : batch) ASSERT_TRUE(c.send_all(std::string(1, ch)));
    EXPECT_EQ(c.read_responses(50).size(), 50u);
}

TEST_F(EdgeHttp, Http10WithAndWithoutKeepAlive) {
    const std::string r = ask("GET /robots.txt HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body_of(r), read_file_bytes(root_ / "site" / "robots.txt"));  // then closed by server

    RawClient c(edge_->port());
    c.send_all("GET /robots.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto first = c.read_responses(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(header_of(first[0], "Connection"), "keep-alive");
    c.send_all("GET /robots.txt HTTP/1.0\r\n\r\n");
    EXPECT_EQ(c.read_responses(1).size(), 1u);
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(EdgeHttp, DirectoryRedirect) {
    const std::string r = get1("/post/anycast-basics?from=feed");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 301 "));
    EXPECT_EQ(header_of(r, "Location"), "/post/anycast-basics/?from=feed");
    EXPECT_TRUE(get1("/post/anycast-basics/").starts_with("HTTP/1.1 200 OK"));
}

TEST_F(EdgeHttp, GarbageAndSmugglingGet400AndClose) {
    const std::string bad[] = {
        "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
        "HELLO\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    for (const auto& req : bad) {
        RawClient c(edge_->port());
        ASSERT_TRUE(c.send_all(req + "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n"));
        const std::string r = c.read_until_close(std::chrono::seconds(4));
        EXPECT_TRUE(r.starts_with("HTTP/1.1 400 ")) << req << "\n" << r;
        EXPECT_EQ(header_of(r, "Connection"), "close") << req;
        // Exactly one response: nothing after the bad request was treated as a request.
        EXPECT_EQ(r.find("HTTP/1.1", 1), std::string::npos) << req;
    }
}

TEST_F(EdgeHttp, HugeHeadersGet431AndLongUri414) {
    std::string r =
        ask("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 431 ")) << r.substr(0, 100);
    r = ask("GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 414 ")) << r.substr(0, 100);
}

TEST_F(EdgeHttp, TraversalAndSymlinksNeverLeak) {
    const std::string attempts[] = {
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/leak.txt",
        "/leakdir/secret.txt",
        "/post/../../outside/secret.txt",
        "/%2E%2E%5Coutside%5Csecret.txt",
        "/..\\outside\\secret.txt",
        "//../outside/secret.txt",
        "http://h/../outside/secret.txt",
        "/leak.txt%00.html",
        "/./../outside/secret.txt",
    };
    for (const auto& t : attempts) {
        const std::string r = ask("GET " + t + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(r.find("top secret"), std::string::npos) << t;
        EXPECT_TRUE(r.starts_with("HTTP/1.1 400") || r.starts_with("HTTP/1.1 404")) << t << r;
    }
    // A symlink that stays inside the site is served.
    EXPECT_EQ(body_of(get1("/robots-link.txt")), read_file_bytes(root_ / "site" / "robots.txt"));
}

TEST_F(EdgeHttp, LargeFileBytesMatch) {
    const std::string expected = read_file_bytes(root_ / "site" / "big.bin");
    RawClient c(edge_->port());
    c.send_all(
        "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\nGET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    auto rs = c.read_responses(2, false, std::chrono::seconds(20));
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(sha256_hex_of(body_of(rs[0])), sha256_hex_of(expected));
    EXPECT_EQ(header_of(rs[0], "ETag"), "\"" + sha256_hex_of(expected) + "\"");
    EXPECT_EQ(body_of(rs[1]), read_file_bytes(root_ / "site" / "robots.txt"));
}

TEST_F(EdgeHttp, OtherMethods405WithAllow) {
    const std::string r = get1("/");
    RawClient c(edge_->port());
    c.send_all(
        "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /robots.txt "
        "HTTP/1.1\r\nHost: h\r\n\r\n");
    auto rs = c.read_responses(2);
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_TRUE(rs[0].starts_with("HTTP/1.1 405 "));
    EXPECT_EQ(header_of(rs[0], "Allow"), "GET, HEAD, OPTIONS");
    EXPECT_TRUE(rs[1].starts_with("HTTP/1.1 200 "));
}

// --compress: a plain folder's text files get br, zstd and gzip representations made at load,
// chosen by Accept-Encoding like precompressed siblings; without it, the files as they are.
TEST(EdgeCompress, PlainFolderTextIsServedCompressedOnlyWhenAsked) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::string site = source_dir() + "/site";
    const std::string page = read_file_bytes(site + "/index.html");
    const auto get = [](uint16_t port, const std::string& extra) {
        RawClient c(port);
        c.send_all("GET /index.html HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n");
        auto r = c.read_responses(1);
        return r.empty() ? std::string() : r[0];
    };

    EdgeProcess plain(edge_binary(), {"--site", site, "--listen", "127.0.0.1:0"});
    ASSERT_TRUE(plain.started()) << plain.log();
    const std::string as_is = get(plain.port(), "Accept-Encoding: br, gzip\r\n");
    EXPECT_EQ(header_of(as_is, "Content-Encoding"), "");
    EXPECT_EQ(body_of(as_is), page);

    EdgeProcess edge(edge_binary(), {"--site", site, "--listen", "127.0.0.1:0", "--compress"});
    ASSERT_TRUE(edge.started()) << edge.log();
    const std::string identity = get(edge.port(), "");
    EXPECT_EQ(header_of(identity, "Content-Encoding"), "");
    EXPECT_EQ(body_of(identity), page);
    EXPECT_EQ(header_of(identity, "Vary"), "Accept-Encoding");

    const std::string br = get(edge.port(), "Accept-Encoding: gzip;q=0.5, br\r\n");
    EXPECT_EQ(header_of(br, "Content-Encoding"), "br");
    EXPECT_EQ(header_of(br, "Vary"), "Accept-Encoding");
    EXPECT_EQ(*brotli_decompress(body_of(br)), page);
    EXPECT_LT(body_of(br).size(), page.size());

    const std::string gz = get(edge.port(), "Accept-Encoding: gzip\r\n");
    EXPECT_EQ(header_of(gz, "Content-Encoding"), "gzip");
    EXPECT_EQ(*gzip_decompress(body_of(gz)), page);

    const std::string zst = get(edge.port(), "Accept-Encoding: gzip;q=0.5, zstd\r\n");
    EXPECT_EQ(header_of(zst, "Content-Encoding"), "zstd");
    EXPECT_EQ(*zstd_decompress(body_of(zst)), page);

    // What Chrome sends: every coding at the same weight, so the smallest variant goes out.
    const std::string chrome = get(edge.port(), "Accept-Encoding: gzip, deflate, br, zstd\r\n");
    const size_t smallest = std::min({body_of(br).size(), body_of(zst).size(), body_of(gz).size()});
    EXPECT_EQ(body_of(chrome).size(), smallest) << header_of(chrome, "Content-Encoding");

    // A distinct ETag per representation; a range is always of the identity one.
    const std::set<std::string> etags = {header_of(identity, "ETag"), header_of(br, "ETag"),
                                         header_of(gz, "ETag"), header_of(zst, "ETag")};
    EXPECT_EQ(etags.size(), 4u);
    const std::string part = get(edge.port(), "Accept-Encoding: br\r\nRange: bytes=0-9\r\n");
    EXPECT_TRUE(part.starts_with("HTTP/1.1 206 ")) << part;
    EXPECT_EQ(header_of(part, "Content-Encoding"), "");
    EXPECT_EQ(header_of(part, "ETag"), header_of(identity, "ETag"));
    EXPECT_EQ(body_of(part), page.substr(0, 10));
    EXPECT_EQ(plain.stop(), 0) << plain.log();
    EXPECT_EQ(edge.stop(), 0) << edge.log();
}

TEST(EdgeLimits, SlowlorisIdleAndBodyLimits) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path cfg = fs::temp_directory_path() / ("anyedge-lim-" + std::to_string(getpid()));
    std::ofstream(cfg) << R"({"site": ")" << source_dir()
                       << R"(/site", "listen": "127.0.0.1:0", "header_timeout_ms": 400,
                             "idle_timeout_ms": 600, "max_requests_per_connection": 3,
                             "max_connections": 4})";
    EdgeProcess p(edge_binary(), {"--config", cfg.string()}, 1);
    ASSERT_TRUE(p.started()) << p.log();
    {
        // Over the connection cap: the surplus connections are closed at once, the rest served.
        std::vector<std::unique_ptr<RawClient>> held;
        for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<RawClient>(p.port()));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        RawClient extra(p.port());
        EXPECT_TRUE(extra.closed_by_peer(std::chrono::seconds(2)));
        held[0]->send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        EXPECT_EQ(held[0]->read_responses(1).size(), 1u);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // idle ones time out
    {
        // A header dribbled in slower than the header timeout: the connection is closed.
        RawClient slow(p.port());
        slow.send_all("GET / HTTP/1.1\r\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        slow.send_all("X-A: 1\r\n");
        EXPECT_TRUE(slow.closed_by_peer(std::chrono::seconds(3)));
    }
    {
        // An idle keep-alive connection is closed after the idle timeout.
        RawClient idle(p.port());
        idle.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        ASSERT_EQ(idle.read_responses(1).size(), 1u);
        EXPECT_TRUE(idle.closed_by_peer(std::chrono::seconds(3)));
    }
    {
        // The per-connection request cap: the third response says close.
        RawClient c(p.port());
        std::string batch;
        for (int i = 0; i < 5; ++i) batch += "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n";
        c.send_all(batch);
        auto rs = c.read_responses(5);
        ASSERT_EQ(rs.size(), 3u);
        EXPECT_EQ(header_of(rs[2], "Connection"), "close");
        EXPECT_TRUE(c.closed_by_peer());
    }
    {
        // A GET with a small body: the body is read and discarded, the next request answered.
        RawClient c(p.port());
        c.send_all(
            "GET /robots.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        EXPECT_EQ(c.read_responses(2).size(), 2u);
        // A body larger than we read: 413 and close.
        RawClient big(p.port());
        big.send_all("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n");
        const std::string r = big.read_until_close(std::chrono::seconds(3));
        EXPECT_TRUE(r.starts_with("HTTP/1.1 413")) << r;
    }
    EXPECT_EQ(p.stop(), 0);
    fs::remove(cfg);
}

// An idle keep-alive connection gives back its session and output queues (after 100 ms idle)
// and gets new ones for its next request: the request cap still counts every request on the
// connection, and the access log still names the client.
TEST(EdgeLimits, IdleConnectionGivesBackItsSessionAndKeepsCounting) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path dir = fs::temp_directory_path() / ("anyedge-rest-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "cfg.json")
        << R"({"site": ")" << source_dir() << R"(/site", "listen": "127.0.0.1:0",
                             "idle_timeout_ms": 60000, "max_requests_per_connection": 3,
                             "access_log": ")"
        << (dir / "access.log").string() << R"("})";
    EdgeProcess p(edge_binary(), {"--config", (dir / "cfg.json").string()}, 1);
    ASSERT_TRUE(p.started()) << p.log();
    RawClient c(p.port());
    for (int i = 1; i <= 3; ++i) {
        // Long enough for the idle sweep (every 250 ms) to find the connection at rest.
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        c.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
        auto rs = c.read_responses(1);
        ASSERT_EQ(rs.size(), 1u) << "request " << i;
        EXPECT_TRUE(rs[0].starts_with("HTTP/1.1 200")) << rs[0];
        EXPECT_EQ(header_of(rs[0], "Connection"), i == 3 ? "close" : "") << "request " << i;
    }
    EXPECT_TRUE(c.closed_by_peer());
    EXPECT_EQ(p.stop(), 0);
    std::ifstream log(dir / "access.log");
    int lines = 0;
    for (std::string line; std::getline(log, line);) {
        EXPECT_NE(line.find("\"127.0.0.1:"), std::string::npos) << line;
        ++lines;
    }
    EXPECT_EQ(lines, 3);
    fs::remove_all(dir);
}

TEST(EdgeLimits, ReaderThatNeverReadsIsDroppedWithoutStallingOthers) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path site = fs::temp_directory_path() / ("anyedge-slow-" + std::to_string(getpid()));
    fs::create_directories(site);
    std::ofstream(site / "index.html") << "hello\n";
    {
        std::ofstream big(site / "huge.bin", std::ios::binary);
        const std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 48; ++i) big << chunk;  // more than both socket buffers hold
    }
    const fs::path cfg = site / "edge.json";
    std::ofstream(cfg) << R"({"site": ")" << site.string()
                       << R"(", "listen": "127.0.0.1:0", "send_timeout_ms": 600})";
    EdgeProcess p(edge_binary(), {"--config", cfg.string()}, 1);
    ASSERT_TRUE(p.started()) << p.log();
    RawClient stalled(p.port());
    stalled.send_all("GET /huge.bin HTTP/1.1\r\nHost: h\r\n\r\n");
    // Meanwhile another client is served at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    RawClient other(p.port());
    other.send_all("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(other.read_responses(1, false, std::chrono::seconds(2)).size(), 1u);
    // The stalled reader is dropped by the send timeout: reading now ends early (reset or EOF).
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const std::string got = stalled.read_until_close(std::chrono::seconds(10));
    EXPECT_LT(got.size(), size_t(48) << 20);
    EXPECT_EQ(p.stop(), 0);
    fs::remove_all(site);
}

// Sends pipelined GETs without reading until the socket stays full for a second (at most
// 64 MiB); returns the bytes the server took.
size_t pipeline_until_blocked(RawClient& c, const std::string& request) {
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += request;
    const size_t limit = size_t(64) << 20;
    size_t sent = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (sent < limit) {
        const size_t at = sent % batch.size();
        const ssize_t n =
            send(c.fd(), batch.data() + at, batch.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += size_t(n);
            last_progress = std::chrono::steady_clock::now();
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(1)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return sent;
}

// A client that pipelines requests and does not read the answers is not read past a bound:
// the server stops taking its input, so TCP pushes back, instead of holding all it sends in
// memory. Once the client reads, every request it sent is answered; with a request cap, the
// answers up to the cap arrive whole before the connection closes.
TEST(EdgeLimits, PipelinerThatDoesNotReadIsHeldAtTheSocket) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::string request = "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    for (const size_t cap : {size_t(10000000), size_t(20000)}) {
        SCOPED_TRACE("max_requests_per_connection " + std::to_string(cap));
        const fs::path cfg =
            fs::temp_directory_path() / ("anyedge-pipe-" + std::to_string(getpid()));
        std::ofstream(cfg) << R"({"site": ")" << source_dir()
                           << R"(/site", "listen": "127.0.0.1:0", "send_timeout_ms": 60000,
                                 "max_requests_per_connection": )"
                           << cap << "}";
        EdgeProcess p(edge_binary(), {"--config", cfg.string()}, 1);
        ASSERT_TRUE(p.started()) << p.log();
        RawClient c(p.port(), "127.0.0.1", 65536);
        ASSERT_TRUE(c.connected()) << "connect: " << std::strerror(errno) << "\n" << p.log();
        size_t sent = pipeline_until_blocked(c, request);
        EXPECT_LT(sent, size_t(32) << 20) << "the server took bytes it could not answer yet";
        // Read the answers while the rest of the last request goes out.
        const size_t partial = sent % request.size();
        const size_t count = std::min(cap, sent / request.size() + (partial != 0 ? 1 : 0));
        std::vector<std::string> responses;
        std::thread reader(
            [&] { responses = c.read_responses(count, false, std::chrono::seconds(60)); });
        const bool completed = partial == 0 || c.send_all(request.substr(partial));
        reader.join();
        EXPECT_TRUE(completed || count == cap);
        ASSERT_EQ(responses.size(), count);
        EXPECT_TRUE(responses.back().starts_with("HTTP/1.1 200 OK")) << responses.back();
        if (count == cap) {
            EXPECT_EQ(header_of(responses.back(), "Connection"), "close");
            EXPECT_TRUE(c.closed_by_peer());
        }
        EXPECT_EQ(p.stop(), 0);
        fs::remove(cfg);
    }
}

TEST(EdgeCli, BadConfigKeyIsNamed) {
    const fs::path cfg = fs::temp_directory_path() / ("anyedge-cfg-" + std::to_string(getpid()));
    std::ofstream(cfg) << R"({"site": "site", "listen": ["127.0.0.1:0"], "lisen": 1})";
    EdgeProcess p(edge_binary(), {"--config", cfg.string()}, 1);
    EXPECT_FALSE(p.started());
    for (int i = 0; i < 100 && p.log().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(p.log().find("config.lisen: unknown key"), std::string::npos) << p.log();
    std::ofstream(cfg) << R"({"site": "site", "listen": "127.0.0.1:0", "threads": "two"})";
    EdgeProcess q(edge_binary(), {"--config", cfg.string()}, 1);
    EXPECT_FALSE(q.started());
    for (int i = 0; i < 100 && q.log().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(q.log().find("config.threads: expected a non-negative integer"), std::string::npos)
        << q.log();
    std::ofstream(cfg) << R"({"site": "site", "listen": "127.0.0.1:0",
                             "tls_cipher_preference": "fastest"})";
    EdgeProcess r(edge_binary(), {"--config", cfg.string()}, 1);
    EXPECT_FALSE(r.started());
    for (int i = 0; i < 100 && r.log().empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(r.log().find("tls_cipher_preference"), std::string::npos) << r.log();
    fs::remove(cfg);
}

// Listeners use SO_REUSEPORT, which would let a second cdn-edge of the same user share the
// port (and answer some clients from whatever site it serves): it is refused with the port named.
TEST(EdgeCli, ASecondEdgeOnATakenPortIsRefused) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::string site = source_dir() + "/site";
    EdgeProcess first(edge_binary(),
                      {"--site", site, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"},
                      3);
    ASSERT_TRUE(first.started()) << first.log();
    const std::string http = "127.0.0.1:" + std::to_string(first.port_of("http"));
    const std::string https = "127.0.0.1:" + std::to_string(first.port_of("https"));
    auto refused = [&](std::vector<std::string> args, const std::string& what) {
        args.insert(args.begin(), {"--site", site});
        // It may print its plain listener before it reaches the taken one, then exits.
        EdgeProcess second(edge_binary(), args, 1);
        const std::string expected = what + " is already in use";
        for (int i = 0; i < 250 && second.log().find(expected) == std::string::npos; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        EXPECT_NE(second.log().find(expected), std::string::npos) << second.log();
        EXPECT_NE(second.stop(), 0) << what;
    };
    refused({"--listen", http}, "TCP " + http);
    refused({"--listen", "127.0.0.1:0", "--tls-listen", https}, "TCP " + https);
    // Only the UDP side taken, by a socket that would let us share it (SO_REUSEPORT, the same
    // user): HTTP/3 there is refused; with HTTP/3 off the port is free for TCP.
    int udp = -1;
    sockaddr_in a{};
    for (int attempt = 0; attempt < 20 && udp < 0; ++attempt) {  // a port whose TCP twin is free
        udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ASSERT_EQ(::setsockopt(udp, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
        a = sockaddr_in{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ::getsockname(udp, reinterpret_cast<sockaddr*>(&a), &len);
        const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool tcp_free = ::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(tcp);
        if (!tcp_free) {
            ::close(udp);
            udp = -1;
        }
    }
    ASSERT_GE(udp, 0);
    const std::string taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    refused({"--listen", "127.0.0.1:0", "--tls-listen", taken}, "UDP " + taken);
    EdgeProcess tcp_only(
        edge_binary(),
        {"--site", site, "--listen", "127.0.0.1:0", "--tls-listen", taken, "--no-http3"}, 2);
    EXPECT_TRUE(tcp_only.started()) << tcp_only.log();
    EXPECT_EQ(tcp_only.stop(), 0);
    ::close(udp);
    // The first edge serves on, untouched.
    RawClient c(first.port_of("http"));
    ASSERT_TRUE(c.send_all("GET /robots.txt HTTP/1.1\r\nHost: a\r\n\r\n"));
    const std::vector<std::string> got = c.read_responses(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].starts_with("HTTP/1.1 200")) << got[0];
    EXPECT_EQ(first.stop(), 0);
}

TEST(EdgeCli, ConfigFileAndIpv6AndGracefulStop) {
    ANYEDGE_REQUIRE_IO_URING();
    const fs::path cfg = fs::temp_directory_path() / ("anyedge-cfg6-" + std::to_string(getpid()));
    std::ofstream(cfg) << R"({"site": ")" << source_dir()
                       << R"(/site", "listen": ["[::1]:0", "127.0.0.1:0"], "threads": 2})";
    EdgeProcess p(edge_binary(), {"--config", cfg.string()}, 2);
    ASSERT_TRUE(p.started()) << p.log();
    ASSERT_EQ(p.addresses().size(), 2u);
    EXPECT_TRUE(p.addresses()[0].starts_with("[::1]:"));
    RawClient c6(p.port(0), "::1");
    ASSERT_TRUE(c6.connected());
    c6.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(c6.read_responses(1).size(), 1u);
    // An idle keep-alive connection is closed by the stop, and the process exits 0.
    RawClient idle(p.port(1));
    idle.send_all("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(idle.read_responses(1).size(), 1u);
    EXPECT_EQ(p.stop(), 0) << p.log();
    EXPECT_TRUE(idle.closed_by_peer());
    fs::remove(cfg);
}

// Every node answers the fleet's ACME HTTP-01 challenges on plain HTTP, even where plain HTTP
// redirects to HTTPS (RFC 8555 §8.3), from the account thumbprint alone.
TEST(EdgeAcme, Http01ChallengeIsAnsweredBeforeTheRedirect) {
    ANYEDGE_REQUIRE_IO_URING();
    const std::string thumb = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    EdgeProcess p(edge_binary(),
                  {"--site", source_dir() + "/site", "--listen", "127.0.0.1:0", "--tls-listen",
                   "127.0.0.1:0", "--redirect-http", "--acme-thumbprint", thumb},
                  2);
    ASSERT_TRUE(p.started()) << p.log();
    RawClient c(p.port(0));
    c.send_all(
        "GET /.well-known/acme-challenge/tok-EN_123 HTTP/1.1\r\nHost: blog.example\r\n\r\n"
        "GET /.well-known/acme-challenge/not.a.token HTTP/1.1\r\nHost: blog.example\r\n\r\n"
        "GET /robots.txt HTTP/1.1\r\nHost: blog.example\r\n\r\n");
    auto rs = c.read_responses(3);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_TRUE(rs[0].starts_with("HTTP/1.1 200 OK")) << rs[0];
    EXPECT_EQ(rs[0].substr(rs[0].find("\r\n\r\n") + 4), "tok-EN_123." + thumb);
    EXPECT_TRUE(rs[1].starts_with("HTTP/1.1 404")) << rs[1];
    EXPECT_TRUE(rs[2].starts_with("HTTP/1.1 301")) << rs[2];
    EXPECT_EQ(p.stop(), 0);
}

}  // namespace
}  // namespace anyedge::testing
