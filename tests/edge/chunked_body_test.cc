#include "edge/http/chunked_body.h"

#include <string>

#include <gtest/gtest.h>

namespace anyedge::http {
namespace {

struct Decoded {
    ChunkedBody::Status status;
    std::string data;
    size_t consumed;
    int error_status;
};

// Feeds `wire` in pieces of `piece` bytes (0: whole), as receives of any size would cut it.
Decoded decode(const std::string& wire, size_t piece = 0, ChunkedLimits limits = {}) {
    ChunkedBody body(limits);
    Decoded d{ChunkedBody::Status::kNeedMore, {}, 0, 0};
    if (piece == 0) piece = wire.size();
    for (size_t at = 0; at < wire.size(); at += piece) {
        size_t used = 0;
        d.status = body.feed(std::string_view(wire).substr(at, piece), used, &d.data);
        d.consumed += used;
        if (d.status != ChunkedBody::Status::kNeedMore) break;
    }
    d.error_status = body.error_status();
    return d;
}

TEST(ChunkedBody, DecodesAtEverySplitAndStopsAtTheEnd) {
    const std::string wire =
        "5\r\nhello\r\n1;ext\r\n \r\nA;a=b;c=\"q\\\"d;e\" ; f\r\n0123456789\r\n"
        "0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n";
    const std::string after = "GET / HTTP/1.1\r\n";
    for (size_t piece = 1; piece <= wire.size(); ++piece) {
        const Decoded d = decode(wire + after, piece);
        ASSERT_EQ(d.status, ChunkedBody::Status::kDone) << piece;
        EXPECT_EQ(d.data, "hello 0123456789") << piece;
        EXPECT_EQ(d.consumed, wire.size()) << piece << ": the next request is not the body's";
    }
}

TEST(ChunkedBody, LeadingZerosAndUpperCaseHex) {
    const Decoded d = decode("000A\r\n0123456789\r\n000\r\n\r\n");
    ASSERT_EQ(d.status, ChunkedBody::Status::kDone);
    EXPECT_EQ(d.data, "0123456789");
}

TEST(ChunkedBody, RefusesWhatTheGrammarForbids) {
    for (const char* wire : {
             "+5\r\nhello\r\n0\r\n\r\n",
             "-5\r\nhello\r\n0\r\n\r\n",
             "0x5\r\nhello\r\n0\r\n\r\n",
             " 5\r\nhello\r\n0\r\n\r\n",
             "5 \r\nhello\r\n0\r\n\r\n",
             "5\t\r\nhello\r\n0\r\n\r\n",
             "1_0\r\n",
             "\r\nhello\r\n0\r\n\r\n",
             "g\r\n",
             "5\nhello\r\n",
             "5\rhello",
             "5\r\nhello\n",
             "5\r\nhello\r0",
             "5\r\nhelloEXTRA\r\n",
             "5;a=\"unterminated\r\nhello\r\n",
             "5;a=\"bad\\\x01\"\r\n",
             "5;=v\r\n",
             "5;a=\r\n",
             "5;a b\r\n",
             "5;a=\"q\"x\r\n",
             "5;\r\n",
             "0\r\nContent-Length: 5\r\n\r\n",
             "0\r\ntransfer-encoding: chunked\r\n\r\n",
             "0\r\nHost: x\r\n\r\n",
             "0\r\nX-A: a\r\n b\r\n\r\n",
             "0\r\nX-A : a\r\n\r\n",
             "0\r\nno colon\r\n\r\n",
             "0\r\nX-A: a\nX-B: b\r\n\r\n",
             "0\r\nX-A: a\rb\r\n\r\n",
             "0\r\nX-A: a\x7f\r\n\r\n",
             "0\r\n\rX",
             "0\r\n\n",
         }) {
        for (size_t piece : {size_t(0), size_t(1)}) {
            const Decoded d = decode(wire, piece);
            EXPECT_EQ(d.status, ChunkedBody::Status::kError) << wire << " piece " << piece;
            EXPECT_EQ(d.error_status, 400) << wire;
        }
    }
}

TEST(ChunkedBody, SizesPastTheLimitsOrPast63Bits) {
    EXPECT_EQ(decode("1ffffffffffffffff\r\n").error_status, 400);
    EXPECT_EQ(decode("8000000000000000\r\n").error_status, 400);
    EXPECT_EQ(decode("7fffffffffffffff\r\n").error_status, 413);  // a valid size, too large
    ChunkedLimits small;
    small.max_body_bytes = 8;
    EXPECT_EQ(decode("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", 0, small).status,
              ChunkedBody::Status::kDone);
    EXPECT_EQ(decode("5\r\nhello\r\n4\r\nabcd\r\n0\r\n\r\n", 0, small).error_status, 413);
    small.max_line_bytes = 16;
    EXPECT_EQ(decode("5;" + std::string(20, 'x') + "\r\n", 1, small).error_status, 400);
    small.max_trailer_bytes = 32;
    EXPECT_EQ(decode("0\r\nX-A: " + std::string(40, 'a') + "\r\n\r\n", 1, small).error_status, 431);
}

TEST(ChunkedBody, AfterAnErrorEveryFeedFails) {
    ChunkedBody body;
    size_t used = 0;
    EXPECT_EQ(body.feed("zz\r\n", used, nullptr), ChunkedBody::Status::kError);
    EXPECT_EQ(body.feed("5\r\nhello\r\n0\r\n\r\n", used, nullptr), ChunkedBody::Status::kError);
    EXPECT_EQ(used, 0u);
}

}  // namespace
}  // namespace anyedge::http
