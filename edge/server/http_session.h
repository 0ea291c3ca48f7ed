// HttpSession: the HTTP/1.1 side of one connection, sans-IO. Plaintext bytes in (from the
// socket or from TLS), responses out (into a ResponseSink), in request order.
//
// It answers every complete request it holds while the sink's queue stays under the output
// budget (pipelining back-pressure). A request with a chunked body, or one whose handler takes
// the body, is answered after the body has been read to its end; a Content-Length body is
// discarded after the answer. After an error answer or a "close" response it reads nothing
// more. One connection, one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edge/cache/snapshot.h"
#include "edge/http/owned_request.h"
#include "edge/http/request_parser.h"
#include "edge/server/access_log.h"
#include "edge/server/protocol_session.h"
#include "edge/server/responder.h"

namespace anyedge::server {

struct SessionLimits {
    http::ParserLimits parser;
    uint32_t max_requests_per_connection = 100000;
    size_t output_budget = 1 << 20;  // stop answering pipelined requests above this
};

// What answers a complete request. The default (no handler) is the site Responder; the
// admin listener plugs in its own.
class RequestHandler {
  public:
    virtual ~RequestHandler() = default;
    virtual ResponseInfo handle(const http::Request& request, const cache::Snapshot& snapshot,
                                const ResponseContext& context, ResponseSink& out) = 0;
    // Handlers that take request bodies (uploads) say so per request; the session then reads
    // the whole body (up to the parser's body limit) before calling handle_with_body.
    virtual bool wants_body(const http::Request&) const { return false; }
    virtual ResponseInfo handle_with_body(const http::Request& request, std::string_view body,
                                          const cache::Snapshot& snapshot,
                                          const ResponseContext& context, ResponseSink& out) {
        (void)body;
        return handle(request, snapshot, context, out);
    }
};

class HttpSession final : public ProtocolSession {
  public:
    explicit HttpSession(const SessionLimits& limits, RequestHandler* handler = nullptr);

    void on_receive(std::string_view bytes, const cache::Snapshot& snapshot,
                    const ResponseContext& context, ResponseSink& out) override;
    // Answers requests still buffered (pipelined behind a full output queue).
    void resume(const cache::Snapshot& snapshot, const ResponseContext& context,
                ResponseSink& out) override;

    bool closing() const override { return closing_; }
    // The final answer was to a complete request and nothing followed it: the peer has no
    // reason to send more, so the connection may close without lingering (RFC 9112 §9.6).
    bool ended_cleanly() const override { return state_ == State::kClosed && clean_end_; }
    bool mid_request() const override { return !buffer_.empty() || reading_body(); }
    // Inside a request body (an upload, one being framed before its request is answered, or
    // one being discarded after the answer).
    bool reading_body() const override {
        return state_ == State::kReadBody || state_ == State::kDiscardBody;
    }
    uint64_t requests() const { return requests_; }
    // Between requests with nothing held or pending: the connection may drop this session and
    // make a fresh one for its next request (continue_from(requests())), so that an idle
    // keep-alive connection costs next to nothing.
    bool at_rest() const {
        return state_ == State::kHeader && buffer_.empty() && !closing_ && !close_requested_;
    }
    void continue_from(uint64_t requests) { requests_ = requests; }
    // Received bytes not yet answered: a partial header, or pipelined requests waiting for the
    // output queue to drain.
    size_t buffered_bytes() const override { return buffer_.size(); }
    bool release_memory() override {
        if (!buffer_.empty() || buffer_.capacity() <= sizeof(std::string)) return false;
        std::string().swap(buffer_);
        return true;
    }
    const SessionCounters& counters() const override { return counters_; }
    // The reason for the last error response, for the access log.
    std::string_view last_error() const { return last_error_; }
    // Stops after the current response (drain, shutdown): the next response says close.
    void close_after_current() override { close_requested_ = true; }
    void set_access_log(AccessLog* log, std::string peer, bool tls) override {
        log_ = log;
        peer_ = std::move(peer);
        tls_ = tls;
    }

  private:
    // kReadBody: a request's header is in and its body is being read; the request is answered
    // once the body has been framed to its end: a chunked body (its framing is valid only if
    // it is valid to the end, RFC 9112 §7.1, so no request with invalid framing ever gets a
    // 2xx), or an upload. kDiscardBody: a Content-Length body after its request's answer.
    enum class State { kHeader, kReadBody, kDiscardBody, kClosed };
    void process(std::string_view data, bool data_is_buffer, const cache::Snapshot& snapshot,
                 const ResponseContext& context, ResponseSink& out);
    void account(const ResponseInfo& info);
    // Answers a complete request (with its body when the handler asked for it); false when
    // that answer ends the connection.
    bool answer(const http::Request& request, const std::string* body, bool input_ends_here,
                const cache::Snapshot& snapshot, const ResponseContext& context, ResponseSink& out);
    ResponseContext context_for_answer(const ResponseContext& context) const;

    SessionLimits limits_;
    RequestHandler* handler_;
    http::RequestParser parser_;
    std::string buffer_;  // unparsed bytes (a partial header, or requests held back)
    State state_ = State::kHeader;
    bool closing_ = false;
    bool close_requested_ = false;
    bool clean_end_ = false;
    uint64_t requests_ = 0;
    SessionCounters counters_;
    std::string_view last_error_;
    http::OwnedRequest held_;   // the request whose body is being read
    bool body_wanted_ = false;  // ... and its handler takes the body (an upload)
    std::string body_;
    AccessLog* log_ = nullptr;
    std::string peer_;
    bool tls_ = false;
};

}  // namespace anyedge::server
