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

void HttpSession::process(std::string_view data, bool data_is_buffer,
                          const cache::Snapshot& snapshot, const ResponseContext& context,
                          ResponseSink& out) {
    size_t pos = 0;
    while (state_ != State::kClosed && pos < data.size()) {
        if (state_ == State::kHeader && out.queued_bytes() >= limits_.output_budget) break;
        size_t consumed = 0;
        const http::ParseStatus st = parser_.feed(data.substr(pos), consumed);
        if (st == http::ParseStatus::kError && state_ == State::kReadBody) {
            // The upload's body is too large or malformed: answer it now, then close.
            last_error_ = parser_.error_reason();
            account(respond_error(parser_.error_status(), parser_.error_reason(), &snapshot,
                                  context, out));
            state_ = State::kClosed;
            closing_ = true;
            break;
        }
        if (st == http::ParseStatus::kError && state_ == State::kDiscardBody) {
            // The request was already answered; its body is broken: just stop reading.
            last_error_ = parser_.error_reason();
            state_ = State::kClosed;
            closing_ = true;
            break;
        }
        if (st == http::ParseStatus::kError) {
            last_error_ = parser_.error_reason();
            account(respond_error(parser_.error_status(), parser_.error_reason(), &snapshot,
                                  context, out));
            if (log_)
                log_->record_error(*now_ms_, peer_, tls_, parser_.error_status(), last_error_);
            state_ = State::kClosed;
            closing_ = true;
            break;
        }
        if (state_ == State::kHeader && st != http::ParseStatus::kNeedMore) {
            // A complete header: answer now (views point into data, still intact).
            ++requests_;
            const ResponseContext ctx = context_for_answer(context);
            const http::Request& req = parser_.request();
            if (handler_ && st == http::ParseStatus::kHeaderDone && handler_->wants_body(req)) {
                // Keep what the handler needs from the header: the bytes are about to move.
                held_.method.assign(req.method_name);
                held_.target.assign(req.target);
                held_.authorization.assign(req.authorization);
                held_.request = req;
                held_.request.method_name = held_.method;
                held_.request.target = held_.target;
                held_.request.authorization = held_.authorization;
                held_.request.host = held_.request.if_match = held_.request.if_none_match = {};
                held_.request.if_modified_since = held_.request.if_unmodified_since = {};
                held_.request.range = held_.request.if_range = held_.request.accept_encoding = {};
                body_.clear();
                parser_.capture_body(&body_);
                state_ = State::kReadBody;
                // The client may be waiting for this before it sends the body (curl waits a
                // second for bodies over 1 MiB).
                if (req.expect_continue) out.copy("HTTP/1.1 100 Continue\r\n\r\n");
                pos += consumed;
                continue;
            }
            const ResponseInfo info = handler_ ? handler_->handle(req, snapshot, ctx, out)
                                               : respond(req, snapshot, ctx, out);
            account(info);
            if (log_) log_->record(*now_ms_, peer_, tls_, req, info);
            pos += consumed;
            if (!info.keep_alive) {
                // RFC 9112 §9.6: after "close" no further request on this connection is read.
                // A declared body is not waited for: lingering close discards it.
                clean_end_ = st == http::ParseStatus::kDone && pos == data.size();
                state_ = State::kClosed;
                closing_ = true;
                break;
            }
            if (st == http::ParseStatus::kHeaderDone) {
                state_ = State::kDiscardBody;
                continue;
            }
            parser_.reset();
            continue;
        }
        pos += consumed;
        if (st == http::ParseStatus::kDone && state_ == State::kReadBody) {
            const ResponseContext ctx = context_for_answer(context);
            const ResponseInfo info =
                handler_->handle_with_body(held_.request, body_, snapshot, ctx, out);
            account(info);
            if (log_) log_->record(*now_ms_, peer_, tls_, held_.request, info);
            body_.clear();
            body_.shrink_to_fit();
            parser_.capture_body(nullptr);
            parser_.reset();
            if (!info.keep_alive) {
                clean_end_ = pos == data.size();
                state_ = State::kClosed;
                closing_ = true;
                break;
            }
            state_ = State::kHeader;
            continue;
        }
        if (st == http::ParseStatus::kDone) {  // the end of a discarded body
            state_ = State::kHeader;
            parser_.reset();
            continue;
        }
        break;  // kNeedMore
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
