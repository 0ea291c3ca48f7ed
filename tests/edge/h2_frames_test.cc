// RFC 9113's answer to each malformed frame or request a client can send, checked on the raw
// bytes: a connection error is a GOAWAY with its code, a stream error a RST_STREAM (or, as
// §5.4.2 allows, a GOAWAY), and a malformed request leaves the connection serving others.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "edge/cache/site_loader.h"
#include "edge/server/h2_session.h"
#include "tests/edge/string_sink.h"

// A namespace of its own: unity builds compile several test files as one.
namespace anyedge::server::h2_frames {
namespace {

// Frame types, flags and error codes (RFC 9113 §6, §7).
enum : uint8_t {
    kData,
    kHeaders,
    kPriority,
    kRstStream,
    kSettings,
    kPushPromise,
    kPing,
    kGoaway,
    kWindowUpdate,
    kContinuation
};
constexpr uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPriorityFlag = 0x20;
enum : uint32_t { kProtocolError = 1, kFlowControlError = 3, kFrameSizeError = 6 };

std::string u32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    const auto n = static_cast<uint32_t>(payload.size());
    return std::string{char(n >> 16), char(n >> 8), char(n), char(type), char(flags)} +
           u32(stream) + payload;
}

// HPACK (RFC 7541) without Huffman or indexing, enough to write any field by hand.
std::string literal(const std::string& name, const std::string& value) {
    return std::string{0x00, char(name.size())} + name + char(value.size()) + value;
}
const std::string kGetFields = std::string{char(0x82), char(0x87), char(0x84)} +  // GET https /
                               std::string{0x01, 12} + "blog.example";            // :authority

struct Frame {
    uint8_t type;
    uint32_t stream;
    std::string payload;
};

std::vector<Frame> frames_of(const std::string& bytes) {
    std::vector<Frame> out;
    for (size_t at = 0; at + 9 <= bytes.size();) {
        const auto b = [&](size_t i) { return uint32_t(uint8_t(bytes[at + i])); };
        const uint32_t len = b(0) << 16 | b(1) << 8 | b(2);
        out.push_back({uint8_t(b(3)), (b(5) << 24 | b(6) << 16 | b(7) << 8 | b(8)) & 0x7fffffff,
                       bytes.substr(at + 9, len)});
        at += 9 + len;
    }
    return out;
}

uint32_t u32_at(const std::string& s, size_t i) {
    return uint32_t(uint8_t(s[i])) << 24 | uint32_t(uint8_t(s[i + 1])) << 16 |
           uint32_t(uint8_t(s[i + 2])) << 8 | uint32_t(uint8_t(s[i + 3]));
}

std::shared_ptr<const cache::Snapshot> site() {
    static auto snap = [] {
        auto files = cache::load_site_dir(ANYEDGE_SOURCE_DIR "/site", {});
        EXPECT_TRUE(files.ok());
        return cache::Snapshot::build(std::move(*files), {}, 1);
    }();
    return snap;
}

// A server session past the connection preface, fed raw client bytes.
class RawClient {
  public:
    RawClient() {
        ctx_.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
        server_.start(sink_);
        send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(kSettings, 0, 0, "") +
             frame(kSettings, kAck, 0, ""));
        sink_.out.clear();
    }
    void send(const std::string& bytes) { server_.on_receive(bytes, *site(), ctx_, sink_); }
    std::vector<Frame> received() { return frames_of(sink_.out); }
    H2Session& server() { return server_; }

  private:
    H2Session server_{SessionLimits{}};
    StringSink sink_;
    ResponseContext ctx_;
};

struct Case {
    const char* what;
    std::string bytes;
    bool connection_error;  // false: a stream error, on stream 1
    uint32_t code;
    // A malformed request (RFC 9113 §8.1.1): its stream is reset, never the connection.
    bool request = false;
};

std::vector<Case> cases() {
    const std::string get = frame(kHeaders, kEndHeaders | kEndStream, 1, kGetFields);
    const std::string open = frame(kHeaders, kEndHeaders, 1, kGetFields);  // body to follow
    const std::string post =
        frame(kHeaders, kEndHeaders, 1,
              std::string{char(0x83), char(0x87), char(0x84)} + std::string{0x01, 12} +
                  "blog.example" + literal("content-length", "10"));
    auto malformed = [&](const std::string& fields) {
        return frame(kHeaders, kEndHeaders | kEndStream, 1, fields);
    };
    const std::string settings_bad_push = std::string{0, 2} + u32(2);
    return {
        // §6.3
        {"PRIORITY on stream 0", frame(kPriority, 0, 0, u32(1) + char(16)), true, kProtocolError},
        {"PRIORITY that depends on its own stream", frame(kPriority, 0, 1, u32(1) + char(16)),
         false, kProtocolError},
        {"PRIORITY of four bytes", frame(kPriority, 0, 1, u32(0)), false, kFrameSizeError},
        // §6.1, §6.2, §5.1.1, §5.3.1 of RFC 7540
        {"DATA on stream 0", frame(kData, 0, 0, "x"), true, kProtocolError},
        {"HEADERS on stream 0", frame(kHeaders, kEndHeaders | kEndStream, 0, kGetFields), true,
         kProtocolError},
        {"HEADERS on an even (server) stream",
         frame(kHeaders, kEndHeaders | kEndStream, 2, kGetFields), true, kProtocolError},
        {"HEADERS that depend on their own stream",
         frame(kHeaders, kEndHeaders | kEndStream | kPriorityFlag, 1,
               u32(1) + char(16) + kGetFields),
         false, kProtocolError},
        // §5.1: only HEADERS and PRIORITY may name an idle stream.
        {"WINDOW_UPDATE on an idle stream", frame(kWindowUpdate, 0, 3, u32(1)), true,
         kProtocolError},
        {"RST_STREAM on an idle stream", frame(kRstStream, 0, 1, u32(8)), true, kProtocolError},
        {"DATA on an idle stream", frame(kData, 0, 1, "x"), true, kProtocolError},
        // §6.4, §6.5, §6.7, §6.8, §6.9
        {"RST_STREAM on stream 0", frame(kRstStream, 0, 0, u32(8)), true, kProtocolError},
        {"RST_STREAM of three bytes", get + frame(kRstStream, 0, 1, std::string(3, '\0')), true,
         kFrameSizeError},
        {"SETTINGS on a stream", frame(kSettings, 0, 1, ""), true, kProtocolError},
        {"SETTINGS of five bytes", frame(kSettings, 0, 0, std::string(5, '\0')), true,
         kFrameSizeError},
        {"SETTINGS ACK with a payload", frame(kSettings, kAck, 0, settings_bad_push), true,
         kFrameSizeError},
        {"SETTINGS_ENABLE_PUSH of 2", frame(kSettings, 0, 0, settings_bad_push), true,
         kProtocolError},
        {"SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
         frame(kSettings, 0, 0, std::string{0, 4} + u32(0x80000000)), true, kFlowControlError},
        {"SETTINGS_MAX_FRAME_SIZE under 16384",
         frame(kSettings, 0, 0, std::string{0, 5} + u32(16383)), true, kProtocolError},
        {"PING of seven bytes", frame(kPing, 0, 0, std::string(7, 'p')), true, kFrameSizeError},
        {"PING on a stream", frame(kPing, 0, 1, std::string(8, 'p')), true, kProtocolError},
        {"GOAWAY on a stream", frame(kGoaway, 0, 1, u32(0) + u32(0)), true, kProtocolError},
        {"WINDOW_UPDATE of 0 on the connection", frame(kWindowUpdate, 0, 0, u32(0)), true,
         kProtocolError},
        {"WINDOW_UPDATE of 0 on a stream", open + frame(kWindowUpdate, 0, 1, u32(0)), false,
         kProtocolError},
        {"a connection window past 2^31-1", frame(kWindowUpdate, 0, 0, u32(0x7fffffff)), true,
         kFlowControlError},
        // §4.2, §6.10, §8.4
        {"a frame over SETTINGS_MAX_FRAME_SIZE", open + frame(kData, 0, 1, std::string(16385, 'd')),
         false, kFrameSizeError},
        {"CONTINUATION without HEADERS", frame(kContinuation, kEndHeaders, 1, kGetFields), true,
         kProtocolError},
        {"a header block interrupted by PING",
         frame(kHeaders, kEndStream, 1, kGetFields) + frame(kPing, 0, 0, std::string(8, 'p')), true,
         kProtocolError},
        {"PUSH_PROMISE from a client",
         get + frame(kPushPromise, kEndHeaders, 1, u32(2) + kGetFields), true, kProtocolError},
        // §8.1.1, §8.2, §8.3: malformed requests are stream errors.
        {"an upper-case field name", malformed(kGetFields + literal("User-Agent", "x")), false,
         kProtocolError, true},
        {"a connection-specific field", malformed(kGetFields + literal("connection", "keep-alive")),
         false, kProtocolError, true},
        {"te other than trailers", malformed(kGetFields + literal("te", "gzip")), false,
         kProtocolError, true},
        {"a field value with a line feed", malformed(kGetFields + literal("x-a", "a\nb")), false,
         kProtocolError, true},
        {"a field name with a space", malformed(kGetFields + literal("x a", "b")), false,
         kProtocolError, true},
        {"no :path", malformed(std::string{char(0x82), char(0x87), 0x01, 12} + "blog.example"),
         false, kProtocolError, true},
        {"an empty :path", malformed(kGetFields + literal(":path", "")), false, kProtocolError,
         true},
        {"two :method fields", malformed(kGetFields + char(0x82)), false, kProtocolError, true},
        {"a pseudo-field after a regular one", malformed(literal("accept", "*/*") + kGetFields),
         false, kProtocolError, true},
        {"an unknown pseudo-field", malformed(kGetFields + literal(":foo", "bar")), false,
         kProtocolError, true},
        {"a response pseudo-field", malformed(kGetFields + literal(":status", "200")), false,
         kProtocolError, true},
        {"DATA shorter than content-length", post + frame(kData, kEndStream, 1, "abc"), false,
         kProtocolError, true},
    };
}

TEST(H2Frames, EveryMalformedFrameGetsTheRfcAnswer) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.what);
        RawClient client;
        client.send(c.bytes);
        bool answered = false;
        for (const Frame& f : client.received()) {
            if (f.type == kGoaway) {
                ASSERT_GE(f.payload.size(), 8u);
                EXPECT_EQ(u32_at(f.payload, 4), c.code);
                answered = true;
                EXPECT_FALSE(c.request) << "a malformed request ended the connection";
            } else if (f.type == kRstStream && !c.connection_error) {
                EXPECT_EQ(f.stream, 1u);
                EXPECT_EQ(u32_at(f.payload, 0), c.code);
                answered = true;
            }
        }
        EXPECT_TRUE(answered) << "neither GOAWAY nor RST_STREAM";
        if (c.connection_error) {
            EXPECT_TRUE(client.server().closing());
        }
    }
}

// A malformed request costs its stream only: the next request on the connection is served.
TEST(H2Frames, AMalformedRequestLeavesTheConnectionServing) {
    RawClient client;
    client.send(
        frame(kHeaders, kEndHeaders | kEndStream, 1, kGetFields + literal("connection", "close")));
    client.send(frame(kHeaders, kEndHeaders | kEndStream, 3, kGetFields));
    bool reset = false, answered = false;
    for (const Frame& f : client.received()) {
        EXPECT_NE(f.type, kGoaway);
        if (f.type == kRstStream && f.stream == 1) reset = true;
        if (f.type == kHeaders && f.stream == 3) answered = true;
    }
    EXPECT_TRUE(reset);
    EXPECT_TRUE(answered);
    EXPECT_FALSE(client.server().closing());
}

}  // namespace
}  // namespace anyedge::server::h2_frames
