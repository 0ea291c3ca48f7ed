// HTTP/1.1 heads as HTTP/2 and HTTP/3 fields: the rule (lower-case names, no
// connection-specific fields), and a file's prebuilt fields giving exactly what parsing its
// head per response gives.
#include "edge/http/response_head.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "edge/server/output_queue.h"
#include "edge/server/response_fields.h"

namespace anyedge::server {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 8192\r\n"
    "Connection: close\r\nETag: \"abc\"\r\nX-Served-By:  node-1 \r\nnot a field\r\n";
constexpr std::string_view kPerResponse =
    "Date: Mon, 07 Dec 2026 00:00:00 GMT\r\nAlt-Svc: h3=\":443\"; ma=60\r\nKeep-Alive: x\r\n"
    "Connection: keep-alive\r\n\r\nbody";

Fields fields_of(CaptureSink& sink) {
    Fields out;
    sink.for_each_field([&](std::string_view n, std::string_view v) { out.emplace_back(n, v); });
    return out;
}

TEST(ResponseHead, FieldsAreLowerCaseWithoutConnectionSpecificOnes) {
    const auto f = http::HeadFields::of(kHead);
    ASSERT_TRUE(f.has_status);
    EXPECT_EQ(f.bytes.substr(0, 3), "200");
    Fields got;
    for (const auto& s : f.spans) {
        got.emplace_back(f.bytes.substr(s.name_at, s.name_len),
                         f.bytes.substr(s.value_at, s.value_len));
    }
    const Fields want{{"content-type", "text/html; charset=utf-8"},
                      {"content-length", "8192"},
                      {"etag", "\"abc\""},
                      {"x-served-by", "node-1"}};
    EXPECT_EQ(got, want);
    EXPECT_EQ(http::status_digits("HTTP/1.1 404 Not Found\r\n"), "404");
    EXPECT_EQ(http::status_digits("junk"), "500");
    EXPECT_EQ(http::status_digits("date: Mon, 07 Dec 2026"), "500");
}

TEST(ResponseHead, PrebuiltFieldsGiveWhatParsingTheHeadGives) {
    const auto prebuilt = http::HeadFields::of(kHead);
    OutputQueue body_a, body_b;
    std::string head_a = "left over from the stream's last response";
    std::string head_b = head_a;
    CaptureSink parsed(body_a, head_a);
    parsed.copy(kHead);
    parsed.copy(kPerResponse);
    CaptureSink fast(body_b, head_b);
    fast.copy_prebuilt(kHead, prebuilt);
    // The per-response lines arrive in pieces, the blank line split across two of them.
    fast.copy(kPerResponse.substr(0, 40));
    fast.copy(kPerResponse.substr(40, kPerResponse.size() - 40 - 7));
    fast.copy(kPerResponse.substr(kPerResponse.size() - 7));
    const Fields a = fields_of(parsed);
    const Fields b = fields_of(fast);
    EXPECT_EQ(a, b);
    ASSERT_EQ(b.size(), 7u);
    EXPECT_EQ(b[0], (std::pair<std::string, std::string>{":status", "200"}));
    EXPECT_EQ(b[5], (std::pair<std::string, std::string>{"date", "Mon, 07 Dec 2026 00:00:00 GMT"}));
    EXPECT_EQ(b[6].first, "alt-svc");
    // What followed the blank line went to the body, in both.
    EXPECT_EQ(body_a.queued_bytes(), 4u);
    EXPECT_EQ(body_b.queued_bytes(), 4u);
}

// The hot path's order: a file's head, then the Date line and the listener's lines, each
// prebuilt, then the blank line as text; and a generated response's order: text, then the
// prebuilt lines, then "Connection: close" and the blank line. Both give what parsing the whole
// text gives, and the body starts after the blank line.
TEST(ResponseHead, PrebuiltAndTextRunsInAnyOrderGiveWhatParsingGives) {
    const std::string date = "Date: Mon, 07 Dec 2026 00:00:00 GMT\r\n";
    const std::string extra = "Alt-Svc: h3=\":443\"; ma=60\r\nStrict-Transport-Security: x\r\n";
    const http::HeaderLines date_lines(date), extra_lines(extra);
    EXPECT_FALSE(date_lines.fields.has_status);
    ASSERT_EQ(extra_lines.fields.spans.size(), 2u);
    const auto prebuilt = http::HeadFields::of(kHead);
    const std::string generated = "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n";
    for (const std::string& head : {std::string(kHead), generated}) {
        const std::string tail = head == generated ? "Connection: close\r\n\r\nbody" : "\r\nbody";
        OutputQueue body_a, body_b;
        std::string head_a, head_b;
        CaptureSink parsed(body_a, head_a);
        parsed.copy(head + date + extra + tail);
        CaptureSink fast(body_b, head_b);
        if (head == generated) {
            fast.copy(head);
        } else {
            fast.copy_prebuilt(head, prebuilt);
        }
        fast.copy_prebuilt(date, date_lines.fields);
        fast.copy_prebuilt(extra, extra_lines.fields);
        fast.copy(tail);
        const Fields a = fields_of(parsed);
        EXPECT_EQ(a, fields_of(fast)) << head;
        EXPECT_EQ(a.back().first, "strict-transport-security");
        EXPECT_EQ(body_a.queued_bytes(), 4u);
        EXPECT_EQ(body_b.queued_bytes(), 4u);
    }
}

// Lines too long for 16-bit offsets are not translated, and a sink given them uses the text:
// nothing of the head is lost.
TEST(ResponseHead, LinesThatCannotBeTranslatedAreCopiedAsText) {
    const std::string huge = "X-Big: " + std::string(70000, 'a') + "\r\n";
    const http::HeaderLines lines(huge);
    EXPECT_FALSE(lines.fields.translated);
    EXPECT_FALSE(http::HeadFields().translated);
    EXPECT_TRUE(http::HeaderLines("Alt-Svc: x\r\n").fields.translated);
    const auto prebuilt = http::HeadFields::of(kHead);
    OutputQueue body;
    std::string head;
    CaptureSink sink(body, head);
    sink.copy_prebuilt(kHead, prebuilt);
    sink.copy_prebuilt(huge, lines.fields);
    sink.copy_prebuilt("", http::HeadFields());
    sink.copy("\r\n");
    const Fields f = fields_of(sink);
    ASSERT_EQ(f.size(), 6u);
    EXPECT_EQ(f[0].second, "200");
    EXPECT_EQ(f[5].first, "x-big");
    EXPECT_EQ(f[5].second.size(), 70000u);
}

TEST(ResponseHead, APrebuiltHeadAfterOtherBytesIsCopiedAsText) {
    const auto prebuilt = http::HeadFields::of(kHead);
    OutputQueue body;
    std::string head;
    CaptureSink sink(body, head);
    sink.copy("HTTP/1.1 304 Not Modified\r\n");
    sink.copy_prebuilt("ETag: \"x\"\r\n", prebuilt);  // not at the start: only text makes sense
    sink.copy("\r\n");
    const Fields f = fields_of(sink);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].second, "304");
    EXPECT_EQ(f[1], (std::pair<std::string, std::string>{"etag", "\"x\""}));
}

}  // namespace
}  // namespace anyedge::server
