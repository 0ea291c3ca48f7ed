// RFC 9110 semantics of the pure Responder: conditionals, ranges, content-coding choice.
#include "edge/server/responder.h"

#include <gtest/gtest.h>

#include "edge/http/request_parser.h"
#include "origin-sync/content/digest.h"
#include "tests/edge/string_sink.h"

namespace anyedge::server {
namespace {

const std::string kText = "0123456789abcdefghijklmnopqrstuvwxyz";  // 36 bytes

std::shared_ptr<const cache::Snapshot> snapshot() {
    static auto snap = [] {
        std::vector<cache::FileSpec> files;
        cache::FileSpec f;
        f.path = "/a.txt";
        f.content_type = "text/plain; charset=utf-8";
        f.last_modified = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
        f.bytes = kText;
        f.encodings.emplace_back("br", cache::Bytes{std::string("BR-BYTES")});
        f.encodings.emplace_back("gzip", cache::Bytes{std::string("GZIP-BYTES")});
        files.push_back(std::move(f));
        return cache::Snapshot::build(std::move(files), {}, 1);
    }();
    return snap;
}

std::string ask(const std::string& headers, const char* method = "GET") {
    http::RequestParser p;
    const std::string msg =
        std::string(method) + " /a.txt HTTP/1.1\r\nHost: h\r\n" + headers + "\r\n";
    size_t used = 0;
    EXPECT_EQ(p.feed(msg, used), http::ParseStatus::kDone) << p.error_reason();
    StringSink sink;
    ResponseContext ctx;
    ctx.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
    respond(p.request(), *snapshot(), ctx, sink);
    return sink.out;
}

std::string body(const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); }
std::string etag_of(const std::string& bytes) { return "\"" + sha256_hex(bytes) + "\""; }

TEST(Responder, PlainGetIsIdentityWithVary) {
    const std::string r = ask("");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_NE(r.find("Vary: Accept-Encoding\r\n"), std::string::npos);
    EXPECT_NE(r.find("ETag: " + etag_of(kText)), std::string::npos);
    EXPECT_EQ(body(r), kText);
}

TEST(Responder, ContentCodingByQValues) {
    struct Case {
        const char* accept;
        const char* body;
    } cases[] = {
        {"Accept-Encoding: br, gzip\r\n", "BR-BYTES"},
        {"Accept-Encoding: gzip\r\n", "GZIP-BYTES"},
        {"Accept-Encoding: br;q=0.5, gzip;q=0.8\r\n", "GZIP-BYTES"},
        {"Accept-Encoding: br;q=0, gzip;q=0\r\n", kText.c_str()},
        {"Accept-Encoding: identity\r\n", kText.c_str()},
        {"Accept-Encoding: *\r\n", "BR-BYTES"},
        {"Accept-Encoding: deflate\r\n", kText.c_str()},
    };
    for (const auto& c : cases) {
        const std::string r = ask(c.accept);
        EXPECT_EQ(body(r), c.body) << c.accept;
        EXPECT_NE(r.find("ETag: " + etag_of(c.body)), std::string::npos) << c.accept;
        if (std::string(c.body) == "BR-BYTES") {
            EXPECT_NE(r.find("Content-Encoding: br\r\n"), std::string::npos);
        }
    }
}

TEST(Responder, ConditionalGet) {
    EXPECT_TRUE(ask("If-None-Match: " + etag_of(kText) + "\r\n").starts_with("HTTP/1.1 304 "));
    EXPECT_TRUE(ask("If-None-Match: W/" + etag_of(kText) + "\r\n").starts_with("HTTP/1.1 304 "));
    EXPECT_TRUE(
        ask("If-None-Match: \"x\", " + etag_of(kText) + "\r\n").starts_with("HTTP/1.1 304 "));
    EXPECT_TRUE(ask("If-None-Match: *\r\n").starts_with("HTTP/1.1 304 "));
    EXPECT_TRUE(ask("If-None-Match: \"other\"\r\n").starts_with("HTTP/1.1 200 "));
    // The br representation has its own ETag: the identity one does not match it.
    EXPECT_TRUE(ask("Accept-Encoding: br\r\nIf-None-Match: " + etag_of(kText) + "\r\n")
                    .starts_with("HTTP/1.1 200 "));
    EXPECT_TRUE(ask("Accept-Encoding: br\r\nIf-None-Match: " + etag_of("BR-BYTES") + "\r\n")
                    .starts_with("HTTP/1.1 304 "));
    const std::string r304 = ask("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    EXPECT_TRUE(r304.starts_with("HTTP/1.1 304 "));
    EXPECT_NE(r304.find("ETag: "), std::string::npos);
    EXPECT_EQ(body(r304), "");
    EXPECT_TRUE(
        ask("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n").starts_with("HTTP/1.1 200 "));
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    EXPECT_TRUE(
        ask("If-None-Match: \"other\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")
            .starts_with("HTTP/1.1 200 "));
    EXPECT_TRUE(ask("If-Match: \"other\"\r\n").starts_with("HTTP/1.1 412 "));
    EXPECT_TRUE(ask("If-Match: " + etag_of(kText) + "\r\n").starts_with("HTTP/1.1 200 "));
    EXPECT_TRUE(
        ask("If-Unmodified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n").starts_with("HTTP/1.1 412 "));
}

TEST(Responder, Ranges) {
    std::string r = ask("Range: bytes=0-9\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 206 "));
    EXPECT_NE(r.find("Content-Range: bytes 0-9/36\r\n"), std::string::npos);
    EXPECT_EQ(body(r), "0123456789");
    r = ask("Range: bytes=-6\r\n");
    EXPECT_EQ(body(r), "uvwxyz");
    r = ask("Range: bytes=30-\r\n");
    EXPECT_EQ(body(r), "uvwxyz");
    // A Range request gets identity bytes even when br is acceptable.
    r = ask("Range: bytes=0-1\r\nAccept-Encoding: br\r\n");
    EXPECT_EQ(body(r), "01");
    EXPECT_EQ(r.find("Content-Encoding"), std::string::npos);
    r = ask("Range: bytes=100-200\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 416 "));
    EXPECT_NE(r.find("Content-Range: bytes */36\r\n"), std::string::npos);
    r = ask("Range: bytes=0-1,4-5\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 206 "));
    EXPECT_NE(r.find("Content-Type: multipart/byteranges; boundary="), std::string::npos);
    EXPECT_NE(body(r).find("Content-Range: bytes 0-1/36"), std::string::npos);
    EXPECT_NE(body(r).find("Content-Range: bytes 4-5/36"), std::string::npos);
    const auto cl = r.find("Content-Length: ");
    EXPECT_EQ(std::stoul(r.substr(cl + 16)), body(r).size());
    // If-Range with the current ETag honours the range; a stale one gets the whole file.
    EXPECT_TRUE(ask("Range: bytes=0-1\r\nIf-Range: " + etag_of(kText) + "\r\n")
                    .starts_with("HTTP/1.1 206"));
    EXPECT_TRUE(ask("Range: bytes=0-1\r\nIf-Range: \"old\"\r\n").starts_with("HTTP/1.1 200"));
    // Syntactically invalid ranges are ignored.
    EXPECT_TRUE(ask("Range: bytes=abc\r\n").starts_with("HTTP/1.1 200"));
    // HEAD with a range: headers only.
    r = ask("Range: bytes=0-9\r\n", "HEAD");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 206 "));
    EXPECT_EQ(body(r), "");
}

}  // namespace
}  // namespace anyedge::server

namespace anyedge::server {
namespace {

// RFC 8555 §8.3 HTTP-01, answered statelessly from the fleet account's thumbprint.
std::string ask_path(const std::string& target, const ResponseContext& ctx,
                     const char* method = "GET") {
    http::RequestParser p;
    const std::string msg = std::string(method) + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t used = 0;
    EXPECT_EQ(p.feed(msg, used), http::ParseStatus::kDone) << p.error_reason();
    StringSink sink;
    respond(p.request(), *snapshot(), ctx, sink);
    return sink.out;
}

TEST(Responder, AcmeHttp01ChallengesAreAnsweredFromTheThumbprint) {
    const std::string thumb = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";  // RFC 7638 §3.1
    const std::string token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";  // RFC 8555 §8.3
    ResponseContext ctx;
    ctx.acme_thumbprint = thumb;
    // Even where plain HTTP redirects to HTTPS: the CA asks over port 80.
    ctx.redirect_https_port = 443;
    const std::string r = ask_path("/.well-known/acme-challenge/" + token, ctx);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    EXPECT_NE(r.find("Content-Type: application/octet-stream\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("Cache-Control: no-store\r\n"), std::string::npos) << r;
    EXPECT_EQ(body(r), token + "." + thumb);
    const std::string head = ask_path("/.well-known/acme-challenge/" + token, ctx, "HEAD");
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_EQ(body(head), "");
    // Not a base64url token: no challenge of ours, 404.
    for (const char* bad : {"/.well-known/acme-challenge/", "/.well-known/acme-challenge/a.b",
                            "/.well-known/acme-challenge/a%3Db", "/.well-known/acme-challenge/a/b",
                            "/.well-known/acme-challenge/abc="}) {
        EXPECT_TRUE(ask_path(bad, ctx).starts_with("HTTP/1.1 404 ")) << bad;
    }
    // Other paths still redirect; without a thumbprint the prefix is an ordinary path.
    EXPECT_TRUE(ask_path("/a.txt", ctx).starts_with("HTTP/1.1 301 "));
    ResponseContext plain;
    EXPECT_TRUE(
        ask_path("/.well-known/acme-challenge/" + token, plain).starts_with("HTTP/1.1 404"));
}

}  // namespace
}  // namespace anyedge::server
