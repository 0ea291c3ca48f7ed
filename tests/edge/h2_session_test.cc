// H2Session against nghttp2's own client session, memory to memory: frames in, frames out.
#include "edge/server/h2_session.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "edge/cache/site_loader.h"
#include "tests/edge/string_sink.h"

#include <nghttp2/nghttp2.h>

namespace anyedge::server {
namespace {

std::shared_ptr<const cache::Snapshot> h2_site() {
    static auto snap = [] {
        auto files =
            cache::load_site_dir(ANYEDGE_SOURCE_DIR "/site", {.mmap_threshold = 64 * 1024});
        EXPECT_TRUE(files.ok());
        // A large file, to go out in many DATA frames under flow control and the budget.
        std::string big(3 * 1024 * 1024 + 17, '\0');
        for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7) % 26);
        files->push_back(
            {"/big.bin", "application/octet-stream", 0, "", std::move(big), {}, {}, {}});
        return cache::Snapshot::build(std::move(*files), {}, 1);
    }();
    return snap;
}

std::string file(const std::string& path) {
    const cache::Lookup l = h2_site()->find(path);
    return l.entry == nullptr ? "" : std::string(l.entry->identity.body);
}

struct Response {
    std::map<std::string, std::string> headers;  // ":status" included
    std::string body;
    bool closed = false;
    uint32_t error_code = 0;  // RST_STREAM's, or the close's
};

// An HTTP/2 client (nghttp2) wired to an H2Session.
class H2Pair {
  public:
    explicit H2Pair(SessionLimits limits = {},
                    std::shared_ptr<const cache::Snapshot> snapshot = h2_site())
        : server_(limits) {
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(
            cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                   const uint8_t* v, size_t vl, uint8_t, void* u) {
                auto* self = static_cast<H2Pair*>(u);
                self->responses_[f->hd.stream_id]
                    .headers[std::string(reinterpret_cast<const char*>(n), nl)] =
                    std::string(reinterpret_cast<const char*>(v), vl);
                return 0;
            });
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
            cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) {
                static_cast<H2Pair*>(u)->responses_[id].body.append(
                    reinterpret_cast<const char*>(d), len);
                return 0;
            });
        nghttp2_session_callbacks_set_on_stream_close_callback(
            cb, [](nghttp2_session*, int32_t id, uint32_t code, void* u) {
                auto& r = static_cast<H2Pair*>(u)->responses_[id];
                r.closed = true;
                r.error_code = code;
                return 0;
            });
        nghttp2_session_callbacks_set_on_frame_recv_callback(
            cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
                auto* self = static_cast<H2Pair*>(u);
                if (f->hd.type == NGHTTP2_GOAWAY) {
                    self->goaway_ = true;
                    self->goaway_last_stream_ = f->goaway.last_stream_id;
                    self->goaway_error_ = f->goaway.error_code;
                }
                return 0;
            });
        nghttp2_session_client_new(&client_, cb, this);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(client_, NGHTTP2_FLAG_NONE, nullptr, 0);
        ctx_.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
        live_ = std::move(snapshot);
        server_.start(sink_);
    }
    ~H2Pair() { nghttp2_session_del(client_); }

    int32_t request(const std::string& method, const std::string& path,
                    std::vector<std::pair<std::string, std::string>> extra = {},
                    const std::string& authority = "blog.example") {
        std::vector<std::pair<std::string, std::string>> fields = {
            {":method", method}, {":path", path}, {":scheme", "https"}, {":authority", authority}};
        fields.insert(fields.end(), extra.begin(), extra.end());
        std::vector<nghttp2_nv> nv;
        for (auto& [n, v] : fields) {
            nv.push_back({reinterpret_cast<uint8_t*>(n.data()),
                          reinterpret_cast<uint8_t*>(v.data()), n.size(), v.size(),
                          NGHTTP2_NV_FLAG_NONE});
        }
        return nghttp2_submit_request(client_, nullptr, nv.data(), nv.size(), nullptr, nullptr);
    }

    // Moves bytes both ways until neither side has anything to say. `drain_each_turn` false
    // leaves the server's output unread (a client that does not read).
    void pump(bool drain_each_turn = true) {
        for (int turn = 0; turn < 100000; ++turn) {
            bool moved = false;
            const uint8_t* data = nullptr;
            for (ssize_t n; (n = nghttp2_session_mem_send(client_, &data)) > 0;) {
                feed_server(std::string_view(reinterpret_cast<const char*>(data), size_t(n)));
                moved = true;
            }
            if (drain_each_turn && !sink_.out.empty()) {
                const std::string out = std::move(sink_.out);
                sink_.out.clear();
                nghttp2_session_mem_recv(client_, reinterpret_cast<const uint8_t*>(out.data()),
                                         out.size());
                server_.resume(*live_, ctx_, sink_);
                moved = true;
            }
            if (!moved) return;
        }
    }

    void feed_server(std::string_view bytes) { server_.on_receive(bytes, *live_, ctx_, sink_); }
    // A reload: the worker's live snapshot becomes another one.
    void replace_live(std::shared_ptr<const cache::Snapshot> next) { live_ = std::move(next); }
    // Everything the client has to send so far (preface, SETTINGS, requests), not delivered.
    std::string client_bytes() {
        std::string out;
        const uint8_t* data = nullptr;
        for (ssize_t n; (n = nghttp2_session_mem_send(client_, &data)) > 0;) {
            out.append(reinterpret_cast<const char*>(data), size_t(n));
        }
        return out;
    }

    H2Session& server() { return server_; }
    StringSink& sink() { return sink_; }
    ResponseContext& context() { return ctx_; }
    Response& response(int32_t id) { return responses_[id]; }
    bool goaway() const { return goaway_; }
    int32_t goaway_last_stream() const { return goaway_last_stream_; }
    uint32_t goaway_error() const { return goaway_error_; }

  private:
    H2Session server_;
    nghttp2_session* client_ = nullptr;
    StringSink sink_;
    ResponseContext ctx_;
    std::shared_ptr<const cache::Snapshot> live_, previous_;
    std::map<int32_t, Response> responses_;
    bool goaway_ = false;
    int32_t goaway_last_stream_ = -1;
    uint32_t goaway_error_ = 0;
};

TEST(H2Session, AnswersLikeHttp11WithHttp2Fields) {
    H2Pair h2;
    const int32_t get = h2.request("GET", "/robots.txt");
    const int32_t head = h2.request("HEAD", "/robots.txt");
    const int32_t missing = h2.request("GET", "/nope");
    const int32_t dir = h2.request("GET", "/assets");
    h2.pump();

    Response& r = h2.response(get);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.error_code, 0u);
    EXPECT_EQ(r.headers[":status"], "200");
    EXPECT_EQ(r.body, file("/robots.txt"));
    EXPECT_EQ(r.headers["content-length"], std::to_string(file("/robots.txt").size()));
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
    EXPECT_EQ(r.headers["date"], "Tue, 24 Nov 2026 10:00:00 GMT");
    EXPECT_FALSE(r.headers.count("connection"));  // RFC 9113 §8.2.2
    EXPECT_EQ(r.headers["etag"].front(), '"');

    EXPECT_EQ(h2.response(head).headers[":status"], "200");
    EXPECT_TRUE(h2.response(head).body.empty());
    EXPECT_EQ(h2.response(missing).headers[":status"], "404");
    EXPECT_EQ(h2.response(dir).headers[":status"], "301");
    EXPECT_EQ(h2.response(dir).headers["location"], "/assets/");

    EXPECT_EQ(h2.server().requests(), 4u);
    EXPECT_EQ(h2.server().counters().status_2xx, 2u);
    EXPECT_EQ(h2.server().counters().status_3xx, 1u);
    EXPECT_EQ(h2.server().counters().status_4xx, 1u);
    EXPECT_FALSE(h2.server().closing());
}

TEST(H2Session, ConditionalsRangesAndEncodings) {
    H2Pair h2;
    const std::string full = file("/robots.txt");
    const int32_t first = h2.request("GET", "/robots.txt");
    h2.pump();
    const std::string etag = h2.response(first).headers["etag"];
    const int32_t cond = h2.request("GET", "/robots.txt", {{"if-none-match", etag}});
    // Two field lines of one list field are one list (RFC 9110 §5.3).
    const int32_t split =
        h2.request("GET", "/robots.txt", {{"if-none-match", "\"other\""}, {"if-none-match", etag}});
    const int32_t range = h2.request("GET", "/robots.txt", {{"range", "bytes=0-9"}});
    const int32_t bad_range = h2.request("GET", "/robots.txt", {{"range", "bytes=99999-"}});
    h2.pump();
    EXPECT_EQ(h2.response(cond).headers[":status"], "304");
    EXPECT_TRUE(h2.response(cond).body.empty());
    EXPECT_EQ(h2.response(split).headers[":status"], "304");
    EXPECT_EQ(h2.response(range).headers[":status"], "206");
    EXPECT_EQ(h2.response(range).body, full.substr(0, 10));
    EXPECT_EQ(h2.response(range).headers["content-range"],
              "bytes 0-9/" + std::to_string(full.size()));
    EXPECT_EQ(h2.response(bad_range).headers[":status"], "416");
}

TEST(H2Session, ALargeBodyFollowsTheOutputBudgetAndFlowControl) {
    SessionLimits limits;
    limits.output_budget = 64 * 1024;
    H2Pair h2(limits);
    const int32_t id = h2.request("GET", "/big.bin");
    // Turns without reading: the server queues at most the budget and a frame more.
    h2.pump(false);
    EXPECT_LE(h2.sink().out.size(), limits.output_budget + 16384 + 64);
    h2.pump();
    Response& r = h2.response(id);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.headers[":status"], "200");
    EXPECT_EQ(r.body.size(), file("/big.bin").size());
    EXPECT_TRUE(r.body == file("/big.bin"));
}

// A reload while a body is on its way: the stream keeps the snapshot its bytes belong to, even
// when nothing else does any more (ASan would see a use after free otherwise).
TEST(H2Session, AReloadMidResponseKeepsTheOldBytesAlive) {
    std::string bytes(2 * 1024 * 1024, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('A' + (i * 13) % 26);
    std::vector<cache::FileSpec> files;
    files.push_back(
        {"/old.bin", "application/octet-stream", 0, "", std::string(bytes), {}, {}, {}});
    auto old_snapshot = cache::Snapshot::build(std::move(files), {}, 7);
    SessionLimits limits;
    limits.output_budget = 64 * 1024;
    H2Pair h2(limits, old_snapshot);
    const int32_t id = h2.request("GET", "/old.bin");
    h2.pump(false);  // answered; most of the body still to send
    ASSERT_LT(h2.sink().out.size(), bytes.size());
    h2.replace_live(h2_site());
    old_snapshot.reset();
    h2.pump();
    EXPECT_EQ(h2.response(id).headers[":status"], "200");
    EXPECT_TRUE(h2.response(id).body == bytes);
}

TEST(H2Session, RequestErrorsEndTheStreamNotTheConnection) {
    SessionLimits limits;
    limits.parser.max_header_bytes = 1024;
    limits.parser.max_target_bytes = 100;
    H2Pair h2(limits);
    const int32_t big = h2.request("GET", "/robots.txt", {{"x-big", std::string(2000, 'x')}});
    const int32_t long_path = h2.request("GET", "/" + std::string(200, 'p'));
    const int32_t bad_host = h2.request("GET", "/robots.txt", {}, "a b");
    const int32_t userinfo = h2.request("GET", "/robots.txt", {}, "u@a");
    const int32_t method = h2.request("FOO", "/robots.txt");
    const int32_t put = h2.request("PUT", "/robots.txt");
    const int32_t ok = h2.request("GET", "/robots.txt");
    h2.pump();
    // A header list over the limit (sent before the client had our SETTINGS saying so): 431,
    // and the other streams are answered.
    EXPECT_TRUE(h2.response(big).closed);
    EXPECT_EQ(h2.response(big).headers[":status"], "431");
    EXPECT_EQ(h2.response(long_path).headers[":status"], "414");
    // An authority that is not one: nghttp2 resets the stream itself (PROTOCOL_ERROR), or, for
    // what it lets through, we answer 400 as for a bad Host.
    EXPECT_TRUE(h2.response(bad_host).closed);
    EXPECT_EQ(h2.response(bad_host).error_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
    EXPECT_EQ(h2.response(userinfo).headers[":status"], "400");
    EXPECT_EQ(h2.response(method).headers[":status"], "501");
    EXPECT_EQ(h2.response(put).headers[":status"], "405");
    EXPECT_EQ(h2.response(ok).headers[":status"], "200");
    EXPECT_FALSE(h2.server().closing());
}

TEST(H2Session, CloseAfterCurrentSendsGoawayAndEndsCleanly) {
    H2Pair h2;
    const int32_t first = h2.request("GET", "/robots.txt");
    h2.pump();
    EXPECT_EQ(h2.response(first).headers[":status"], "200");
    h2.server().close_after_current();
    h2.server().resume(*h2_site(), h2.context(), h2.sink());
    h2.pump();
    EXPECT_TRUE(h2.goaway());
    EXPECT_EQ(h2.goaway_error(), 0u);
    EXPECT_EQ(h2.goaway_last_stream(), first);
    EXPECT_TRUE(h2.server().closing());
    EXPECT_TRUE(h2.server().ended_cleanly());
}

TEST(H2Session, ARequestCapOrADrainAnswersThenGoesAway) {
    SessionLimits limits;
    limits.max_requests_per_connection = 2;
    H2Pair h2(limits);
    const int32_t a = h2.request("GET", "/robots.txt");
    const int32_t b = h2.request("GET", "/robots.txt");
    h2.pump();
    EXPECT_EQ(h2.response(a).headers[":status"], "200");
    EXPECT_EQ(h2.response(b).headers[":status"], "200");
    EXPECT_TRUE(h2.goaway());
    EXPECT_EQ(h2.goaway_last_stream(), b);
    EXPECT_TRUE(h2.server().closing());

    H2Pair drained;
    drained.context().force_close = true;  // what a drain or a stop sets
    const int32_t c = drained.request("GET", "/robots.txt");
    drained.pump();
    EXPECT_EQ(drained.response(c).headers[":status"], "200");
    EXPECT_TRUE(drained.goaway());
}

TEST(H2Session, NotHttp2IsAProtocolError) {
    H2Session s{SessionLimits{}};
    StringSink sink;
    ResponseContext ctx;
    s.start(sink);
    sink.out.clear();
    s.on_receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n", *h2_site(), ctx, sink);
    EXPECT_TRUE(s.closing());
    EXPECT_FALSE(s.ended_cleanly());
    EXPECT_FALSE(s.last_error().empty());
    // A GOAWAY frame (type 7) went out.
    ASSERT_GE(sink.out.size(), 9u);
    EXPECT_EQ(static_cast<uint8_t>(sink.out[3]), 0x07);
}

TEST(H2Session, APartialFrameCountsAsMidRequest) {
    H2Pair h2;
    h2.pump();
    EXPECT_FALSE(h2.server().mid_request());
    // A whole frame of a type nghttp2 ignores (PRIORITY_UPDATE, RFC 9218, which Chromium
    // sends): nothing is in progress afterwards.
    h2.feed_server(std::string("\x00\x00\x05\x10\x00\x00\x00\x00\x00", 9) +
                   std::string("\x00\x00\x00\x01u", 5));
    EXPECT_FALSE(h2.server().mid_request());
    // Half a frame header, then the rest (an empty frame of an unknown type).
    h2.feed_server(std::string("\x00\x00", 2));
    EXPECT_TRUE(h2.server().mid_request());
    h2.feed_server(std::string("\x00\x20\x00\x00\x00\x00\x00", 7));
    EXPECT_FALSE(h2.server().mid_request());
    EXPECT_FALSE(h2.server().closing());
    // A HEADERS frame's 9-byte header and a part of its payload.
    const std::string frame_head("\x00\x00\x20\x01\x05\x00\x00\x00\x01", 9);
    h2.feed_server(frame_head + "\x82");
    EXPECT_TRUE(h2.server().mid_request());
}

// A real client's bytes (several requests, one with a body), each corrupted at one offset:
// the session answers, resets or goes away, and never reads or writes out of bounds (run
// under ASan with -DANYEDGE_SANITIZE=ON).
TEST(H2Session, SurvivesCorruptedInputAtEveryOffset) {
    std::string wire;
    {
        H2Pair client_side;
        client_side.request("GET", "/robots.txt", {{"if-none-match", "\"x\""}});
        client_side.request("HEAD", "/", {{"range", "bytes=0-1,5-9"}});
        client_side.request("GET", "/big.bin", {{"accept-encoding", "br, gzip"}});
        wire = client_side.client_bytes();
    }
    ASSERT_GT(wire.size(), 60u);
    uint64_t answered = 0;
    for (size_t at = 0; at < wire.size(); ++at) {
        for (const unsigned char flip : {0x01, 0x80, 0xff}) {
            std::string bad = wire;
            bad[at] = static_cast<char>(static_cast<unsigned char>(bad[at]) ^ flip);
            H2Session s{SessionLimits{}};
            StringSink sink;
            ResponseContext ctx;
            s.start(sink);
            // In pieces of 7 bytes, as a slow network would deliver them.
            for (size_t i = 0; i < bad.size() && !s.closing(); i += 7) {
                s.on_receive(std::string_view(bad).substr(i, 7), *h2_site(), ctx, sink);
                sink.out.clear();
                s.resume(*h2_site(), ctx, sink);
            }
            answered += s.requests();
        }
    }
    EXPECT_GT(answered, 0u);  // most corruptions still leave some request to answer
}

}  // namespace
}  // namespace anyedge::server
