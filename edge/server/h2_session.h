// H2Session: the HTTP/2 side of one TLS connection (ALPN "h2", RFC 9113), sans-IO like
// HttpSession: plaintext in, frames out into a ResponseSink.
//
// nghttp2 does the framing, HPACK, flow control and the protocol's own checks (pseudo-header
// rules, connection-specific fields, SETTINGS and reset floods). Each request is answered by
// the same Responder (or handler) as HTTP/1.1: its HTTP/1.1 response head becomes the HEADERS
// frame's fields, and its body goes out as DATA frames, sent only while the output queue is
// under the session's output budget and as the peer's flow-control windows allow.
// Invariants: a response body's bytes stay valid until sent, because each stream holds the
// snapshots that were current when it was answered. After close_after_current() or a
// response that says close (drain, stop, the request cap), a GOAWAY lets the open streams
// finish and refuses new ones. One connection, one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/server/http_session.h"
#include "edge/server/protocol_session.h"

struct nghttp2_session;

namespace anyedge::server {

class H2Session final : public ProtocolSession {
  public:
    H2Session(const SessionLimits& limits, RequestHandler* handler = nullptr);
    ~H2Session() override;
    H2Session(const H2Session&) = delete;
    H2Session& operator=(const H2Session&) = delete;

    // Queues the server's connection preface (its SETTINGS frame); once, before any input.
    void start(ResponseSink& out);

    void on_receive(std::string_view bytes, const cache::Snapshot& snapshot,
                    const ResponseContext& context, ResponseSink& out) override;
    // Sends what waited for room in the output queue.
    void resume(const cache::Snapshot& snapshot, const ResponseContext& context,
                ResponseSink& out) override;
    bool closing() const override { return closing_; }
    bool ended_cleanly() const override { return closing_ && !failed_; }
    // A frame (or the connection preface) partly received, or a header block not yet whole.
    bool mid_request() const override {
        return (preface_seen_ > 0 && preface_seen_ < 24) || frame_header_seen_ > 0 ||
               payload_left_ > 0 || header_blocks_open_ > 0;
    }
    bool reading_body() const override { return bodies_open_ > 0; }
    size_t buffered_bytes() const override { return 0; }  // nghttp2 consumes all input
    const SessionCounters& counters() const override { return counters_; }
    void close_after_current() override;
    void set_access_log(AccessLog* log, std::string peer, bool tls) override;

    uint64_t requests() const { return requests_; }
    // Why the connection failed (a protocol error), for logs and tests.
    std::string_view last_error() const { return last_error_; }

    struct Stream;  // one request and its response (h2_session.cc)

    // Idle: the spare streams go.
    bool release_memory() override;

  private:
    struct Callbacks;

    void answer(Stream& s);
    void send(ResponseSink& out);
    void goaway();
    void update_closing();
    void track_frames(std::string_view bytes);

    SessionLimits limits_;
    RequestHandler* handler_;
    nghttp2_session* session_ = nullptr;
    // The open streams, in no order: nghttp2's stream user data finds each one.
    std::vector<std::unique_ptr<Stream>> streams_;
    // Closed streams kept for the next ones (a few): their strings and queues keep their
    // capacity, so a request costs no allocations for them. Given back when idle.
    std::vector<std::unique_ptr<Stream>> spare_streams_;
    // The stream whose header block is being received: a block is never interleaved with
    // other frames (RFC 9113 §4.3), so its fields need no lookup each.
    Stream* receiving_ = nullptr;
    // Set for the duration of on_receive()/resume(): what the callbacks answer with.
    ResponseSink* out_ = nullptr;
    const cache::Snapshot* snapshot_ = nullptr;
    const ResponseContext* context_ = nullptr;

    bool closing_ = false;
    bool failed_ = false;
    bool goaway_sent_ = false;
    bool close_requested_ = false;
    size_t preface_seen_ = 0;             // bytes of the client's connection preface
    unsigned char frame_header_[9] = {};  // the frame header being received
    size_t frame_header_seen_ = 0;
    uint32_t payload_left_ = 0;  // of the current frame
    int header_blocks_open_ = 0;
    int bodies_open_ = 0;  // request bodies being read for a handler that wants them
    uint64_t requests_ = 0;
    SessionCounters counters_;
    std::string last_error_;
    AccessLog* log_ = nullptr;
    std::string peer_;
    bool tls_ = false;
};

}  // namespace anyedge::server
