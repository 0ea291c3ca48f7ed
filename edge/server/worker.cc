#include "edge/server/worker.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "edge/http/http_date.h"
#include "edge/io/ring.h"
#include "edge/server/h2_session.h"
#include "edge/server/output_queue.h"
#include "edge/tls/tls_session.h"

#include <malloc.h>

namespace anyedge::server {
namespace {

// kAux: a shutdown or cancel on a connection's fd. io_uring may run these on a worker thread
// (shutdown always is), so the fd is closed only after they completed: otherwise a reused fd
// number could have a new connection shut down or cancelled by its predecessor's operation.
enum class Op : uint8_t { kAccept = 1, kRecv, kSend, kClose, kIgnore, kLogWrite, kAux };

constexpr uint64_t pack(Op op, uint32_t slot, uint32_t gen) {
    return (uint64_t(op) << 56) | (uint64_t(slot & 0xffffff) << 32) | gen;
}
constexpr Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
constexpr uint32_t slot_of(uint64_t ud) { return uint32_t(ud >> 32) & 0xffffff; }
constexpr uint32_t gen_of(uint64_t ud) { return uint32_t(ud); }

constexpr size_t kMaxIov = 64;
constexpr size_t kMaxSendBytes = 4 << 20;  // per sendmsg; large files go out in chunks
// Pipelined input held unanswered, beyond one maximal header, before reading pauses.
constexpr size_t kMaxHeldInput = 64 * 1024;
// A keep-alive connection idle this long gives its buffers back (TLS records, BIO pair, output
// queues): most of a CDN's connections are idle browsers, and their memory is what costs. Not
// at once: a busy connection would pay allocations for every request.
constexpr int64_t kReleaseIdleAfterMs = 100;
// After a sweep released connections' buffers (up to ~80 KiB each with TLS), the freed heap is
// handed back to the kernel (malloc_trim): freed chunks amid the heap otherwise stay resident.
// At most this often: a trim walks the heap.
constexpr int64_t kTrimIntervalMs = 1000;
constexpr uint16_t kBufferGroup = 1;
// A worker that has received nothing for this long gives its receive buffers' pages back.
constexpr int64_t kReleaseBuffersAfterMs = 1000;

// Bytes waiting in a socket's receive queue, not yet taken by our receive. A query, not I/O:
// synchronous, so that the answer is as fresh as it can be when we decide to close.
bool unread_input(int fd) {
    int n = 0;
    return ::ioctl(fd, SIOCINQ, &n) != 0 || n > 0;  // unknown: assume there is
}

int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// What a connection needs only while it has output: its two queues and the iovecs of the send
// in flight. Made when output is first queued; given back when the connection has been idle a
// while (see Impl::rest), so that an idle connection holds little more than its socket.
struct SendState {
    OutputQueue front;  // being sent
    OutputQueue back;   // being filled
    iovec iov[kMaxIov];
    msghdr msg{};
};

struct Conn {
    int fd = -1;
    uint32_t gen = 0;
    bool in_use = false;
    bool recv_armed = false;
    bool recv_paused = false;  // too much input waits unanswered: not read until it drains
    bool send_inflight = false;
    bool closing = false;  // abort: cancel everything, then close
    bool close_submitted = false;
    bool close_linked = false;    // the close waits behind the last send (send_then_close)
    bool link_cancelled = false;  // ... and that send was cancelled by the send timeout
    bool lingering = false;       // no more responses: close once output is sent
    bool shut_wr = false;         // our FIN is sent; input is read and dropped until EOF
    bool tls_listener = false;    // accepted on a TLS listener (even if refused as plain HTTP)
    bool tls_shutdown_sent = false;
    bool tls_input_seen = false;  // the connection's first byte has been looked at
    // Ciphertext arrived that is not plaintext yet (a record dribbled in): the header timeout
    // runs from its first byte, as for a partial request.
    bool tls_partial = false;
    uint32_t aux_inflight = 0;  // shutdown/cancel operations not yet completed
    // The HTTP side: HTTP/1.1 from accept; HTTP/2 instead once TLS has negotiated "h2". An idle
    // HTTP/1.1 connection holds no session: one is made for its next request (Impl::session),
    // continuing the count of requests answered.
    std::unique_ptr<HttpSession> http1;
    std::unique_ptr<H2Session> h2;
    ProtocolSession* session = nullptr;    // whichever of the two is in use, or null
    uint64_t requests_before = 0;          // answered by HTTP/1.1 sessions given back
    RequestHandler* handler = nullptr;     // the listener's (null: the site Responder)
    std::string peer;                      // "addr:port", kept only with the access log on
    std::unique_ptr<tls::TlsSession> tls;  // TLS listeners: ciphertext <-> plaintext
    std::unique_ptr<SendState> io;         // null while there is no output
    int64_t last_activity_ms = 0;
    int64_t request_start_ms = 0;
    int64_t linger_start_ms = 0;
};

// Connection records, packed kPerBlock to a block and never freed while the worker runs. Packed,
// the small long-lived records of idle connections stay apart from the short-lived sessions and
// buffers of connections with work (a block is larger than malloc's mmap threshold, so it is a
// mapping of its own); so what those give back when they go idle leaves whole heap pages free,
// which malloc_trim returns to the kernel. (One allocation per record would scatter them among
// the freed buffers and pin every page.)
class ConnSlab {
  public:
    Conn& operator[](uint32_t slot) { return blocks_[slot / kPerBlock][slot % kPerBlock]; }
    uint32_t size() const { return size_; }
    // A new slot at the end.
    uint32_t add() {
        if (size_ % kPerBlock == 0) blocks_.push_back(std::make_unique<Conn[]>(kPerBlock));
        return size_++;
    }

  private:
    static constexpr uint32_t kPerBlock = 1024;
    std::vector<std::unique_ptr<Conn[]>> blocks_;
    uint32_t size_ = 0;
};

// Questions about a connection's session that do not make one: a connection without one is
// between requests, with nothing held.
bool mid_request(const Conn& c) { return c.session && c.session->mid_request(); }
bool reading_body(const Conn& c) { return c.session && c.session->reading_body(); }
bool session_closing(const Conn& c) { return c.session && c.session->closing(); }
bool ended_cleanly(const Conn& c) { return c.session && c.session->ended_cleanly(); }
size_t buffered_bytes(const Conn& c) { return c.session ? c.session->buffered_bytes() : 0; }

}  // namespace

struct Worker::Impl {
    Impl(unsigned index, std::vector<ListenerSocket> listeners, const WorkerOptions& options,
         SharedState& shared, WorkerCounters& counters)
        : index(index),
          listeners(std::move(listeners)),
          options(options),
          shared(shared),
          counters(counters) {}

    unsigned index;
    std::vector<ListenerSocket> listeners;
    WorkerOptions options;
    SharedState& shared;
    WorkerCounters& counters;

    std::unique_ptr<io::Ring> ring;
    std::unique_ptr<io::BufferRing> buffers;
    ConnSlab conns;
    std::vector<uint32_t> free_slots;
    uint32_t open = 0;

    std::shared_ptr<const cache::Snapshot> snapshot;
    std::shared_ptr<const cache::Snapshot> previous;  // skew grace fallback
    int64_t previous_until = 0;
    uint64_t snapshot_version = ~uint64_t(0);
    char date_line[64] = {};
    size_t date_len = 0;
    time_t date_second = 0;
    bool stopping = false;
    int64_t stop_deadline = 0;
    int64_t now = 0;
    std::vector<uint32_t> dirty;  // connections with output to flush this turn
    std::unique_ptr<AccessLog> access_log;
    int64_t wall_ms = 0;  // unix milliseconds, refreshed each loop turn (access log stamps)
    int64_t last_trim_ms = 0;
    bool trim_pending = false;  // buffers were released since the last malloc_trim
    int64_t last_recv_ms = 0;
    bool recv_buffers_touched = false;  // since their pages were last given back

    std::string run();
    void refresh_turn_state();
    void arm_accept(size_t listener_index);
    void arm_recv(uint32_t slot);
    void throttle_input(uint32_t slot);
    void on_accept(size_t listener_index, int res, uint32_t flags);
    void on_recv(uint32_t slot, int res, uint32_t flags);
    void on_send(uint32_t slot, int res);
    void flush(uint32_t slot);
    void begin_abort(uint32_t slot);
    void begin_linger(uint32_t slot);
    void maybe_finish(uint32_t slot);
    void release(uint32_t slot);
    void sweep();
    void start_stop();
    ResponseContext context(const Conn& c) const;
    void publish_counters(const ProtocolSession& before_after, const SessionCounters& old);
    void start_http2(uint32_t slot);
    bool has_output(const Conn& c) const;
    // The connection's protocol session, made (HTTP/1.1) if an idle connection gave it back.
    ProtocolSession& session(Conn& c);
    // The connection's output queues, made on first use.
    SendState& io(Conn& c);
    // An idle connection gives back its session, output queues and TLS buffers; true when it
    // had any to give.
    bool rest(Conn& c);
    void tls_input(uint32_t slot, std::string_view data);
    void tls_flush(uint32_t slot);
    void tls_on_send(uint32_t slot, int res);
    void send_then_close(uint32_t slot, std::string_view last);
    void refuse_plain_http(uint32_t slot);
    char plain[16384];  // TLS plaintext scratch; copied into the session at once
};

Worker::Worker(unsigned index, std::vector<ListenerSocket> listeners, const WorkerOptions& options,
               SharedState& shared)
    : impl_(std::make_unique<Impl>(index, std::move(listeners), options, shared, counters_)) {}

Worker::~Worker() = default;

std::string Worker::run() { return impl_->run(); }

ResponseContext Worker::Impl::context(const Conn& c) const {
    ResponseContext ctx;
    ctx.date_line = std::string_view(date_line, date_len);
    ctx.force_close = stopping || shared.draining.load(std::memory_order_relaxed);
    ctx.extra_headers = c.tls ? options.tls_extra_headers : options.extra_headers;
    ctx.redirect_https_port = c.tls ? 0 : options.redirect_https_port;
    ctx.fallback = previous.get();
    return ctx;
}

bool Worker::Impl::has_output(const Conn& c) const {
    return c.send_inflight || (c.io && (!c.io->front.empty() || !c.io->back.empty())) ||
           (c.tls && c.tls->pending_ciphertext_bytes() > 0);
}

ProtocolSession& Worker::Impl::session(Conn& c) {
    if (c.session == nullptr) {
        c.http1 = std::make_unique<HttpSession>(options.session, c.handler);
        c.http1->continue_from(c.requests_before);
        if (access_log) {
            c.http1->set_access_log(access_log.get(), c.peer, c.tls_listener, &wall_ms);
        }
        c.session = c.http1.get();
    }
    return *c.session;
}

SendState& Worker::Impl::io(Conn& c) {
    if (!c.io) {
        c.io = std::make_unique<SendState>();
        c.io->front.set_snapshots(&snapshot, &previous);
        c.io->back.set_snapshots(&snapshot, &previous);
        const size_t copy_threshold =
            c.tls_listener ? OutputQueue::kCopyThreshold : OutputQueue::kPlainCopyThreshold;
        c.io->front.set_copy_threshold(copy_threshold);
        c.io->back.set_copy_threshold(copy_threshold);
    }
    return *c.io;
}

bool Worker::Impl::rest(Conn& c) {
    bool any = false;
    if (c.io && !c.send_inflight && c.io->front.empty() && c.io->back.empty()) {
        c.io.reset();
        any = true;
    }
    if (c.http1 && c.session == c.http1.get() && c.http1->at_rest()) {
        c.requests_before = c.http1->requests();
        c.http1.reset();
        c.session = nullptr;
        any = true;
    } else if (c.session) {
        any = c.session->release_memory() || any;
    }
    if (c.tls) any = c.tls->shed_buffers() || any;
    return any;
}

void Worker::Impl::refresh_turn_state() {
    now = now_ms();
    timespec wall{};
    clock_gettime(CLOCK_REALTIME_COARSE, &wall);
    wall_ms = int64_t(wall.tv_sec) * 1000 + wall.tv_nsec / 1000000;
    const time_t sec = wall.tv_sec;
    if (sec != date_second) {
        date_second = sec;
        memcpy(date_line, "Date: ", 6);
        http::format_http_date(
            sec, std::span<char, http::kHttpDateLength>(date_line + 6, http::kHttpDateLength));
        memcpy(date_line + 6 + http::kHttpDateLength, "\r\n", 2);
        date_len = 6 + http::kHttpDateLength + 2;
    }
    const uint64_t v = shared.version();
    if (v != snapshot_version) {
        snapshot_version = v;
        PublishedSite site = shared.site();
        snapshot = std::move(site.live);
        previous = std::move(site.previous);
        previous_until = site.previous_until;
    }
    if (previous && sec >= previous_until) previous.reset();  // the grace is over
}

void Worker::Impl::arm_accept(size_t li) {
    io_uring_sqe* sqe = ring->get_sqe();
    io_uring_prep_multishot_accept(sqe, listeners[li].fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, pack(Op::kAccept, uint32_t(li), 0));
}

void Worker::Impl::arm_recv(uint32_t slot) {
    Conn& c = conns[slot];
    io_uring_sqe* sqe = ring->get_sqe();
    io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, pack(Op::kRecv, slot, c.gen));
    c.recv_armed = true;
}

// Input back-pressure. A client that pipelines requests faster than it reads the answers
// would otherwise have everything it sends held in memory: past this much input waiting
// unanswered the receive is cancelled and TCP holds the rest, until half of it is answered.
void Worker::Impl::throttle_input(uint32_t slot) {
    Conn& c = conns[slot];
    if (!c.in_use || c.closing) return;
    const size_t cap = options.session.parser.max_header_bytes + kMaxHeldInput;
    const size_t held = buffered_bytes(c);
    if (!c.recv_paused && held > cap) {
        c.recv_paused = true;
        if (c.recv_armed) {
            io_uring_sqe* sqe = ring->get_sqe();
            io_uring_prep_cancel64(sqe, pack(Op::kRecv, slot, c.gen), 0);
            io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
        }
    } else if (c.recv_paused && held <= cap / 2) {
        c.recv_paused = false;
        if (!c.recv_armed) arm_recv(slot);
    }
}

void Worker::Impl::on_accept(size_t li, int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE) && !stopping) arm_accept(li);
    if (res < 0) return;  // e.g. -EMFILE, -ECONNABORTED: the listener stays armed
    const int fd = res;
    if (stopping || open >= options.max_connections) {
        // Over the cap: refuse at once rather than queue work we cannot bound.
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_close(sqe, fd);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
        return;
    }
    uint32_t slot;
    if (!free_slots.empty()) {
        slot = free_slots.back();
        free_slots.pop_back();
    } else {
        slot = conns.add();
    }
    Conn& c = conns[slot];
    c.fd = fd;
    c.in_use = true;
    c.recv_armed = c.send_inflight = c.closing = c.close_submitted = c.lingering = false;
    c.close_linked = c.link_cancelled = false;
    c.recv_paused = false;
    c.shut_wr = false;
    c.aux_inflight = 0;
    c.h2.reset();
    c.http1.reset();
    c.session = nullptr;
    c.requests_before = 0;
    c.handler = listeners[li].handler;
    c.tls_listener = listeners[li].tls;
    c.tls.reset();
    c.io.reset();
    c.tls_shutdown_sent = false;
    c.tls_input_seen = false;
    c.tls_partial = false;
    if (listeners[li].tls) {
        auto t = options.tls ? tls::TlsSession::accept(*options.tls)
                             : Result<tls::TlsSession>(make_error("no TLS context"));
        if (!t) {
            c.in_use = false;
            free_slots.push_back(slot);
            io_uring_sqe* sqe = ring->get_sqe();
            io_uring_prep_close(sqe, fd);
            io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
            return;
        }
        c.tls = std::make_unique<tls::TlsSession>(std::move(*t));
    }
    if (access_log) {
        // Only with the log on: one getpeername per connection for the client's address.
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
            if (peer.ss_family == AF_INET) {
                auto* a = reinterpret_cast<sockaddr_in*>(&peer);
                inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
                port = ntohs(a->sin_port);
            } else if (peer.ss_family == AF_INET6) {
                auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
                inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
                port = ntohs(a->sin6_port);
            }
        }
        c.peer = std::string(host) + ":" + std::to_string(port);
    }
    c.last_activity_ms = now;
    c.request_start_ms = now;
    ++open;
    counters.accepted.fetch_add(1, std::memory_order_relaxed);
    counters.open_connections.fetch_add(1, std::memory_order_relaxed);
    counters.last_accept_ms.store(now, std::memory_order_relaxed);
    arm_recv(slot);
}

void Worker::Impl::on_recv(uint32_t slot, int res, uint32_t flags) {
    Conn& c = conns[slot];
    if (!(flags & IORING_CQE_F_MORE)) c.recv_armed = false;
    if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
        const uint16_t bid = uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
        last_recv_ms = now;
        recv_buffers_touched = true;
        std::string_view data(buffers->buffer(bid), size_t(res));
        if (c.tls && !c.closing) {
            c.last_activity_ms = now;
            tls_input(slot, data);
        } else if (!c.closing && !c.lingering) {
            if (!mid_request(c)) c.request_start_ms = now;
            c.last_activity_ms = now;
            const SessionCounters before = session(c).counters();
            session(c).on_receive(data, *snapshot, context(c), io(c).back);
            publish_counters(session(c), before);
            if (!io(c).back.empty()) dirty.push_back(slot);
            if (session_closing(c) && io(c).back.empty() && !c.send_inflight) begin_linger(slot);
        }
        // Provided buffers are leases: the bytes were copied or consumed; give it back now.
        buffers->recycle(bid);
    } else if (res == -ENOBUFS) {
        // Every receive buffer is in use: back-pressure, not an error. Re-armed below.
    } else if (res == -ECANCELED && !c.closing) {
        // throttle_input() cancelled it; re-armed below if reading has resumed meanwhile.
    } else if (res == 0 || res < 0) {
        // EOF or error. With output still pending the peer may only have half-closed.
        if (c.tls && res == 0) c.tls->feed_eof();
        if (res == 0 && has_output(c) && !c.closing) {
            session(c).close_after_current();
            c.lingering = true;  // nothing more to read; close once the output is sent
            c.linger_start_ms = now;
        } else {
            begin_abort(slot);
        }
        maybe_finish(slot);
        return;
    }
    throttle_input(slot);
    if (!c.recv_armed && !c.recv_paused && !c.closing && c.in_use) arm_recv(slot);
    maybe_finish(slot);
}

void Worker::Impl::publish_counters(const ProtocolSession& s, const SessionCounters& old) {
    const SessionCounters& n = s.counters();
    auto bump = [](std::atomic<uint64_t>& a, uint64_t delta) {
        if (delta) a.store(a.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    };
    bump(counters.requests, n.requests - old.requests);
    bump(counters.status_2xx, n.status_2xx - old.status_2xx);
    bump(counters.status_3xx, n.status_3xx - old.status_3xx);
    bump(counters.status_4xx, n.status_4xx - old.status_4xx);
    bump(counters.status_5xx, n.status_5xx - old.status_5xx);
    bump(counters.body_bytes, n.body_bytes - old.body_bytes);
}

void Worker::Impl::flush(uint32_t slot) {
    Conn& c = conns[slot];
    if (!c.in_use || c.send_inflight || c.closing) return;
    if (c.tls) {
        tls_flush(slot);
        return;
    }
    if (io(c).front.empty() && !io(c).back.empty()) std::swap(io(c).front, io(c).back);
    if (io(c).front.empty()) return;
    const size_t n = io(c).front.gather(io(c).iov, kMaxIov, kMaxSendBytes);
    io_uring_sqe* sqe = ring->get_sqe();
    if (n == 1) {
        // One contiguous buffer: plain send skips the msghdr and iovec import.
        io_uring_prep_send(sqe, c.fd, io(c).iov[0].iov_base, io(c).iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        io(c).msg = msghdr{};
        io(c).msg.msg_iov = io(c).iov;
        io(c).msg.msg_iovlen = n;
        io_uring_prep_sendmsg(sqe, c.fd, &io(c).msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, pack(Op::kSend, slot, c.gen));
    c.send_inflight = true;
    c.last_activity_ms = now;
    counters.in_flight.fetch_add(1, std::memory_order_relaxed);
}

void Worker::Impl::on_send(uint32_t slot, int res) {
    Conn& c = conns[slot];
    c.send_inflight = false;
    counters.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (res <= 0) {
        begin_abort(slot);  // EPIPE, ECONNRESET, or cancelled by a timeout
        maybe_finish(slot);
        return;
    }
    if (c.tls) {
        tls_on_send(slot, res);
        return;
    }
    c.last_activity_ms = now;
    io(c).front.consume(size_t(res));
    if (io(c).front.empty() && !c.closing) {
        // Room again: answer pipelined requests that waited for the queue to drain.
        const SessionCounters before = session(c).counters();
        session(c).resume(*snapshot, context(c), io(c).back);
        publish_counters(session(c), before);
        throttle_input(slot);
    }
    if (!c.closing && (!io(c).front.empty() || !io(c).back.empty())) {
        flush(slot);
        return;
    }
    if (session_closing(c) || c.lingering) begin_linger(slot);
    maybe_finish(slot);
}

// ALPN chose HTTP/2: the connection's HTTP side becomes an H2Session, before any request
// bytes arrive, and the server's SETTINGS go out with the handshake's last flight.
void Worker::Impl::start_http2(uint32_t slot) {
    Conn& c = conns[slot];
    c.h2 = std::make_unique<H2Session>(options.session, c.handler);
    c.h2->set_snapshots(&snapshot, &previous);
    if (access_log) c.h2->set_access_log(access_log.get(), c.peer, true, &wall_ms);
    c.session = c.h2.get();
    c.http1.reset();
    c.h2->start(io(c).back);
}

// Plain HTTP sent to a TLS port gets a plain 400, as nginx answers it, instead of a TLS alert
// the client cannot read and a wait for the header timeout. The connection stops being TLS: the
// answer goes out in clear text, then the lingering close.
void Worker::Impl::refuse_plain_http(uint32_t slot) {
    static constexpr std::string_view kBody = "This port speaks HTTPS: use https://.\n";
    static const std::string kAnswer =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: " +
        std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + std::string(kBody);
    Conn& c = conns[slot];
    c.tls.reset();
    io(c).back.copy(kAnswer);
    session(c).close_after_current();
    c.lingering = true;
    c.linger_start_ms = now;
    counters.requests.fetch_add(1, std::memory_order_relaxed);
    counters.status_4xx.fetch_add(1, std::memory_order_relaxed);
    if (access_log)
        access_log->record_error(wall_ms, c.peer, true, 400, "plain HTTP on a TLS port");
    dirty.push_back(slot);
}

// TLS: ciphertext from the socket into OpenSSL, plaintext out of it into the HTTP session.
void Worker::Impl::tls_input(uint32_t slot, std::string_view data) {
    Conn& c = conns[slot];
    if (!c.tls_input_seen && !data.empty()) {
        c.tls_input_seen = true;
        if (!tls::can_start_tls(data.front())) {
            refuse_plain_http(slot);
            return;
        }
    }
    tls::TlsSession& t = *c.tls;
    // After a fatal alert nothing the peer sends is read: the connection is closing.
    if (t.failed()) return;
    // The request clock starts with the first byte after the last complete request, even when
    // that byte is only part of a TLS record; a clock already running is not restarted.
    bool clock_running = c.tls_partial || mid_request(c);
    if (t.handshake_done() && !clock_running) {
        c.request_start_ms = now;
        clock_running = true;
    }
    size_t off = 0;
    for (int rounds = 0; rounds < 64; ++rounds) {
        const size_t fed =
            off < data.size()
                ? t.feed_ciphertext(std::span<const char>(data.data() + off, data.size() - off))
                : 0;
        off += fed;
        if (!t.handshake_done()) {
            const tls::TlsIo hs = t.handshake();
            if (hs.status == tls::TlsStatus::error || hs.status == tls::TlsStatus::truncated ||
                hs.status == tls::TlsStatus::closed) {
                // Send the alert OpenSSL queued, then close (begin_linger sends our FIN).
                session(c).close_after_current();
                c.lingering = true;
                c.linger_start_ms = now;
                break;
            }
            if (t.handshake_done()) {
                counters.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
                if (t.resumed()) counters.tls_resumed.fetch_add(1, std::memory_order_relaxed);
                if (t.alpn() == "h2") start_http2(slot);
            }
        }
        bool progress = fed > 0;
        if (t.handshake_done() && !c.lingering) {
            for (;;) {
                const tls::TlsIo r = t.read_plaintext(std::span<char>(plain, sizeof plain));
                if (r.bytes > 0) {
                    progress = true;
                    // A request after a complete one in these bytes starts its own clock.
                    if (!mid_request(c) && !clock_running) c.request_start_ms = now;
                    clock_running = false;
                    const SessionCounters before = session(c).counters();
                    session(c).on_receive(std::string_view(plain, r.bytes), *snapshot, context(c),
                                          io(c).back);
                    publish_counters(session(c), before);
                }
                if (r.status == tls::TlsStatus::ok && r.bytes > 0) continue;
                if (r.status == tls::TlsStatus::closed) {
                    // close_notify from the peer (RFC 8446 §6.1): answer what we have, then ours.
                    session(c).close_after_current();
                    c.lingering = true;
                    c.linger_start_ms = now;
                } else if (r.status == tls::TlsStatus::error ||
                           r.status == tls::TlsStatus::truncated) {
                    session(c).close_after_current();
                    c.lingering = true;
                    c.linger_start_ms = now;
                }
                break;
            }
        }
        if (off >= data.size() || !progress) break;
    }
    c.tls_partial = t.handshake_done() && t.input_pending();
    dirty.push_back(slot);
}

void Worker::Impl::tls_flush(uint32_t slot) {
    Conn& c = conns[slot];
    tls::TlsSession& t = *c.tls;
    for (int rounds = 0; rounds < 64; ++rounds) {
        // Encrypt queued plaintext until OpenSSL's output buffer is full.
        bool blocked = false;
        while (!io(c).back.empty() && t.handshake_done() && !blocked) {
            iovec iov[8];
            const size_t n = io(c).back.gather(iov, 8, 64 * 1024);
            size_t wrote = 0;
            for (size_t i = 0; i < n; ++i) {
                const tls::TlsIo w = t.write_plaintext(std::span<const char>(
                    static_cast<const char*>(iov[i].iov_base), iov[i].iov_len));
                wrote += w.bytes;
                if (w.bytes < iov[i].iov_len) {
                    blocked = true;
                    if (w.status == tls::TlsStatus::error) {
                        io(c).back.consume(wrote);
                        begin_abort(slot);
                        return;
                    }
                    break;
                }
            }
            io(c).back.consume(wrote);
        }
        if (!blocked && io(c).back.empty() && t.handshake_done() && !session_closing(c) &&
            !c.lingering) {
            const SessionCounters before = session(c).counters();
            session(c).resume(*snapshot, context(c), io(c).back);
            publish_counters(session(c), before);
            throttle_input(slot);
            if (!io(c).back.empty()) continue;
        }
        break;
    }
    if (io(c).back.empty() && !c.tls_shutdown_sent && (session_closing(c) || c.lingering)) {
        t.shutdown();  // queue our close_notify after the last response
        c.tls_shutdown_sent = true;
    }
    const std::string_view pending = t.pending_ciphertext();
    // Only when these are all the bytes left: close_notify is among them, and they do not wrap
    // around the end of the output ring (pending_ciphertext() is the first contiguous part).
    if (!pending.empty() && c.tls_shutdown_sent && !t.shutdown_pending() &&
        pending.size() == t.pending_ciphertext_bytes() && ended_cleanly(c) && !unread_input(c.fd)) {
        send_then_close(slot, pending);
        return;
    }
    if (!pending.empty()) {
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_send(sqe, c.fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, pack(Op::kSend, slot, c.gen));
        c.send_inflight = true;
        counters.in_flight.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!c.tls_shutdown_sent) return;
    if (ended_cleanly(c) && !unread_input(c.fd)) {
        // Our close_notify is out after the last response to a complete request, and nothing
        // else arrived: close now, as RFC 8446 §6.1 allows, without waiting for the peer's
        // close_notify. Waiting costs a wake-up and a receive per connection; the peer's late
        // alert meets a closed socket after it has read everything we sent. Bytes already in
        // the socket (a TLS 1.3 peer may send its close_notify right after its request and
        // still read) would turn close() into a reset: then linger as below. An alert landing
        // after this check, within the ring turn before the close, still meets a reset; by then
        // the response has left uncorked (EdgeTls.HalfClosingTls13ClientReadsTheWholeResponse).
        begin_abort(slot);
        maybe_finish(slot);
        return;
    }
    begin_linger(slot);
}

// The last bytes of a TLS connection that ends cleanly (our close_notify after the last
// response, nothing unread): send them, cancel the receive and close, hard-linked in one
// submission. The close then runs as soon as the send is done, in the same io_uring_enter,
// instead of two ring turns later (7.4 -> 5.4 io_uring_enter calls per connection under
// `openssl s_time -new`). MSG_WAITALL keeps a short send retrying inside the ring, so the close
// never runs after part of the data. Hard links: a send that fails (peer gone) or is cancelled
// (send timeout, in sweep()) still lets the cancel and the close run.
void Worker::Impl::send_then_close(uint32_t slot, std::string_view last) {
    Conn& c = conns[slot];
    ring->reserve(3);
    io_uring_sqe* sqe = ring->get_sqe();
    io_uring_prep_send(sqe, c.fd, last.data(), last.size(), MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(sqe, pack(Op::kSend, slot, c.gen));
    sqe->flags |= IOSQE_IO_HARDLINK;
    c.send_inflight = true;
    c.last_activity_ms = now;
    counters.in_flight.fetch_add(1, std::memory_order_relaxed);

    sqe = ring->get_sqe();
    io_uring_prep_cancel_fd(sqe, c.fd, IORING_ASYNC_CANCEL_ALL);  // the multishot receive
    io_uring_sqe_set_data64(sqe, pack(Op::kAux, slot, c.gen));
    sqe->flags |= IOSQE_IO_HARDLINK;
    ++c.aux_inflight;

    sqe = ring->get_sqe();
    io_uring_prep_close(sqe, c.fd);
    io_uring_sqe_set_data64(sqe, pack(Op::kClose, slot, c.gen));
    c.closing = true;
    c.close_submitted = true;
    c.close_linked = true;
}

void Worker::Impl::tls_on_send(uint32_t slot, int res) {
    Conn& c = conns[slot];
    c.last_activity_ms = now;
    c.tls->consume_ciphertext(size_t(res));
    if (!c.closing) tls_flush(slot);
    maybe_finish(slot);
}

// After the last response: shut our write side and discard input for a while, so that a
// client still sending (a pipelined tail, a body) gets our answer instead of a reset
// (RFC 9112 §9.6, "lingering close").
void Worker::Impl::begin_linger(uint32_t slot) {
    Conn& c = conns[slot];
    if (c.closing || c.shut_wr || has_output(c)) return;
    if (!c.lingering) c.linger_start_ms = now;
    c.lingering = true;
    c.shut_wr = true;
    // Over TLS our close_notify already told the peer the stream is over (RFC 8446 §6.1), and
    // the peer answers it by closing. A shutdown(SHUT_WR) would only repeat that, and io_uring
    // always runs IORING_OP_SHUTDOWN on an io-wq thread: a thread hop per connection. It is
    // still sent when the end was not clean (an error answer, a fatal alert, which has no
    // close_notify after it): the peer then sees the connection end at once, not after the
    // linger.
    if (!c.tls || !c.tls_shutdown_sent || !ended_cleanly(c) || c.tls->failed()) {
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
        io_uring_sqe_set_data64(sqe, pack(Op::kAux, slot, c.gen));
        ++c.aux_inflight;
    }
    if (c.recv_paused) {
        // Reading was paused for back-pressure: lingering reads (and drops) input again.
        c.recv_paused = false;
        if (!c.recv_armed) arm_recv(slot);
    }
    if (!c.recv_armed) begin_abort(slot);  // the peer already sent its FIN
}

void Worker::Impl::begin_abort(uint32_t slot) {
    Conn& c = conns[slot];
    if (c.closing) return;
    c.closing = true;
    if (c.recv_armed || c.send_inflight) {
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_cancel_fd(sqe, c.fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, pack(Op::kAux, slot, c.gen));
        ++c.aux_inflight;
    }
}

void Worker::Impl::maybe_finish(uint32_t slot) {
    Conn& c = conns[slot];
    if (!c.in_use || !c.closing || c.close_submitted || c.recv_armed || c.send_inflight ||
        c.aux_inflight > 0) {
        return;
    }
    c.close_submitted = true;
    io_uring_sqe* sqe = ring->get_sqe();
    io_uring_prep_close(sqe, c.fd);
    io_uring_sqe_set_data64(sqe, pack(Op::kClose, slot, c.gen));
}

void Worker::Impl::release(uint32_t slot) {
    Conn& c = conns[slot];
    c.in_use = false;
    c.fd = -1;
    ++c.gen;
    c.session = nullptr;
    c.http1.reset();
    c.h2.reset();
    c.io.reset();
    c.tls.reset();
    c.peer.clear();
    free_slots.push_back(slot);
    --open;
    counters.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::Impl::sweep() {
    uint32_t released = 0;
    for (uint32_t slot = 0; slot < conns.size(); ++slot) {
        Conn& c = conns[slot];
        if (!c.in_use) continue;
        if (c.closing) {
            // A close linked behind a send waits for it. That send (at most the 64 KiB TLS
            // output buffer) completes only whole: a reader that has not taken it within the
            // send timeout is dropped. Cancelling the send lets the linked close run.
            if (c.close_linked && c.send_inflight && !c.link_cancelled &&
                now - c.last_activity_ms > options.send_timeout_ms) {
                io_uring_sqe* sqe = ring->get_sqe();
                io_uring_prep_cancel_fd(sqe, c.fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
                c.link_cancelled = true;
            }
            continue;
        }
        if (has_output(c)) {
            // A reader too slow to take any bytes for the send timeout loses the connection.
            if (now - c.last_activity_ms > options.send_timeout_ms) begin_abort(slot);
        } else if (c.lingering) {
            if (now - c.linger_start_ms > options.linger_ms) begin_abort(slot);
        } else if (reading_body(c)) {
            // A body (a blob upload, or one being discarded) may take long on a slow link; it
            // only has to keep arriving, as with nginx's client_body_timeout.
            if (now - c.last_activity_ms > options.header_timeout_ms) begin_abort(slot);
        } else if (mid_request(c) || c.tls_partial || (c.tls && !c.tls->handshake_done())) {
            // Slowloris: a header must arrive whole within the header timeout. Over TLS the
            // clock starts at accept, so a handshake dribbled in byte by byte is timed too.
            if (now - c.request_start_ms > options.header_timeout_ms) begin_abort(slot);
        } else if (stopping || now - c.last_activity_ms > options.idle_timeout_ms) {
            begin_abort(slot);  // idle keep-alive connection
        } else if (now - c.last_activity_ms > kReleaseIdleAfterMs) {
            released += rest(c) ? 1 : 0;
        }
        maybe_finish(slot);
    }
    trim_pending = trim_pending || released > 0;
    // sweep() runs between waits with every buffer back in the ring (they are leased only
    // within on_recv): the one moment release_pages() allows.
    if (recv_buffers_touched && now - last_recv_ms > kReleaseBuffersAfterMs) {
        buffers->release_pages();
        recv_buffers_touched = false;
    }
    if (trim_pending && now - last_trim_ms >= kTrimIntervalMs) {
        malloc_trim(0);
        last_trim_ms = now;
        trim_pending = false;
    }
}

void Worker::Impl::start_stop() {
    stopping = true;
    stop_deadline = now + options.stop_timeout_ms;
    for (size_t i = 0; i < listeners.size(); ++i) {
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_cancel64(sqe, pack(Op::kAccept, uint32_t(i), 0), 0);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
    }
    for (uint32_t slot = 0; slot < conns.size(); ++slot) {
        Conn& c = conns[slot];
        if (c.in_use && !c.closing && c.session) c.session->close_after_current();
    }
    sweep();
}

std::string Worker::Impl::run() {
    auto r = io::Ring::create(options.ring_entries);
    if (!r) return r.error();
    ring = std::move(*r);
    auto b =
        io::BufferRing::create(*ring, kBufferGroup, options.recv_buffers, options.recv_buffer_size);
    if (!b) return b.error();
    buffers = std::move(*b);
    refresh_turn_state();
    if (!snapshot) return "no site snapshot published";
    if (options.access_log_fd >= 0) access_log = std::make_unique<AccessLog>(options.access_log_fd);
    for (size_t i = 0; i < listeners.size(); ++i) arm_accept(i);

    int64_t last_sweep = now;
    for (;;) {
        __kernel_timespec ts{};
        ts.tv_nsec = 200 * 1000 * 1000;
        io_uring_cqe* cqe = nullptr;
        int rc = io_uring_submit_and_wait_timeout(ring->raw(), &cqe, 1, &ts, nullptr);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
            return std::string("io_uring_submit_and_wait_timeout: ") + std::strerror(-rc);
        }
        refresh_turn_state();
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(ring->raw(), head, cqe) {
            ++seen;
            const uint64_t ud = cqe->user_data;
            const Op op = op_of(ud);
            const uint32_t slot = slot_of(ud);
            if (op == Op::kAccept) {
                on_accept(slot, cqe->res, cqe->flags);
                continue;
            }
            if (op == Op::kLogWrite) {
                access_log->write_done(cqe->res);
                continue;
            }
            if (op == Op::kIgnore || slot >= conns.size()) continue;
            Conn& c = conns[slot];
            if (!c.in_use || c.gen != gen_of(ud)) {
                // A stale completion; a multishot receive may still have taken a buffer.
                if (op == Op::kRecv && (cqe->flags & IORING_CQE_F_BUFFER)) {
                    buffers->recycle(uint16_t(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
                }
                continue;
            }
            switch (op) {
                case Op::kRecv:
                    on_recv(slot, cqe->res, cqe->flags);
                    break;
                case Op::kSend:
                    on_send(slot, cqe->res);
                    break;
                case Op::kClose:
                    release(slot);
                    break;
                case Op::kAux:
                    --c.aux_inflight;
                    maybe_finish(slot);
                    break;
                default:
                    break;
            }
        }
        io_uring_cq_advance(ring->raw(), seen);

        for (uint32_t slot : dirty) flush(slot);
        dirty.clear();
        if (access_log) {
            const std::string_view batch = access_log->start_write();
            if (!batch.empty()) {
                io_uring_sqe* sqe = ring->get_sqe();
                io_uring_prep_write(sqe, access_log->fd(), batch.data(), unsigned(batch.size()),
                                    uint64_t(-1));
                io_uring_sqe_set_data64(sqe, pack(Op::kLogWrite, 0, 0));
            }
        }

        if (!stopping && shared.stopping.load(std::memory_order_relaxed)) start_stop();
        if (now - last_sweep >= 250 || stopping) {
            last_sweep = now;
            sweep();
        }
        if (stopping && (open == 0 || now > stop_deadline)) break;
    }
    for (auto& l : listeners) ::close(l.fd);
    if (access_log) {
        // Exiting: whatever is still buffered goes out synchronously (a file, not a socket).
        for (int i = 0; i < 4; ++i) {
            io_uring_cqe* c = nullptr;
            while (io_uring_peek_cqe(ring->raw(), &c) == 0) {
                if (op_of(c->user_data) == Op::kLogWrite) access_log->write_done(c->res);
                io_uring_cqe_seen(ring->raw(), c);
            }
            const std::string_view rest = access_log->start_write();
            if (rest.empty()) break;
            const ssize_t n = ::write(access_log->fd(), rest.data(), rest.size());
            access_log->write_done(long(n));
        }
    }
    return {};
}

}  // namespace anyedge::server
