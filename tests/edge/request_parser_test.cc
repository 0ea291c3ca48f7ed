#include "edge/http/request_parser.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/edge/hostile_requests.h"

namespace anyedge::http {
namespace {

// Feeds the message in two pieces split at `split`, the way a receive of any size may cut it,
// presenting unconsumed bytes again as the parser's contract requires.
// `buf` must outlive the checks: the request's views point into it.
ParseStatus feed_split(RequestParser& p, const std::string& msg, size_t split, size_t& used,
                       std::string& buf) {
    buf = msg.substr(0, split);
    size_t consumed = 0;
    ParseStatus st = p.feed(buf, consumed);
    used = consumed;
    if (st == ParseStatus::kError || st == ParseStatus::kDone) return st;
    buf = msg.substr(used);
    while (true) {
        st = p.feed(buf, consumed);
        used += consumed;
        buf.erase(0, consumed);
        if (st != ParseStatus::kHeaderDone || buf.empty()) return st;
    }
}

TEST(RequestParser, ParsesSimpleGet) {
    RequestParser p;
    const std::string msg =
        "GET /post/a/?x=1 HTTP/1.1\r\nHost: blog.example\r\nIf-None-Match: \"abc\"\r\n"
        "Range: bytes=0-9\r\nAccept-Encoding: br, gzip\r\n\r\n";
    size_t used = 0;
    ASSERT_EQ(p.feed(msg, used), ParseStatus::kDone);
    EXPECT_EQ(used, msg.size());
    const Request& r = p.request();
    EXPECT_EQ(r.method, Method::kGet);
    EXPECT_EQ(r.target, "/post/a/?x=1");
    EXPECT_EQ(r.version, 11);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.host, "blog.example");
    EXPECT_EQ(r.if_none_match, "\"abc\"");
    EXPECT_EQ(r.range, "bytes=0-9");
    EXPECT_EQ(r.accept_encoding, "br, gzip");
}

TEST(RequestParser, EverySplitGivesTheSameRequest) {
    const std::string msg =
        "HEAD /a%20b HTTP/1.1\r\nHost: h\r\nConnection: close\r\nIf-Modified-Since: Sun, 06 Nov "
        "1994 08:49:37 GMT\r\n\r\n";
    for (size_t split = 0; split <= msg.size(); ++split) {
        RequestParser p;
        size_t used = 0;
        std::string buf;
        ASSERT_EQ(feed_split(p, msg, split, used, buf), ParseStatus::kDone) << split;
        EXPECT_EQ(used, msg.size()) << split;
        EXPECT_EQ(p.request().method, Method::kHead);
        EXPECT_EQ(p.request().target, "/a%20b");
        EXPECT_FALSE(p.request().keep_alive);
        EXPECT_EQ(p.request().if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}

TEST(RequestParser, BodyIsFramedAndDiscardedAtEverySplit) {
    const std::string chunked =
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    const std::string sized = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    for (const auto& msg : {chunked, sized}) {
        for (size_t split = 0; split <= msg.size(); ++split) {
            RequestParser p;
            size_t used = 0;
            std::string buf;
            ASSERT_EQ(feed_split(p, msg, split, used, buf), ParseStatus::kDone) << msg << split;
            EXPECT_EQ(used, msg.size());
            EXPECT_TRUE(p.request().has_body());
        }
    }
}

TEST(RequestParser, Http10) {
    RequestParser p;
    size_t used = 0;
    ASSERT_EQ(p.feed("GET / HTTP/1.0\r\n\r\n", used), ParseStatus::kDone);
    EXPECT_EQ(p.request().version, 10);
    EXPECT_FALSE(p.request().keep_alive);
    p.reset();
    ASSERT_EQ(p.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", used), ParseStatus::kDone);
    EXPECT_TRUE(p.request().keep_alive);
}

TEST(RequestParser, RefusesSmugglingShapes) {
    struct Case {
        const char* name;
        std::string msg;
        int status;
    };
    const Case cases[] = {
        {"CL+TE",
         "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"TE+CL",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         400},
        {"duplicate CL",
         "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400},
        {"conflicting CL",
         "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"CL list", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400},
        {"negative CL", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400},
        {"obs-fold tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        {"tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400},
        {"space before colon other",
         "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
        {"no Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400},
        {"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"duplicate Host 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        {"Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
        {"Host with quote", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400},
        {"Host port not digits", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
        {"Host two colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400},
        {"Host bad percent", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400},
        {"Host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
        {"Host after bracket", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400},
        {"Host 8-bit",
         "GET / HTTP/1.1\r\nHost: b\xc3\xbc"
         "cher.example\r\n\r\n",
         400},
        {"TE gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"TE chunked, gzip",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"TE chunked twice",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
        {"TE identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400},
        {"TE repeated",
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         400},
        {"TE xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
        {"TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"bare LF", "GET / HTTP/1.1\nHost: h\n\n", 400},
        {"bare LF in header", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400},
        {"garbage", "\x16\x03\x01\x02\x01\xfc\x03\x03\r\n\r\n", 400},
        {"no version", "GET /\r\nHost: h\r\n\r\n", 400},
        {"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"HTTP/2.0 line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400},
        {"HTTP/0.9 line", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 400},
        {"NUL in header", std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 35), 400},
        {"bad chunk size", "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         400},
    };
    for (const auto& c : cases) {
        RequestParser p;
        size_t used = 0;
        ParseStatus st = p.feed(c.msg, used);
        if (st == ParseStatus::kHeaderDone) st = p.feed(std::string_view(c.msg).substr(used), used);
        EXPECT_EQ(st, ParseStatus::kError) << c.name;
        EXPECT_EQ(p.error_status(), c.status) << c.name << ": " << p.error_reason();
    }
}

TEST(RequestParser, MethodsAreCaseSensitiveAndUnknownOnesAreMarked) {
    const struct {
        const char* method;
        Method expected;
    } cases[] = {
        {"GET", Method::kGet},          {"HEAD", Method::kHead},
        {"OPTIONS", Method::kOptions},  {"PUT", Method::kOther},
        {"DELETE", Method::kOther},     {"TRACE", Method::kOther},
        {"get", Method::kUnrecognized}, {"FOO", Method::kUnrecognized},
    };
    for (const auto& c : cases) {
        RequestParser p;
        size_t used = 0;
        const std::string msg = std::string(c.method) + " / HTTP/1.1\r\nHost: h\r\n\r\n";
        ASSERT_EQ(p.feed(msg, used), ParseStatus::kDone) << c.method;
        EXPECT_EQ(p.request().method, c.expected) << c.method;
        EXPECT_EQ(p.request().method_name, c.method);
    }
}

// RFC 3986 authority forms a browser or proxy sends (RFC 9112 §3.2), and the empty value
// RFC 9112 allows when the target has no authority.
TEST(RequestParser, AcceptsEveryAuthorityForm) {
    for (const char* host : {"blog.example", "BLOG.example:443", "127.0.0.1:8443", "[::1]",
                             "[2001:db8::1]:8443", "[v1.fe80::a+en1]", "xn--bcher-kva.example",
                             "a_b-c~d.example", "h:", "%41.example", ""}) {
        RequestParser p;
        size_t used = 0;
        const std::string msg = std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n";
        EXPECT_EQ(p.feed(msg, used), ParseStatus::kDone) << host << ": " << p.error_reason();
        EXPECT_EQ(p.request().host, host);
    }
}

TEST(RequestParser, AcceptsFinalChunkedAfterOtherCoding) {
    RequestParser p;
    size_t used = 0;
    const std::string msg =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    ParseStatus st = p.feed(msg, used);
    ASSERT_NE(st, ParseStatus::kError) << p.error_reason();
}

TEST(RequestParser, Limits) {
    ParserLimits limits;
    limits.max_header_bytes = 1024;
    limits.max_target_bytes = 512;
    {
        RequestParser p(limits);
        size_t used = 0;
        const std::string msg = "GET /" + std::string(600, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
        EXPECT_EQ(p.feed(msg, used), ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 414);
    }
    {
        // A long target still arriving (no CRLF yet) is refused as soon as it passes the limit.
        RequestParser p(limits);
        size_t used = 0;
        EXPECT_EQ(p.feed("GET /" + std::string(600, 'a'), used), ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 414);
    }
    {
        RequestParser p(limits);
        size_t used = 0;
        const std::string msg =
            "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n";
        EXPECT_EQ(p.feed(msg, used), ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 431);
    }
    {
        RequestParser p(limits);
        size_t used = 0;
        const std::string msg = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n";
        EXPECT_EQ(p.feed(msg, used), ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 413);
    }
}

// Every hostile shape gets its status, whatever the receives cut it into, and the request is
// never reported complete first.
TEST(RequestParser, HostileRequestsGetTheirStatusAtEverySplit) {
    for (const auto& c : testing::hostile_requests()) {
        const std::string msg = c.bytes + testing::kPipelinedAfterHostile;
        for (size_t split = 0; split <= c.bytes.size(); ++split) {
            RequestParser p;
            size_t used = 0;
            std::string buf;
            const ParseStatus st = feed_split(p, msg, split, used, buf);
            ASSERT_EQ(st, ParseStatus::kError) << c.name << " split " << split;
            ASSERT_EQ(p.error_status(), c.status)
                << c.name << " split " << split << ": " << p.error_reason();
        }
    }
}

TEST(RequestParser, ChunkedBodyWithExtensionsAndTrailersEndsWhereItSays) {
    const std::string body = "5;a=\"x y\"\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n";
    const std::string msg = testing::chunked_get(body) + testing::kPipelinedAfterHostile;
    for (size_t split = 0; split <= msg.size(); ++split) {
        RequestParser p;
        size_t used = 0;
        std::string buf;
        ASSERT_EQ(feed_split(p, msg, split, used, buf), ParseStatus::kDone) << split;
        EXPECT_EQ(used, msg.size() - testing::kPipelinedAfterHostile.size()) << split;
    }
}

TEST(RequestParser, PerFieldLimit) {
    ParserLimits limits;
    limits.max_field_bytes = 100;
    const std::string at_limit = "X-A: " + std::string(95, 'a');  // 100 bytes
    const std::string past = at_limit + "a";
    {
        RequestParser p(limits);
        size_t used = 0;
        EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n" + at_limit + "\r\n\r\n", used),
                  ParseStatus::kDone);
    }
    {
        RequestParser p(limits);
        size_t used = 0;
        EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n" + past + "\r\n\r\n", used),
                  ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 431);
    }
    {
        // Still arriving: refused as soon as the line is longer than the limit.
        RequestParser p(limits);
        size_t used = 0;
        EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n" + past + "a", used), ParseStatus::kError);
        EXPECT_EQ(p.error_status(), 431);
    }
}

TEST(RequestParser, AbsoluteFormWithoutUserinfoIsAccepted) {
    for (const char* target : {"http://blog.example/", "https://blog.example:8443/a?b=c",
                               "http://[::1]:8080/", "HTTP://blog.example"}) {
        RequestParser p;
        size_t used = 0;
        const std::string msg = std::string("GET ") + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
        EXPECT_EQ(p.feed(msg, used), ParseStatus::kDone) << target << ": " << p.error_reason();
    }
}

TEST(RequestParser, NeedsMoreUntilHeaderEnds) {
    RequestParser p;
    size_t used = 0;
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n", used), ParseStatus::kNeedMore);
    EXPECT_EQ(used, 0u);
}

}  // namespace
}  // namespace anyedge::http
