#include "edge/server/worker.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "edge/http/http_date.h"
#include "edge/io/ring.h"
#include "edge/server/connection.h"
#include "edge/server/listener.h"
#include "edge/server/quic_ports.h"

#include <malloc.h>

namespace anyedge::server {
namespace {

// kAux: a shutdown or cancel on a connection's fd. io_uring may run these on a worker thread
// (shutdown always is), so the fd is closed only after they completed: otherwise a reused fd
// number could have a new connection shut down or cancelled by its predecessor's operation.
enum class Op : uint8_t { kAccept = 1, kRecv, kSend, kClose, kIgnore, kLogWrite, kAux, kUdpRecv };

constexpr uint64_t pack(Op op, uint32_t slot, uint32_t gen) {
    return (uint64_t(op) << 56) | (uint64_t(slot & 0xffffff) << 32) | gen;
}
constexpr Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
constexpr uint32_t slot_of(uint64_t ud) { return uint32_t(ud >> 32) & 0xffffff; }
constexpr uint32_t gen_of(uint64_t ud) { return uint32_t(ud); }

// After a sweep released connections' buffers (up to ~80 KiB each with TLS), the freed heap is
// handed back to the kernel (malloc_trim): freed chunks amid the heap otherwise stay resident.
// At most this often: a trim walks the heap.
constexpr int64_t kTrimIntervalMs = 1000;
constexpr uint16_t kBufferGroup = 1;
constexpr uint16_t kUdpBufferGroup = 2;  // the datagram buffers (QuicPorts)

// Gives this thread's free heap back to the kernel. malloc_trim() returns the free pages
// inside every arena, but not the free top of a thread's own arena: glibc shrinks that only
// when a free of 64 KiB or more reaches it (heap_trim in _int_free). So after an idle sweep the
// top could keep what the connections gave back; one such free, of a block carved from the
// top (under the 128 KiB mmap threshold), trims it.
void trim_heap() {
    void* block = std::malloc(96 * 1024);
    // Keeps the compiler from eliding the malloc/free pair.
    asm volatile("" : : "r"(block) : "memory");
    std::free(block);
    malloc_trim(0);
}

int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A connection's slot: the socket, the generation that tells its completions from a previous
// occupant's, the msghdr of its send (read by the kernel at submission, so it must outlive the
// call that prepared it) and the Connection itself.
struct Slot {
    int fd = -1;
    uint32_t gen = 0;
    msghdr msg{};
    Connection conn;
};

// Slots, packed kPerBlock to a block and never freed while the worker runs. Packed,
// the small long-lived records of idle connections stay apart from the short-lived sessions and
// buffers of connections with work (a block is larger than malloc's mmap threshold, so it is a
// mapping of its own); so what those give back when they go idle leaves whole heap pages free,
// which malloc_trim returns to the kernel. (One allocation per record would scatter them among
// the freed buffers and pin every page.)
class SlotSlab {
  public:
    Slot& operator[](uint32_t slot) { return blocks_[slot / kPerBlock][slot % kPerBlock]; }
    uint32_t size() const { return size_; }
    // A new slot at the end.
    uint32_t add() {
        if (size_ % kPerBlock == 0) blocks_.push_back(std::make_unique<Slot[]>(kPerBlock));
        return size_++;
    }

  private:
    static constexpr uint32_t kPerBlock = 1024;
    std::vector<std::unique_ptr<Slot[]>> blocks_;
    uint32_t size_ = 0;
};

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
    QuicPorts quic{index, options};
    SlotSlab slots;
    std::vector<uint32_t> free_slots;
    uint32_t open = 0;

    std::shared_ptr<const cache::Snapshot> snapshot;
    std::shared_ptr<const cache::Snapshot> previous;  // skew grace fallback
    int64_t previous_until = 0;
    uint64_t snapshot_version = ~uint64_t(0);
    char date_line[64] = {};
    size_t date_len = 0;
    http::HeadFields date_fields;  // date_line for HTTP/2 and HTTP/3, made once a second
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
    void arm_udp(size_t socket);
    QuicTurn quic_turn() const;
    void on_accept(size_t listener_index, int res, uint32_t flags);
    // Runs one event on a connection and queues its flush when it asks for one.
    template <typename F>
    void event(uint32_t slot, F&& f);
    void release(uint32_t slot);
    void sweep();
    void start_stop();
};

// A connection's operations, on the ring: one of these is made on the stack for each event.
class RingIo final : public ConnectionIo {
  public:
    RingIo(io::Ring& ring, Slot& slot, uint32_t index) : ring_(ring), slot_(slot), index_(index) {}

    void arm_receive() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_recv_multishot(sqe, slot_.fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kBufferGroup;
        io_uring_sqe_set_data64(sqe, pack(Op::kRecv, index_, slot_.gen));
    }
    void cancel_receive() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_cancel64(sqe, pack(Op::kRecv, index_, slot_.gen), 0);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
    }
    void send(std::span<const iovec> iov) override {
        io_uring_sqe* sqe = ring_.get_sqe();
        if (iov.size() == 1) {
            // One contiguous buffer: plain send skips the msghdr and iovec import.
            io_uring_prep_send(sqe, slot_.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            slot_.msg = msghdr{};
            slot_.msg.msg_iov = const_cast<iovec*>(iov.data());
            slot_.msg.msg_iovlen = iov.size();
            io_uring_prep_sendmsg(sqe, slot_.fd, &slot_.msg, MSG_NOSIGNAL);
        }
        io_uring_sqe_set_data64(sqe, pack(Op::kSend, index_, slot_.gen));
    }
    // MSG_WAITALL keeps a short send retrying inside the ring, so the close never runs after
    // part of the data. Hard links: a send that fails (peer gone) or is cancelled still lets
    // the cancel and the close run.
    void send_then_close(std::string_view last) override {
        ring_.reserve(3);
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_send(sqe, slot_.fd, last.data(), last.size(), MSG_NOSIGNAL | MSG_WAITALL);
        io_uring_sqe_set_data64(sqe, pack(Op::kSend, index_, slot_.gen));
        sqe->flags |= IOSQE_IO_HARDLINK;
        sqe = ring_.get_sqe();
        io_uring_prep_cancel_fd(sqe, slot_.fd, IORING_ASYNC_CANCEL_ALL);  // the receive
        io_uring_sqe_set_data64(sqe, pack(Op::kAux, index_, slot_.gen));
        sqe->flags |= IOSQE_IO_HARDLINK;
        sqe = ring_.get_sqe();
        io_uring_prep_close(sqe, slot_.fd);
        io_uring_sqe_set_data64(sqe, pack(Op::kClose, index_, slot_.gen));
    }
    void cancel_linked_send() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_cancel_fd(sqe, slot_.fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
    }
    void shutdown_write() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_shutdown(sqe, slot_.fd, SHUT_WR);
        io_uring_sqe_set_data64(sqe, pack(Op::kAux, index_, slot_.gen));
    }
    void cancel_all() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_cancel_fd(sqe, slot_.fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, pack(Op::kAux, index_, slot_.gen));
    }
    void close() override {
        io_uring_sqe* sqe = ring_.get_sqe();
        io_uring_prep_close(sqe, slot_.fd);
        io_uring_sqe_set_data64(sqe, pack(Op::kClose, index_, slot_.gen));
    }
    // A query, not I/O: synchronous, so that the answer is as fresh as it can be when the
    // connection decides to close.
    bool unread_input() override {
        int n = 0;
        return ::ioctl(slot_.fd, SIOCINQ, &n) != 0 || n > 0;  // unknown: assume there is
    }

  private:
    io::Ring& ring_;
    Slot& slot_;
    uint32_t index_;
};

Worker::Worker(unsigned index, std::vector<ListenerSocket> listeners, const WorkerOptions& options,
               SharedState& shared)
    : impl_(std::make_unique<Impl>(index, std::move(listeners), options, shared, counters_)) {}

Worker::~Worker() = default;

std::string Worker::run() { return impl_->run(); }

template <typename F>
void Worker::Impl::event(uint32_t index, F&& f) {
    Slot& slot = slots[index];
    RingIo io(*ring, slot, index);
    Turn t{.io = io,
           .now_ms = now,
           .wall_ms = wall_ms,
           .date_line = std::string_view(date_line, date_len),
           .date_fields = &date_fields,
           .live = &snapshot,
           .previous = &previous,
           .force_close = stopping || shared.draining.load(std::memory_order_relaxed),
           .stopping = stopping,
           .counters = counters,
           .access_log = access_log.get()};
    const bool wanted = slot.conn.wants_flush();
    f(slot.conn, t);
    if (!wanted && slot.conn.wants_flush()) dirty.push_back(index);
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
        date_fields = http::HeadFields::of_lines(std::string_view(date_line, date_len));
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

void Worker::Impl::on_accept(size_t li, int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE) && !stopping) arm_accept(li);
    if (res < 0) return;  // e.g. -EMFILE, -ECONNABORTED: the listener stays armed
    const int fd = res;
    std::unique_ptr<tls::TlsSession> tls;
    if (listeners[li].tls) {
        auto t = options.tls ? tls::TlsSession::accept(*options.tls)
                             : Result<tls::TlsSession>(make_error("no TLS context"));
        if (t) tls = std::make_unique<tls::TlsSession>(std::move(*t));
    }
    if (stopping || open >= options.max_connections || (listeners[li].tls && !tls)) {
        // Over the cap (or no TLS state): refuse at once rather than queue work we cannot
        // bound.
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_close(sqe, fd);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
        return;
    }
    uint32_t index;
    if (!free_slots.empty()) {
        index = free_slots.back();
        free_slots.pop_back();
    } else {
        index = slots.add();
    }
    Slot& slot = slots[index];
    slot.fd = fd;
    std::string peer_text;
    if (access_log) {
        // Only with the log on: one getpeername per connection for the client's address.
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) peer = {};
        peer_text = server::peer_text(peer);
    }
    ++open;
    counters.accepted.fetch_add(1, std::memory_order_relaxed);
    counters.open_connections.fetch_add(1, std::memory_order_relaxed);
    counters.last_accept_ms.store(now, std::memory_order_relaxed);
    event(index, [&](Connection& c, Turn& t) {
        c.start(options.connection, listeners[li].handler, std::move(tls), listeners[li].tls,
                std::move(peer_text), t);
    });
}

void Worker::Impl::release(uint32_t index) {
    Slot& slot = slots[index];
    slot.conn.on_closed();
    slot.fd = -1;
    ++slot.gen;
    free_slots.push_back(index);
    --open;
    counters.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::Impl::sweep() {
    uint32_t released = 0;
    for (uint32_t index = 0; index < slots.size(); ++index) {
        if (!slots[index].conn.in_use()) continue;
        event(index, [&](Connection& c, Turn& t) { released += c.on_timer(t) ? 1 : 0; });
    }
    trim_pending = trim_pending || released > 0;
    // sweep() runs between waits with every buffer back in the ring (they are leased only
    // within on_recv): the one moment release_pages() allows.
    quic.release_idle_buffers(now);  // the datagram buffers likewise
    if (recv_buffers_touched && now - last_recv_ms > io::kIdleBufferRingMs) {
        buffers->release_pages();
        recv_buffers_touched = false;
    }
    if (trim_pending && now - last_trim_ms >= kTrimIntervalMs) {
        trim_heap();
        last_trim_ms = now;
        trim_pending = false;
    }
}

void Worker::Impl::start_stop() {
    stopping = true;
    stop_deadline = now + options.stop_timeout_ms;
    quic.shutdown(true);
    for (size_t i = 0; i < listeners.size(); ++i) {
        if (listeners[i].udp) continue;
        io_uring_sqe* sqe = ring->get_sqe();
        io_uring_prep_cancel64(sqe, pack(Op::kAccept, uint32_t(i), 0), 0);
        io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, 0, 0));
    }
    for (uint32_t index = 0; index < slots.size(); ++index) slots[index].conn.stop();
    sweep();
}

void Worker::Impl::arm_udp(size_t socket) {
    quic.arm(*ring, socket, pack(Op::kUdpRecv, uint32_t(socket), 0));
}

QuicTurn Worker::Impl::quic_turn() const {
    return QuicTurn{.now_ms = now,
                    .wall_ms = wall_ms,
                    .date_line = std::string_view(date_line, date_len),
                    .date_fields = &date_fields,
                    .live = snapshot.get(),
                    .previous = previous.get(),
                    .access_log = access_log.get()};
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
    for (size_t i = 0; i < listeners.size(); ++i) {
        if (!listeners[i].udp) arm_accept(i);
    }
    if (auto st = quic.start(listeners, *ring, kUdpBufferGroup); !st) return st.error();
    for (size_t i = 0; i < quic.sockets(); ++i) arm_udp(i);

    int64_t last_sweep = now;
    for (;;) {
        __kernel_timespec ts{};
        ts.tv_nsec = 200 * 1000 * 1000;
        ts.tv_nsec = quic.wait_ns(ts.tv_nsec);
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
            if (op == Op::kUdpRecv) {
                if (quic.on_receive(slot, *cqe, quic_turn(), counters)) arm_udp(slot);
                continue;
            }
            if (op == Op::kIgnore || slot >= slots.size()) continue;
            Slot& s = slots[slot];
            if (!s.conn.in_use() || s.gen != gen_of(ud)) {
                // A stale completion; a multishot receive may still have taken a buffer.
                if (op == Op::kRecv && (cqe->flags & IORING_CQE_F_BUFFER)) {
                    buffers->recycle(uint16_t(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
                }
                continue;
            }
            const int res = cqe->res;
            switch (op) {
                case Op::kRecv: {
                    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
                    if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
                        const uint16_t bid = uint16_t(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                        last_recv_ms = now;
                        recv_buffers_touched = true;
                        const std::string_view bytes(buffers->buffer(bid), size_t(res));
                        event(slot,
                              [&](Connection& c, Turn& t) { c.on_receive(res, bytes, more, t); });
                        // Provided buffers are leases: the bytes were copied or consumed.
                        buffers->recycle(bid);
                    } else {
                        // (Data without a buffer cannot happen with buffer selection; were it to,
                        // it would be dropped like a receive that found no buffer.)
                        const int r = res > 0 ? -ENOBUFS : res;
                        event(slot, [&](Connection& c, Turn& t) { c.on_receive(r, {}, more, t); });
                    }
                    break;
                }
                case Op::kSend:
                    event(slot, [&](Connection& c, Turn& t) { c.on_sent(res, t); });
                    break;
                case Op::kClose:
                    release(slot);
                    break;
                case Op::kAux:
                    event(slot, [&](Connection& c, Turn& t) { c.on_aux_done(t); });
                    break;
                default:
                    break;
            }
        }
        io_uring_cq_advance(ring->raw(), seen);

        for (uint32_t slot : dirty) {
            event(slot, [](Connection& c, Turn& t) { c.flush(t); });
        }
        dirty.clear();
        quic.on_turn(shared.draining.load(std::memory_order_relaxed), now, counters);
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
        if (stopping && ((open == 0 && quic.connections() == 0) || now > stop_deadline)) break;
    }
    quic.close();  // before their sockets close
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
