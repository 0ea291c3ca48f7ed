#include "edge/server/connection.h"

#include <cerrno>

namespace anyedge::server {
namespace {

constexpr size_t kMaxSendBytes = 4 << 20;  // per send; large files go out in chunks
// Pipelined input held unanswered, beyond one maximal header, before reading pauses.
constexpr size_t kMaxHeldInput = 64 * 1024;
// A keep-alive connection idle this long gives its memory back (session, output queues, TLS
// records): most of a CDN's connections are idle browsers, and their memory is what costs. Not
// at once: a busy connection would pay allocations for every request.
constexpr int64_t kReleaseIdleAfterMs = 100;

}  // namespace

void Connection::start(const ConnectionOptions& options, RequestHandler* handler,
                       std::unique_ptr<tls::TlsSession> tls, bool tls_listener, std::string peer,
                       Turn& t) {
    options_ = &options;
    handler_ = handler;
    peer_ = std::move(peer);
    in_use_ = true;
    recv_armed_ = recv_paused_ = send_inflight_ = closing_ = close_submitted_ = false;
    close_linked_ = link_cancelled_ = lingering_ = shut_wr_ = false;
    tls_listener_ = tls_listener;
    tls_shutdown_sent_ = tls_input_seen_ = tls_partial_ = flush_pending_ = false;
    aux_inflight_ = 0;
    http1_.reset();
    h2_.reset();
    session_ = nullptr;
    requests_before_ = 0;
    tls_ = std::move(tls);
    io_.reset();
    last_activity_ms_ = request_start_ms_ = linger_start_ms_ = t.now_ms;
    t.io.arm_receive();
    recv_armed_ = true;
}

void Connection::on_closed() {
    in_use_ = false;
    session_ = nullptr;
    http1_.reset();
    h2_.reset();
    io_.reset();
    tls_.reset();
    peer_.clear();
}

ResponseContext Connection::context(const Turn& t) const {
    ResponseContext ctx;
    ctx.date_line = t.date_line;
    ctx.date_fields = t.date_fields;
    ctx.force_close = t.force_close;
    const http::HeaderLines* extra = &options_->extra_headers;
    if (tls_) {
        extra = t.force_close || options_->tls_extra_headers_alt_svc.text.empty()
                    ? &options_->tls_extra_headers
                    : &options_->tls_extra_headers_alt_svc;
    }
    ctx.extra_headers = extra->text;
    ctx.extra_fields = &extra->fields;
    ctx.redirect_https_port = tls_ ? 0 : options_->redirect_https_port;
    ctx.acme_thumbprint = options_->acme_thumbprint;
    ctx.fallback = t.previous ? t.previous->get() : nullptr;
    ctx.wall_ms = t.wall_ms;
    return ctx;
}

bool Connection::has_output() const {
    return send_inflight_ || (io_ && (!io_->front.empty() || !io_->back.empty())) ||
           (tls_ && tls_->pending_ciphertext_bytes() > 0);
}

ProtocolSession& Connection::session(Turn& t) {
    if (session_ == nullptr) {
        http1_ = std::make_unique<HttpSession>(options_->session, handler_);
        http1_->continue_from(requests_before_);
        if (t.access_log) {
            http1_->set_access_log(t.access_log, peer_, tls_listener_);
        }
        session_ = http1_.get();
    }
    return *session_;
}

Connection::SendState& Connection::out() {
    if (!io_) {
        io_ = std::make_unique<SendState>();
        // OpenSSL makes a record of every piece written, so for it a response is better copied
        // into one; a session with its own records seals pieces together as they are.
        const bool records_per_piece = tls_listener_ && !(tls_ && tls_->owns_records());
        const size_t copy_threshold =
            records_per_piece ? OutputQueue::kCopyThreshold : OutputQueue::kPlainCopyThreshold;
        io_->front.set_copy_threshold(copy_threshold);
        io_->back.set_copy_threshold(copy_threshold);
    }
    return *io_;
}

bool Connection::rest() {
    bool any = false;
    if (io_ && !send_inflight_ && io_->front.empty() && io_->back.empty()) {
        io_.reset();
        any = true;
    }
    if (http1_ && session_ == http1_.get() && http1_->at_rest()) {
        requests_before_ = http1_->requests();
        http1_.reset();
        session_ = nullptr;
        any = true;
    } else if (session_) {
        any = session_->release_memory() || any;
    }
    if (tls_) any = tls_->shed_buffers() || any;
    return any;
}

void Connection::publish_counters(const SessionCounters& old, Turn& t) const {
    server::publish_counters(old, session_->counters(), t.counters,
                             h2_ && session_ == h2_.get() ? &t.counters.requests_h2 : nullptr);
}

// Input back-pressure. A client that pipelines requests faster than it reads the answers
// would otherwise have everything it sends held in memory: past this much input waiting
// unanswered the receive is cancelled and TCP holds the rest, until half of it is answered.
void Connection::throttle_input(Turn& t) {
    if (!in_use_ || closing_) return;
    const size_t cap = options_->session.parser.max_header_bytes + kMaxHeldInput;
    const size_t held = buffered_bytes();
    if (!recv_paused_ && held > cap) {
        recv_paused_ = true;
        if (recv_armed_) t.io.cancel_receive();
    } else if (recv_paused_ && held <= cap / 2) {
        recv_paused_ = false;
        if (!recv_armed_) {
            t.io.arm_receive();
            recv_armed_ = true;
        }
    }
}

void Connection::on_receive(int res, std::string_view bytes, bool more, Turn& t) {
    if (!more) recv_armed_ = false;
    if (res > 0) {
        if (tls_ && !closing_) {
            last_activity_ms_ = t.now_ms;
            tls_input(bytes, t);
        } else if (!closing_ && !lingering_) {
            receive_plain(bytes, t);
        }
    } else if (res == -ENOBUFS) {
        // Every receive buffer is in use: back-pressure, not an error. Re-armed below.
    } else if (res == -ECANCELED && !closing_) {
        // throttle_input() cancelled it; re-armed below if reading has resumed meanwhile.
    } else {
        // EOF or error. With output still pending the peer may only have half-closed.
        if (tls_ && res == 0) tls_->feed_eof();
        if (res == 0 && has_output() && !closing_) {
            session(t).close_after_current();
            lingering_ = true;  // nothing more to read; close once the output is sent
            linger_start_ms_ = t.now_ms;
        } else {
            begin_abort(t);
        }
        maybe_finish(t);
        return;
    }
    throttle_input(t);
    if (!recv_armed_ && !recv_paused_ && !closing_ && in_use_) {
        t.io.arm_receive();
        recv_armed_ = true;
    }
    maybe_finish(t);
}

void Connection::receive_plain(std::string_view bytes, Turn& t) {
    if (!mid_request()) request_start_ms_ = t.now_ms;
    last_activity_ms_ = t.now_ms;
    ProtocolSession& s = session(t);
    const SessionCounters before = s.counters();
    s.on_receive(bytes, **t.live, context(t), out().back);
    publish_counters(before, t);
    if (!out().back.empty()) flush_pending_ = true;
    if (session_closing() && out().back.empty() && !send_inflight_) begin_linger(t);
}

void Connection::flush(Turn& t) {
    flush_pending_ = false;
    if (!in_use_ || send_inflight_ || closing_) return;
    if (tls_) {
        tls_flush(t);
        return;
    }
    SendState& o = out();
    if (o.front.empty() && !o.back.empty()) std::swap(o.front, o.back);
    if (o.front.empty()) return;
    const size_t n = o.front.gather(o.iov, std::size(o.iov), kMaxSendBytes);
    t.io.send(std::span<const iovec>(o.iov, n));
    note_send(t);
}

// One send is in flight (a connection has at most one); it counts as a response being sent.
void Connection::note_send(Turn& t) {
    send_inflight_ = true;
    last_activity_ms_ = t.now_ms;
    t.counters.in_flight.fetch_add(1, std::memory_order_relaxed);
}

void Connection::on_sent(int res, Turn& t) {
    send_inflight_ = false;
    t.counters.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (res <= 0) {
        begin_abort(t);  // EPIPE, ECONNRESET, or cancelled by a timeout
        maybe_finish(t);
        return;
    }
    last_activity_ms_ = t.now_ms;
    if (tls_) {
        tls_->consume_ciphertext(size_t(res));
        if (!closing_) tls_flush(t);
        maybe_finish(t);
        return;
    }
    SendState& o = out();
    o.front.consume(size_t(res));
    if (o.front.empty() && !closing_) {
        // Room again: answer pipelined requests that waited for the queue to drain.
        ProtocolSession& s = session(t);
        const SessionCounters before = s.counters();
        s.resume(**t.live, context(t), o.back);
        publish_counters(before, t);
        throttle_input(t);
    }
    if (!closing_ && (!o.front.empty() || !o.back.empty())) {
        flush(t);
        return;
    }
    if (session_closing() || lingering_) begin_linger(t);
    maybe_finish(t);
}

void Connection::on_aux_done(Turn& t) {
    --aux_inflight_;
    maybe_finish(t);
}

// ALPN chose HTTP/2: the connection's HTTP side becomes an H2Session, before any request
// bytes arrive, and the server's SETTINGS go out with the handshake's last flight.
void Connection::start_http2(Turn& t) {
    h2_ = std::make_unique<H2Session>(options_->session, handler_);
    if (t.access_log) h2_->set_access_log(t.access_log, peer_, true);
    session_ = h2_.get();
    http1_.reset();
    h2_->start(out().back);
}

// Plain HTTP sent to a TLS port gets a plain 400, as nginx answers it, instead of a TLS alert
// the client cannot read and a wait for the header timeout. The connection stops being TLS: the
// answer goes out in clear text, then the lingering close.
void Connection::refuse_plain_http(Turn& t) {
    static constexpr std::string_view kBody = "This port speaks HTTPS: use https://.\n";
    static const std::string kAnswer =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: " +
        std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + std::string(kBody);
    tls_.reset();
    out().back.copy(kAnswer);
    session(t).close_after_current();
    lingering_ = true;
    linger_start_ms_ = t.now_ms;
    t.counters.requests.fetch_add(1, std::memory_order_relaxed);
    t.counters.status_4xx.fetch_add(1, std::memory_order_relaxed);
    if (t.access_log) {
        t.access_log->record_error(t.wall_ms, peer_, true, 400, "plain HTTP on a TLS port");
    }
    flush_pending_ = true;
}

// TLS: ciphertext from the socket into OpenSSL, plaintext out of it into the HTTP session.
void Connection::tls_input(std::string_view data, Turn& t) {
    if (!tls_input_seen_ && !data.empty()) {
        tls_input_seen_ = true;
        if (!tls::can_start_tls(data.front())) {
            refuse_plain_http(t);
            return;
        }
    }
    tls::TlsSession& s = *tls_;
    // After a fatal alert nothing the peer sends is read: the connection is closing.
    if (s.failed()) return;
    // The request clock starts with the first byte after the last complete request, even when
    // that byte is only part of a TLS record; a clock already running is not restarted.
    bool clock_running = tls_partial_ || mid_request();
    if (s.handshake_done() && !clock_running) {
        request_start_ms_ = t.now_ms;
        clock_running = true;
    }
    // Plaintext scratch, copied into the session at once.
    static thread_local char plain[16384];
    size_t off = 0;
    for (int rounds = 0; rounds < 64; ++rounds) {
        const size_t fed =
            off < data.size()
                ? s.feed_ciphertext(std::span<const char>(data.data() + off, data.size() - off))
                : 0;
        off += fed;
        if (!s.handshake_done()) {
            const tls::TlsIo hs = s.handshake();
            if (hs.status == tls::TlsStatus::error || hs.status == tls::TlsStatus::truncated ||
                hs.status == tls::TlsStatus::closed) {
                // Send the alert OpenSSL queued, then close (begin_linger sends our FIN).
                session(t).close_after_current();
                lingering_ = true;
                linger_start_ms_ = t.now_ms;
                break;
            }
            if (s.handshake_done()) {
                t.counters.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
                if (s.resumed()) t.counters.tls_resumed.fetch_add(1, std::memory_order_relaxed);
                if (s.alpn() == "h2") start_http2(t);
            }
        }
        bool progress = fed > 0;
        if (s.handshake_done() && !lingering_) {
            for (;;) {
                const tls::TlsIo r = s.read_plaintext(std::span<char>(plain, sizeof plain));
                if (r.bytes > 0) {
                    progress = true;
                    // A request after a complete one in these bytes starts its own clock.
                    if (!mid_request() && !clock_running) request_start_ms_ = t.now_ms;
                    clock_running = false;
                    ProtocolSession& p = session(t);
                    const SessionCounters before = p.counters();
                    p.on_receive(std::string_view(plain, r.bytes), **t.live, context(t),
                                 out().back);
                    publish_counters(before, t);
                }
                if (r.status == tls::TlsStatus::ok && r.bytes > 0) continue;
                if (r.status == tls::TlsStatus::closed || r.status == tls::TlsStatus::error ||
                    r.status == tls::TlsStatus::truncated) {
                    // close_notify from the peer (RFC 8446 §6.1), or a broken stream: answer
                    // what we have, then ours.
                    session(t).close_after_current();
                    lingering_ = true;
                    linger_start_ms_ = t.now_ms;
                }
                break;
            }
        }
        if (off >= data.size() || !progress) break;
    }
    tls_partial_ = s.handshake_done() && s.input_pending();
    flush_pending_ = true;
}

void Connection::tls_flush(Turn& t) {
    tls::TlsSession& s = *tls_;
    for (int rounds = 0; rounds < 64; ++rounds) {
        // Encrypt queued plaintext until OpenSSL's output buffer is full.
        bool blocked = false;
        while (io_ && !io_->back.empty() && s.handshake_done() && !blocked) {
            iovec iov[32];
            const size_t n = io_->back.gather(iov, 32, 64 * 1024);
            size_t gathered = 0;
            for (size_t i = 0; i < n; ++i) gathered += iov[i].iov_len;
            const tls::TlsIo w = s.write_plaintext(std::span<const iovec>(iov, n));
            io_->back.consume(w.bytes);
            if (w.bytes < gathered) {
                blocked = true;
                if (w.status == tls::TlsStatus::error) {
                    begin_abort(t);
                    return;
                }
            }
        }
        const bool queue_empty = !io_ || io_->back.empty();
        if (!blocked && queue_empty && s.handshake_done() && !session_closing() && !lingering_ &&
            session_ != nullptr) {
            const SessionCounters before = session_->counters();
            session_->resume(**t.live, context(t), out().back);
            publish_counters(before, t);
            throttle_input(t);
            if (!io_->back.empty()) continue;
        }
        break;
    }
    const bool queue_empty = !io_ || io_->back.empty();
    if (queue_empty && !tls_shutdown_sent_ && (session_closing() || lingering_)) {
        s.shutdown();  // queue our close_notify after the last response
        tls_shutdown_sent_ = true;
    }
    const std::string_view pending = s.pending_ciphertext();
    // Only when these are all the bytes left: close_notify is among them, and they do not wrap
    // around the end of the output ring (pending_ciphertext() is the first contiguous part).
    if (!pending.empty() && tls_shutdown_sent_ && !s.shutdown_pending() &&
        pending.size() == s.pending_ciphertext_bytes() && ended_cleanly() && !t.io.unread_input()) {
        // The last bytes of a connection that ends cleanly (our close_notify after the last
        // response, nothing unread): send, cancel the receive and close, linked in one
        // submission, so the close runs as soon as the send is done, in the same ring turn
        // (7.4 -> 5.4 io_uring_enter calls per connection under `openssl s_time -new`).
        t.io.send_then_close(pending);
        note_send(t);
        ++aux_inflight_;  // the cancel
        closing_ = true;
        close_submitted_ = true;
        close_linked_ = true;
        return;
    }
    if (!pending.empty()) {
        const iovec one{const_cast<char*>(pending.data()), pending.size()};
        t.io.send(std::span<const iovec>(&one, 1));
        note_send(t);
        return;
    }
    if (!tls_shutdown_sent_) return;
    if (ended_cleanly() && !t.io.unread_input()) {
        // Our close_notify is out after the last response to a complete request, and nothing
        // else arrived: close now, as RFC 8446 §6.1 allows, without waiting for the peer's
        // close_notify. Waiting costs a wake-up and a receive per connection; the peer's late
        // alert meets a closed socket after it has read everything we sent. Bytes already in
        // the socket (a TLS 1.3 peer may send its close_notify right after its request and
        // still read) would turn close() into a reset: then linger as below. An alert landing
        // after this check, within the ring turn before the close, still meets a reset; by then
        // the response has left uncorked (EdgeTls.HalfClosingTls13ClientReadsTheWholeResponse).
        begin_abort(t);
        maybe_finish(t);
        return;
    }
    begin_linger(t);
}

// After the last response: shut our write side and discard input for a while, so that a
// client still sending (a pipelined tail, a body) gets our answer instead of a reset
// (RFC 9112 §9.6, "lingering close").
void Connection::begin_linger(Turn& t) {
    if (closing_ || shut_wr_ || has_output()) return;
    if (!lingering_) linger_start_ms_ = t.now_ms;
    lingering_ = true;
    shut_wr_ = true;
    // Over TLS our close_notify already told the peer the stream is over (RFC 8446 §6.1), and
    // the peer answers it by closing. A shutdown(SHUT_WR) would only repeat that, and io_uring
    // always runs IORING_OP_SHUTDOWN on an io-wq thread: a thread hop per connection. It is
    // still sent when the end was not clean (an error answer, a fatal alert, which has no
    // close_notify after it): the peer then sees the connection end at once, not after the
    // linger.
    if (!tls_ || !tls_shutdown_sent_ || !ended_cleanly() || tls_->failed()) {
        t.io.shutdown_write();
        ++aux_inflight_;
    }
    if (recv_paused_) {
        // Reading was paused for back-pressure: lingering reads (and drops) input again.
        recv_paused_ = false;
        if (!recv_armed_) {
            t.io.arm_receive();
            recv_armed_ = true;
        }
    }
    if (!recv_armed_) begin_abort(t);  // the peer already sent its FIN
}

void Connection::begin_abort(Turn& t) {
    if (closing_) return;
    closing_ = true;
    if (recv_armed_ || send_inflight_) {
        t.io.cancel_all();
        ++aux_inflight_;
    }
}

void Connection::maybe_finish(Turn& t) {
    if (!in_use_ || !closing_ || close_submitted_ || recv_armed_ || send_inflight_ ||
        aux_inflight_ > 0) {
        return;
    }
    close_submitted_ = true;
    t.io.close();
}

bool Connection::on_timer(Turn& t) {
    if (!in_use_) return false;
    const int64_t now = t.now_ms;
    if (closing_) {
        // A close linked behind a send waits for it. That send (at most the 64 KiB TLS
        // output buffer) completes only whole: a reader that has not taken it within the
        // send timeout is dropped. Cancelling the send lets the linked close run.
        if (close_linked_ && send_inflight_ && !link_cancelled_ &&
            now - last_activity_ms_ > options_->send_timeout_ms) {
            t.io.cancel_linked_send();
            link_cancelled_ = true;
        }
        return false;
    }
    bool released = false;
    if (has_output()) {
        // A reader too slow to take any bytes for the send timeout loses the connection.
        if (now - last_activity_ms_ > options_->send_timeout_ms) begin_abort(t);
    } else if (lingering_) {
        if (now - linger_start_ms_ > options_->linger_ms) begin_abort(t);
    } else if (reading_body()) {
        // A body (a blob upload, or one being discarded) may take long on a slow link; it
        // only has to keep arriving, as with nginx's client_body_timeout.
        if (now - last_activity_ms_ > options_->header_timeout_ms) begin_abort(t);
    } else if (mid_request() || tls_partial_ || (tls_ && !tls_->handshake_done())) {
        // Slowloris: a header must arrive whole within the header timeout. Over TLS the
        // clock starts at accept, so a handshake dribbled in byte by byte is timed too.
        if (now - request_start_ms_ > options_->header_timeout_ms) begin_abort(t);
    } else if (t.stopping || now - last_activity_ms_ > options_->idle_timeout_ms) {
        begin_abort(t);  // idle keep-alive connection
    } else if (now - last_activity_ms_ > kReleaseIdleAfterMs) {
        released = rest();
    }
    maybe_finish(t);
    return released;
}

void Connection::stop() {
    if (in_use_ && !closing_ && session_) session_->close_after_current();
}

}  // namespace anyedge::server
