// The HTTP side of a connection as a pure function: bytes in, response bytes out.
#include "edge/server/http_session.h"

#include <string>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "edge/cache/site_loader.h"
#include "tests/edge/hostile_requests.h"
#include "tests/edge/string_sink.h"

namespace anyedge::server {
namespace {

std::shared_ptr<const cache::Snapshot> site() {
    static auto snap = [] {
        auto files =
            cache::load_site_dir(ANYEDGE_SOURCE_DIR "/site", {.mmap_threshold = 64 * 1024});
        EXPECT_TRUE(files.ok());
        cache::SnapshotOptions opts;
        opts.node_name = "test-node";
        return cache::Snapshot::build(std::move(*files), opts, 1);
    }();
    return snap;
}

struct Exchange {
    std::string out;
    bool closing;
    bool ended_cleanly;
};

Exchange exchange(const std::string& input, size_t piece = 0) {
    HttpSession s{SessionLimits{}};
    StringSink sink;
    ResponseContext ctx;
    ctx.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
    if (piece == 0) piece = input.size();
    for (size_t i = 0; i < input.size(); i += piece) {
        s.on_receive(std::string_view(input).substr(i, piece), *site(), ctx, sink);
    }
    return {sink.out, s.closing(), s.ended_cleanly()};
}

int count(const std::string& hay, const std::string& needle) {
    int n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

TEST(HttpSession, GetHomePage) {
    auto r = exchange("GET / HTTP/1.1\r\nHost: blog.example\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(r.out.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("ETag: \""), std::string::npos);
    EXPECT_NE(r.out.find("Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("X-Served-By: test-node\r\n"), std::string::npos);
    EXPECT_NE(r.out.find("<!doctype html>"), std::string::npos);
    EXPECT_FALSE(r.closing);
}

TEST(HttpSession, HeadHasHeadersOnly) {
    auto get = exchange("GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    auto head = exchange("HEAD /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n");
    const auto body_at = get.out.find("\r\n\r\n") + 4;
    EXPECT_EQ(head.out, get.out.substr(0, body_at));
}

TEST(HttpSession, PipelinedResponsesInOrderAtEverySplit) {
    const std::string in =
        "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
        "GET /nope HTTP/1.1\r\nHost: h\r\n\r\nGET /post HTTP/1.1\r\nHost: h\r\n\r\n";
    const auto whole = exchange(in);
    for (size_t piece = 1; piece < in.size(); ++piece) {
        ASSERT_EQ(exchange(in, piece).out, whole.out) << piece;
    }
    const auto a = whole.out.find("HTTP/1.1 200");
    const auto b = whole.out.find("HTTP/1.1 200", a + 1);
    const auto c = whole.out.find("HTTP/1.1 404");
    const auto d = whole.out.find("HTTP/1.1 301");
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    EXPECT_LT(c, d);
    EXPECT_EQ(count(whole.out, "HTTP/1.1 "), 4);
}

TEST(HttpSession, Http10) {
    auto r = exchange("GET / HTTP/1.0\r\n\r\n");
    EXPECT_NE(r.out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(r.closing);
    r = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(count(r.out, "HTTP/1.1 200 OK"), 2);
    EXPECT_NE(r.out.find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_TRUE(r.closing);
}

// ended_cleanly() lets a TLS connection close at once after its last response: only when the
// final answer was to a complete request and nothing arrived after it.
TEST(HttpSession, EndedCleanlyOnlyWhenNothingFollowsTheFinalRequest) {
    EXPECT_TRUE(exchange("GET / HTTP/1.0\r\n\r\n").ended_cleanly);
    EXPECT_TRUE(exchange("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").ended_cleanly);
    EXPECT_TRUE(
        exchange("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 7).ended_cleanly);
    EXPECT_FALSE(exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n").ended_cleanly);  // still open
    // A pipelined request after the final one, in the same read or a later one.
    EXPECT_FALSE(exchange("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n").ended_cleanly);
    EXPECT_FALSE(exchange("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", 18).ended_cleanly);
    // A body the client is still sending, and errors.
    EXPECT_FALSE(
        exchange("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\n")
            .ended_cleanly);
    EXPECT_FALSE(exchange("GET / HTTP/1.1\r\n\r\n").ended_cleanly);  // 400: no Host
    EXPECT_FALSE(exchange("BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 3).ended_cleanly);
}

TEST(HttpSession, NotFoundUses404Page) {
    auto r = exchange("GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_NE(r.out.find("<html"), std::string::npos);
    EXPECT_FALSE(r.closing);
}

TEST(HttpSession, DirectoryRedirectKeepsQuery) {
    auto r = exchange("GET /post/anycast-basics?utm=x HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 301 Moved Permanently\r\n"));
    EXPECT_NE(r.out.find("Location: /post/anycast-basics/?utm=x\r\n"), std::string::npos);
    auto dir = exchange("GET /post/anycast-basics/ HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(dir.out.starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST(HttpSession, MethodsAndOptions) {
    auto r = exchange("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 405 "));
    EXPECT_NE(r.out.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos);
    EXPECT_FALSE(r.closing);
    r = exchange("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 204 "));
    EXPECT_NE(r.out.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos);
    r = exchange("GET * HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400 "));
    // A method the server does not know (methods are case-sensitive): 501, and the framed
    // request does not cost the connection.
    for (const char* unknown : {"get", "FOO"}) {
        r = exchange(std::string(unknown) + " / HTTP/1.1\r\nHost: h\r\n\r\n");
        EXPECT_TRUE(r.out.starts_with("HTTP/1.1 501 Not Implemented\r\n")) << unknown;
        EXPECT_FALSE(r.closing) << unknown;
    }
}

TEST(HttpSession, PostWithBodyConsumesExactlyTheBody) {
    auto r = exchange(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 14\r\n\r\nGET / HTTP/1.1GET /robots.txt "
        "HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 405 "));
    // The 14 body bytes are not a request; the next request is the robots.txt one.
    EXPECT_EQ(count(r.out, "HTTP/1.1 "), 2);
    EXPECT_NE(r.out.find("Sitemap:"), std::string::npos);
}

TEST(HttpSession, ErrorsCloseAndStopReading) {
    auto r = exchange(
        "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400 "));
    EXPECT_NE(r.out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(count(r.out, "HTTP/1.1 "), 1);
    EXPECT_TRUE(r.closing);
}

TEST(HttpSession, TraversalNeverLeaks) {
    for (const char* t :
         {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
          "/..\\CMakeLists.txt", "/%2e%2e%5cCMakeLists.txt", "/post/../../CMakeLists.txt"}) {
        auto r = exchange(std::string("GET ") + t + " HTTP/1.1\r\nHost: h\r\n\r\n");
        EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400 ") || r.out.starts_with("HTTP/1.1 404 ")) << t;
        EXPECT_EQ(r.out.find("cmake_minimum_required"), std::string::npos) << t;
    }
}

TEST(HttpSession, ForceCloseSaysClose) {
    HttpSession s{SessionLimits{}};
    StringSink sink;
    ResponseContext ctx;
    ctx.force_close = true;
    s.on_receive("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", *site(), ctx,
                 sink);
    EXPECT_EQ(count(sink.out, "HTTP/1.1 200"), 1);
    EXPECT_NE(sink.out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(s.closing());
}

TEST(HttpSession, OutputBudgetHoldsPipelinedRequests) {
    SessionLimits limits;
    limits.output_budget = 1;  // one response at a time
    HttpSession s{limits};
    StringSink sink;
    ResponseContext ctx;
    s.on_receive(
        "GET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /robots.txt HTTP/1.1\r\nHost: h\r\n\r\n",
        *site(), ctx, sink);
    EXPECT_EQ(count(sink.out, "HTTP/1.1 200"), 1);
    StringSink next;
    s.resume(*site(), ctx, next);
    EXPECT_EQ(count(next.out, "HTTP/1.1 200"), 1);
}

// A handler that takes bodies (as the origin's upload handler does) and echoes their size.
class BodyTaker final : public RequestHandler {
  public:
    ResponseInfo handle(const http::Request& req, const cache::Snapshot&,
                        const ResponseContext& ctx, ResponseSink& out) override {
        return respond_with(404, "text/plain", "no\n", {}, req, ctx, out);
    }
    bool wants_body(const http::Request&) const override { return true; }
    ResponseInfo handle_with_body(const http::Request& req, std::string_view body,
                                  const cache::Snapshot&, const ResponseContext& ctx,
                                  ResponseSink& out) override {
        return respond_with(201, "text/plain", std::to_string(body.size()) + "\n", {}, req, ctx,
                            out);
    }
};

// RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait for 100 (Continue)
// before its body; a handler that reads the body sends it first. Without the expectation, or
// on HTTP/1.0, no interim response.
TEST(HttpSession, ExpectContinueGetsA100BeforeTheBodyIsRead) {
    auto upload = [](const std::string& head) {
        BodyTaker taker;
        HttpSession s{SessionLimits{}, &taker};
        StringSink sink;
        ResponseContext ctx;
        s.on_receive(head, *site(), ctx, sink);
        const std::string before_body = sink.out;
        s.on_receive("hello", *site(), ctx, sink);
        return std::pair{before_body, sink.out};
    };
    auto [interim, all] =
        upload("PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n");
    EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_TRUE(all.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 ")) << all;
    EXPECT_TRUE(all.ends_with("\r\n\r\n5\n")) << all;
    std::tie(interim, all) = upload("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
    EXPECT_EQ(interim, "");
    EXPECT_TRUE(all.starts_with("HTTP/1.1 201 ")) << all;
    std::tie(interim, all) =
        upload("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    EXPECT_EQ(interim, "");
}

// RFC 9112: a request with invalid framing gets its 4xx and "close", is never answered 2xx
// first, and nothing after it on the connection is read, whatever the receives' sizes.
TEST(HttpSession, HostileRequestsGetOneErrorAndNothingAfter) {
    for (const auto& c : anyedge::testing::hostile_requests()) {
        const std::string in = c.bytes + anyedge::testing::kPipelinedAfterHostile;
        for (size_t piece : {size_t(0), size_t(1), size_t(7), size_t(64)}) {
            const auto r = exchange(in, piece);
            EXPECT_TRUE(r.out.starts_with("HTTP/1.1 " + std::to_string(c.status) + " "))
                << c.name << " piece " << piece << ":\n"
                << r.out.substr(0, 200);
            EXPECT_EQ(count(r.out, "HTTP/1.1 "), 1) << c.name << " piece " << piece;
            EXPECT_NE(r.out.find("Connection: close\r\n"), std::string::npos) << c.name;
            EXPECT_TRUE(r.closing) << c.name;
        }
    }
}

// A GET may carry a body (RFC 9110 §9.3.1): it is framed to its end, and the next pipelined
// request is the one after it.
TEST(HttpSession, BodyIsReadToItsEndBeforeTheAnswer) {
    const std::string chunked =
        anyedge::testing::chunked_get("5;a=\"x\"\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n");
    const std::string sized =
        "GET / HTTP/1.1\r\nHost: blog.example\r\nContent-Length: 5\r\n\r\nhello";
    for (const auto& request : {chunked, sized}) {
        const std::string in = request + anyedge::testing::kPipelinedAfterHostile;
        for (size_t piece : {size_t(0), size_t(1), size_t(5)}) {
            const auto r = exchange(in, piece);
            EXPECT_EQ(count(r.out, "HTTP/1.1 200 OK"), 2) << piece << request;
            EXPECT_NE(r.out.find("Sitemap:"), std::string::npos) << piece;
            EXPECT_FALSE(r.closing);
        }
    }
    // A chunked body's request is not answered while the body's end has not arrived: its
    // framing may still turn out invalid.
    EXPECT_EQ(exchange(chunked.substr(0, chunked.size() - 1)).out, "");
}

}  // namespace
}  // namespace anyedge::server
