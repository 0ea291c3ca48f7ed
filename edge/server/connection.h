// Connection: one client connection's state machine, without sockets. It is fed events (bytes
// received, a send done, an auxiliary operation done, a timer tick, a stop) and answers them
// with operations on its ConnectionIo (arm a receive, send these bytes, shut down, close). The
// Worker runs those on its io_uring; a test records them and feeds the completions back.
//
// Transports: plain TCP, or TLS (a TlsSession over memory buffers); over either, HTTP/1.1
// (HttpSession) or, after ALPN chose it, HTTP/2 (H2Session).
//
// Life: start() -> events ... -> the close operation -> on_closed(); then the object may be
// started again for the next connection. At most one send is in flight; the close is asked for
// only when nothing else is. Nothing here holds a pointer to its owner: each event gets what
// it needs in a Turn. One thread.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "edge/http/response_head.h"
#include "edge/server/access_log.h"
#include "edge/server/h2_session.h"
#include "edge/server/http_session.h"
#include "edge/server/output_queue.h"
#include "edge/server/shared_state.h"
#include "edge/tls/tls_session.h"

namespace anyedge::server {

// The operations a connection asks for. Completions come back as Connection events: a receive
// as on_receive (many, while armed), send/send_then_close as on_sent, shutdown_write and
// cancel_all as on_aux_done, close (and the close of send_then_close) as the owner's release.
class ConnectionIo {
  public:
    virtual ~ConnectionIo() = default;
    virtual void arm_receive() = 0;
    // Stops the armed receive (back-pressure); its last completion still comes.
    virtual void cancel_receive() = 0;
    virtual void send(std::span<const iovec> iov) = 0;
    // The last bytes, then a cancel of everything and the close, linked: the close runs right
    // after the send even when the send fails. Completions: on_sent, on_aux_done, the close.
    virtual void send_then_close(std::string_view last) = 0;
    // Cancels the send of send_then_close (the send timeout); its close then runs.
    virtual void cancel_linked_send() = 0;
    virtual void shutdown_write() = 0;
    virtual void cancel_all() = 0;
    virtual void close() = 0;
    // Whether bytes wait in the socket that no receive has taken yet (unknown: true).
    virtual bool unread_input() = 0;
};

struct ConnectionOptions {
    SessionLimits session;
    uint32_t header_timeout_ms = 10000;
    uint32_t idle_timeout_ms = 60000;
    uint32_t send_timeout_ms = 30000;
    uint32_t linger_ms = 2000;
    http::HeaderLines extra_headers;      // lines added to every response
    http::HeaderLines tls_extra_headers;  // added to HTTPS responses
    // tls_extra_headers and an Alt-Svc line (HTTP/3 on the same port), for HTTPS responses
    // over TCP unless draining: a draining node stops sending clients to itself first. Empty:
    // no HTTP/3.
    http::HeaderLines tls_extra_headers_alt_svc;
    uint16_t redirect_https_port = 0;  // plain HTTP answers 301 to https on this port; 0: off
    std::string acme_thumbprint;       // answer HTTP-01 challenges (ResponseContext)
};

// What every event needs from the worker's current loop turn.
struct Turn {
    ConnectionIo& io;
    int64_t now_ms = 0;   // monotonic
    int64_t wall_ms = 0;  // unix time, for the access log
    std::string_view date_line;
    const http::HeadFields* date_fields = nullptr;  // date_line as HTTP/2 and HTTP/3 fields
    // The live snapshot and the previous one (skew grace); the pointers stay valid (they are
    // the worker's), the snapshots they name change between turns.
    const std::shared_ptr<const cache::Snapshot>* live = nullptr;
    const std::shared_ptr<const cache::Snapshot>* previous = nullptr;
    bool force_close = false;  // stopping or draining: responses say Connection: close
    bool stopping = false;
    WorkerCounters& counters;
    AccessLog* access_log = nullptr;
};

class Connection {
  public:
    // A new connection: TLS when `tls` is given (from TlsSession::accept). `peer` is for the
    // access log ("addr:port"; empty without one). Arms the receive.
    void start(const ConnectionOptions& options, RequestHandler* handler,
               std::unique_ptr<tls::TlsSession> tls, bool tls_listener, std::string peer, Turn& t);

    // A receive completion: res > 0 with its bytes, 0 for EOF, < 0 for an error (-ENOBUFS:
    // no buffer free, -ECANCELED: cancel_receive). `more`: the receive stays armed.
    void on_receive(int res, std::string_view bytes, bool more, Turn& t);
    void on_sent(int res, Turn& t);
    void on_aux_done(Turn& t);
    // Sends what the events of this turn queued (the owner calls it once per turn for each
    // connection that wants_flush()).
    void flush(Turn& t);
    bool wants_flush() const { return flush_pending_; }
    // Timeouts, and the memory of an idle connection given back. Returns whether memory was.
    bool on_timer(Turn& t);
    // The worker is stopping: finish the current response, answer nothing more.
    void stop();
    // The close completed: drop everything, ready for start().
    void on_closed();

    bool in_use() const { return in_use_; }
    bool closing() const { return closing_; }
    bool close_submitted() const { return close_submitted_; }
    bool has_http2() const { return h2_ != nullptr; }
    // Bytes of input held unanswered (pipelined behind a full output queue).
    size_t buffered_bytes() const { return session_ ? session_->buffered_bytes() : 0; }
    // What an idle connection still holds, for tests: its session, output queues, TLS buffers.
    bool holds_session() const { return session_ != nullptr; }
    bool holds_output_queues() const { return io_ != nullptr; }

  private:
    // Output queues and the iovecs of the send in flight: made when output is first queued,
    // given back when the connection is idle.
    struct SendState {
        OutputQueue front;  // being sent
        OutputQueue back;   // being filled
        iovec iov[64];
    };

    ProtocolSession& session(Turn& t);
    SendState& out();
    ResponseContext context(const Turn& t) const;
    bool has_output() const;
    bool mid_request() const { return session_ && session_->mid_request(); }
    bool reading_body() const { return session_ && session_->reading_body(); }
    bool session_closing() const { return session_ && session_->closing(); }
    bool ended_cleanly() const { return session_ && session_->ended_cleanly(); }
    void receive_plain(std::string_view bytes, Turn& t);
    void tls_input(std::string_view data, Turn& t);
    void tls_flush(Turn& t);
    void refuse_plain_http(Turn& t);
    void start_http2(Turn& t);
    void throttle_input(Turn& t);
    void begin_linger(Turn& t);
    void begin_abort(Turn& t);
    void maybe_finish(Turn& t);
    void note_send(Turn& t);
    bool rest();
    void publish_counters(const SessionCounters& before, Turn& t) const;

    const ConnectionOptions* options_ = nullptr;
    RequestHandler* handler_ = nullptr;  // the listener's (null: the site Responder)
    std::string peer_;
    bool in_use_ = false;
    bool recv_armed_ = false;
    bool recv_paused_ = false;  // too much input waits unanswered: not read until it drains
    bool send_inflight_ = false;
    bool closing_ = false;  // abort: cancel everything, then close
    bool close_submitted_ = false;
    bool close_linked_ = false;    // the close waits behind the last send (send_then_close)
    bool link_cancelled_ = false;  // ... and that send was cancelled by the send timeout
    bool lingering_ = false;       // no more responses: close once output is sent
    bool shut_wr_ = false;         // our FIN is sent; input is read and dropped until EOF
    bool tls_listener_ = false;    // accepted on a TLS listener (even if refused as plain HTTP)
    bool tls_shutdown_sent_ = false;
    bool tls_input_seen_ = false;  // the connection's first byte has been looked at
    // Ciphertext arrived that is not plaintext yet (a record dribbled in): the header timeout
    // runs from its first byte, as for a partial request.
    bool tls_partial_ = false;
    bool flush_pending_ = false;
    uint32_t aux_inflight_ = 0;  // shutdown/cancel operations not yet completed
    // HTTP/1.1 from the start; HTTP/2 once TLS has negotiated "h2". An idle HTTP/1.1 connection
    // holds no session: session() makes one for its next request, continuing the count.
    std::unique_ptr<HttpSession> http1_;
    std::unique_ptr<H2Session> h2_;
    ProtocolSession* session_ = nullptr;
    uint64_t requests_before_ = 0;  // answered by HTTP/1.1 sessions given back
    std::unique_ptr<tls::TlsSession> tls_;
    std::unique_ptr<SendState> io_;  // null while there is no output
    int64_t last_activity_ms_ = 0;
    int64_t request_start_ms_ = 0;
    int64_t linger_start_ms_ = 0;
};

}  // namespace anyedge::server
