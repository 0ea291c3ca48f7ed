// The health checker's HTTP response parser (every split), endpoints, edge /status parsing.
#include "bgp-hooks/health/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "bgp-hooks/health/checker.h"

namespace anyedge::health {
namespace {

TEST(HttpParse, ContentLengthAtEverySplit) {
    std::string r =
        "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}";
    for (size_t cut = 0; cut < r.size(); ++cut) {
        auto p = parse_http_response(std::string_view(r).substr(0, cut), false);
        EXPECT_EQ(p.state, ParseState::need_more) << cut;
    }
    auto p = parse_http_response(r, false);
    ASSERT_EQ(p.state, ParseState::done);
    EXPECT_EQ(p.response.status, 200);
    EXPECT_EQ(p.response.header("etag"), "\"abc\"");
    EXPECT_EQ(p.response.body, "{\"status\":\"ok\"}");
}

TEST(HttpParse, ChunkedAtEverySplit) {
    std::string r =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n"
        "0\r\nTrailer: 1\r\n\r\n";
    for (size_t cut = 0; cut < r.size(); ++cut) {
        auto p = parse_http_response(std::string_view(r).substr(0, cut), false);
        EXPECT_EQ(p.state, ParseState::need_more) << cut;
    }
    auto p = parse_http_response(r, false);
    ASSERT_EQ(p.state, ParseState::done) << p.error;
    EXPECT_EQ(p.response.body, "hello world");
}

TEST(HttpParse, Errors) {
    EXPECT_EQ(parse_http_response("", true).state, ParseState::error);
    EXPECT_EQ(parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true).state,
              ParseState::error);
    EXPECT_EQ(parse_http_response("SSH-2.0-OpenSSH\r\n\r\n", false).state, ParseState::error);
    EXPECT_EQ(parse_http_response("HTTP/1.1 2x0 OK\r\n\r\n", false).state, ParseState::error);
    EXPECT_EQ(parse_http_response("HTTP/1.1 200 OK\r\nbad\r\n\r\n", false).state,
              ParseState::error);
    auto close = parse_http_response("HTTP/1.0 200 OK\r\n\r\nuntil close", true);
    EXPECT_EQ(close.state, ParseState::done);
    EXPECT_EQ(close.response.body, "until close");
    EXPECT_EQ(parse_http_response("HTTP/1.1 304 Not Modified\r\n\r\n", false).state,
              ParseState::done);
}

// A peer that takes the connection and never answers (a wedged edge) is told apart from one
// that refuses it by the error's code, not its wording: the checker acts on kTimedOut.
TEST(HttpRequest, TimeoutAndRefusalHaveTheirCodes) {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(l, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(l, 4), 0);  // the kernel completes handshakes; nobody reads
    ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
    const auto ep = parse_endpoint("127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
    ASSERT_TRUE(ep);
    auto r = http_request(*ep, HttpRequest{}, std::chrono::milliseconds(100));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_code(), ErrorCode::kTimedOut) << r.error();
    ::close(l);  // now nothing listens there
    r = http_request(*ep, HttpRequest{}, std::chrono::milliseconds(2000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_code(), ErrorCode::kFailed) << r.error();
}

TEST(Endpoint, Parse) {
    auto a = parse_endpoint("127.0.0.1:8080");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 8080);
    auto b = parse_endpoint("[2001:db8::1]:80");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "2001:db8::1");
    EXPECT_EQ(b->display(), "[2001:db8::1]:80");
    auto u = parse_endpoint("unix:/run/a.sock");
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->unix_socket);
    EXPECT_FALSE(parse_endpoint("localhost:80"));
    EXPECT_FALSE(parse_endpoint("127.0.0.1:0"));
    EXPECT_FALSE(parse_endpoint("127.0.0.1"));
    EXPECT_FALSE(parse_endpoint("unix:"));
    auto url = parse_http_url("http://192.0.2.5/current");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->first.port, 80);
    EXPECT_EQ(url->second, "/current");
    auto url6 = parse_http_url("http://[2001:db8::5]:8080");
    ASSERT_TRUE(url6);
    EXPECT_EQ(url6->first.port, 8080);
    EXPECT_EQ(url6->second, "/");
    EXPECT_FALSE(parse_http_url("https://192.0.2.5/"));
}

TEST(EdgeStatus, Parse) {
    auto s = parse_edge_status(
        R"({"node":"e1","generation":12,"generation_age_s":3.5,"open_connections":4,)"
        R"("drain":{"state":"draining","in_flight":2,"last_accept_age_ms":40}})");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->generation, 12u);
    EXPECT_DOUBLE_EQ(s->generation_age_s, 3.5);
    EXPECT_EQ(s->drain, policy::EdgeDrain::draining);
    EXPECT_EQ(s->drain_detail, "in_flight=2 open_connections=4 last_accept_age_ms=40");
    EXPECT_FALSE(parse_edge_status(R"({"drain":{"state":"sleeping"}})"));
    EXPECT_FALSE(parse_edge_status("[1]"));
    EXPECT_EQ(normalize_etag(" \"ab12\" "), "ab12");
    EXPECT_EQ(normalize_etag("W/\"ab\""), "W/\"ab\"");
}

}  // namespace
}  // namespace anyedge::health
