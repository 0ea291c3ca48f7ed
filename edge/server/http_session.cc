#include "edge/server/http_session.h"

namespace anyedge::server {

HttpSession::HttpSession(const SessionLimits& limits, RequestHandler* handler)
    : limits_(limits), handler_(handler), parser_(limits.parser) {}

void HttpSession::on_receive(std::string_view bytes, const cache::Snapshot& snapshot,
                             const ResponseContext& context, ResponseSink& out) {
    if (state_ == State::kClosed) {  // lingering: input after a final answer is dropped
        clean_end_ = false;
        return;
    }
    if (buffer_.empty()) {
        process(bytes, false, snapshot, context, out);
    } else {
        buffer_.append(bytes);
        process(buffer_, true, snapshot, context, out);
    }
}

void HttpSession::resume(const cache::Snapshot& snapshot, const ResponseContext& context,
                         ResponseSink& out) {
    if (state_ == State::kClosed || buffer_.empty()) return;
    process(buffer_, true, snapshot, context, out);
}

ResponseContext HttpSession::context_for_answer(const ResponseContext& context) const {
    ResponseContext ctx = context;
    // A drain or the per-connection request cap: this answer is the last one.
    if (close_requested_ || requests_ >= limits_.max_requests_per_connection) {
        ctx.force_close = true;
    }
    return ctx;
}

void HttpSession::account(const ResponseInfo& info) { counters_.count(info); }

bool HttpSession::answer(const http::Request& req, const std::string* body, bool input_ends_here,
                         const cache::Snapshot& snapshot, const ResponseContext& context,
                         ResponseSink& out) {
    const ResponseContext ctx = context_for_answer(context);
    const ResponseInfo info = body ? handler_->handle_with_body(req, *body, snapshot, ctx, out)
                              : handler_ ? handler_->handle(req, snapshot, ctx, out)
                                         : respond(req, snapshot, ctx, out);
    account(info);
    if (log_) log_->record(ctx.wall_ms, peer_, tls_, req, info);
    if (!info.keep_alive) {
        // RFC 9112 §9.6: after "close" no further request on this connection is read. A body
        // not read yet is not waited for: the lingering close discards it.
        clean_end_ = input_ends_here;
        state_ = State::kClosed;
        closing_ = true;
        return false;
    }
    return true;
}

void HttpSession::process(std::string_view data, bool data_is_buffer,
                          const cache::Snapshot& snapshot, const ResponseContext& context,
                          ResponseSink& out) {
    size_t pos = 0;
    while (state_ != State::kClosed && pos < data.size()) {
        if (state_ == State::kHeader && out.queued_bytes() >= limits_.output_budget) break;
        size_t consumed = 0;
        const http::ParseStatus st = parser_.feed(data.substr(pos), consumed);
        if (st == http::ParseStatus::kError) {
            // A malformed header or body: its request was not answered yet, and is not now.
            last_error_ = parser_.error_reason();
            account(respond_error(parser_.error_status(), parser_.error_reason(), &snapshot,
                                  context, out));
            if (log_)
                log_->record_error(context.wall_ms, peer_, tls_, parser_.error_status(),
                                   last_error_);
            state_ = State::kClosed;
            closing_ = true;
            break;
        }
        pos += consumed;
        if (st == http::ParseStatus::kNeedMore) break;
        if (state_ == State::kHeader) {
            ++requests_;
            const http::Request& req = parser_.request();
            if (st == http::ParseStatus::kDone) {  // no body: answer now (views still valid)
                if (!answer(req, nullptr, pos == data.size(), snapshot, context, out)) break;
                parser_.reset();
                continue;
            }
            const bool wants_body = handler_ && handler_->wants_body(req);
            if (!wants_body && !req.chunked) {
                // Content-Length frames the body from the header alone: answer now, then
                // discard the body (a refused upload is answered without reading it).
                if (!answer(req, nullptr, false, snapshot, context, out)) break;
                state_ = State::kDiscardBody;
                continue;
            }
            // A chunked body's framing is known valid only at its end (RFC 9112 §7.1), and an
            // upload needs its bytes: the answer waits. The header's bytes are about to move,
            // so the request is copied.
            held_.assign(req);
            body_wanted_ = wants_body;
            body_.clear();
            if (body_wanted_) parser_.capture_body(&body_);
            // The client may wait for this before it sends the body (curl waits a second for
            // bodies over 1 MiB), and the answer waits for the body.
            if (req.expect_continue) out.copy("HTTP/1.1 100 Continue\r\n\r\n");
            state_ = State::kReadBody;
            continue;
        }
        // The body ended where its framing says.
        parser_.capture_body(nullptr);
        parser_.reset();
        if (state_ == State::kDiscardBody) {
            state_ = State::kHeader;
            continue;
        }
        const bool go_on = answer(held_.get(), body_wanted_ ? &body_ : nullptr, pos == data.size(),
                                  snapshot, context, out);
        held_.clear();
        std::string().swap(body_);
        if (!go_on) break;
        state_ = State::kHeader;
    }

    // Keep what was not consumed for the next receive.
    if (data_is_buffer) {
        buffer_.erase(0, pos);
    } else if (pos < data.size() && state_ != State::kClosed) {
        buffer_.assign(data.substr(pos));
    }
    if (state_ == State::kClosed) buffer_.clear();
}

}  // namespace anyedge::server
