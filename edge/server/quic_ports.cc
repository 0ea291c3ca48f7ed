#include "edge/server/quic_ports.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "edge/quic/endpoint.h"
#include "edge/quic/udp_socket.h"
#include "edge/server/h3_responder.h"

namespace anyedge::server {
namespace {

// Datagrams: a recvmsg header, the peer's address, the destination-address control message and
// a QUIC packet (at most ~1500 bytes on real paths; larger ones are truncated and dropped).
constexpr unsigned kBufferSize = 4096;

quic::Timestamp now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);  // precise: QUIC measures round trips with it
    return quic::Timestamp(ts.tv_sec) * 1000000000 + quic::Timestamp(ts.tv_nsec);
}

// Whether a listener bound to `bound` is the one a packet sent to `local` reached.
bool serves(const sockaddr_storage& bound, const sockaddr_storage& local) {
    if (bound.ss_family != local.ss_family) return false;
    if (bound.ss_family == AF_INET) {
        const auto* b = reinterpret_cast<const sockaddr_in*>(&bound);
        const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
        return b->sin_port == l->sin_port &&
               (b->sin_addr.s_addr == INADDR_ANY || b->sin_addr.s_addr == l->sin_addr.s_addr);
    }
    const auto* b = reinterpret_cast<const sockaddr_in6*>(&bound);
    const auto* l = reinterpret_cast<const sockaddr_in6*>(&local);
    return b->sin6_port == l->sin6_port && (IN6_IS_ADDR_UNSPECIFIED(&b->sin6_addr) ||
                                            std::memcmp(&b->sin6_addr, &l->sin6_addr, 16) == 0);
}

}  // namespace

// One UDP socket's HTTP/3: the socket, what receives on it, what answers, what sends.
struct QuicPorts::Listener {
    int fd = -1;
    quic::Address bound;
    msghdr recv_template{};  // tells multishot recvmsg how much room name and control take
    std::unique_ptr<quic::UdpSender> sender;
    std::unique_ptr<H3Responder> responder;
    std::unique_ptr<quic::Endpoint> endpoint;
};

QuicPorts::QuicPorts(unsigned worker_index, const WorkerOptions& options)
    : worker_index_(worker_index), options_(options) {}

QuicPorts::~QuicPorts() = default;

Status QuicPorts::start(const std::vector<ListenerSocket>& listeners, io::Ring& ring,
                        uint16_t buffer_group) {
    for (const ListenerSocket& l : listeners) {
        if (!l.udp) continue;
        if (l.forward) {
            if (options_.quic_peers == nullptr) {
                return make_error("QUIC forward socket without peers");
            }
            forward_.fd = l.fd;
            forward_.recv_template.msg_namelen = sizeof(sockaddr_storage);
            forward_.forwarder =
                std::make_unique<quic::SocketPeerForwarder>(l.fd, *options_.quic_peers);
            continue;
        }
        if (options_.quic_tls == nullptr || options_.quic_ids == nullptr) {
            return make_error("HTTP/3 listener without QUIC TLS or connection IDs");
        }
        Listener q;
        q.fd = l.fd;
        q.bound.len = sizeof q.bound.addr;
        getsockname(l.fd, reinterpret_cast<sockaddr*>(&q.bound.addr), &q.bound.len);
        q.recv_template.msg_namelen = sizeof(sockaddr_storage);
        q.recv_template.msg_controllen = 64;
        q.sender = std::make_unique<quic::UdpSender>(l.fd, q.bound);
        q.responder = std::make_unique<H3Responder>(options_.connection.session.parser, l.handler);
        quic::H3Shared shared;
        shared.tls = options_.quic_tls;
        shared.ids = options_.quic_ids;
        shared.handler = q.responder.get();
        shared.limits = options_.h3;
        shared.worker = uint8_t(worker_index_);
        q.endpoint = std::make_unique<quic::Endpoint>(shared, *q.sender, options_.max_connections);
        listeners_.push_back(std::move(q));
    }
    if (listeners_.empty()) {
        forward_ = ForwardSocket{};  // nothing to forward for without a listener
        return ok_status();
    }
    auto b = io::BufferRing::create(ring, buffer_group, options_.udp_buffers, kBufferSize);
    if (!b) return make_error(b.error());
    buffers_ = std::move(*b);
    if (forward_.fd >= 0) {
        for (Listener& q : listeners_) q.endpoint->set_peer_forwarder(forward_.forwarder.get());
    }
    return ok_status();
}

size_t QuicPorts::sockets() const { return listeners_.size() + (forward_.fd >= 0 ? 1 : 0); }

void QuicPorts::arm(io::Ring& ring, size_t socket, uint64_t user_data) {
    io_uring_sqe* sqe = ring.get_sqe();
    if (socket == listeners_.size()) {
        io_uring_prep_recvmsg_multishot(sqe, forward_.fd, &forward_.recv_template, 0);
    } else {
        io_uring_prep_recvmsg_multishot(sqe, listeners_[socket].fd,
                                        &listeners_[socket].recv_template, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers_->group_id();
    io_uring_sqe_set_data64(sqe, user_data);
}

void QuicPorts::set_turn(Listener& l, const QuicTurn& turn, WorkerCounters& counters) {
    ResponseContext ctx;
    ctx.date_line = turn.date_line;
    ctx.date_fields = turn.date_fields;
    ctx.extra_headers = options_.connection.tls_extra_headers.text;
    ctx.extra_fields = &options_.connection.tls_extra_headers.fields;
    ctx.acme_thumbprint = options_.connection.acme_thumbprint;
    ctx.fallback = turn.previous;
    ctx.wall_ms = turn.wall_ms;
    l.responder->set_turn(turn.live, ctx, turn.access_log, &counters);
}

// A packet another node forwarded: to the listener the client sent it to, as if it had come
// from the client. Only from a configured peer's forward address.
void QuicPorts::on_forwarded(std::span<const uint8_t> data, const sockaddr_storage& from,
                             const QuicTurn& turn, WorkerCounters& counters) {
    bool known = false;
    for (const auto& [node, addr] : *options_.quic_peers) {
        if (addr.len > 0 && std::memcmp(&addr.addr, &from, addr.len) == 0) known = true;
    }
    auto f = quic::decode_forwarded(data);
    if (!known || !f) {
        counters.quic_forward_refused.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    for (Listener& q : listeners_) {
        if (!serves(q.bound.addr, f->path.local.addr)) continue;
        set_turn(q, turn, counters);
        q.endpoint->on_datagram(f->path, f->datagram, now_ns(),
                                quic::Timestamp(turn.wall_ms) * 1000000, /*from_peer=*/true);
        return;
    }
    counters.quic_forward_refused.fetch_add(1, std::memory_order_relaxed);
}

bool QuicPorts::on_receive(size_t socket, const io_uring_cqe& cqe, const QuicTurn& turn,
                           WorkerCounters& counters) {
    const bool forward = socket == listeners_.size() && forward_.fd >= 0;
    if (!forward && socket >= listeners_.size()) return false;
    const bool ended = !(cqe.flags & IORING_CQE_F_MORE);
    if (cqe.res < 0 || !(cqe.flags & IORING_CQE_F_BUFFER)) return ended;
    const uint16_t bid = uint16_t(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    last_receive_ms_ = turn.now_ms;
    buffers_touched_ = true;
    msghdr& tmpl = forward ? forward_.recv_template : listeners_[socket].recv_template;
    auto* out = io_uring_recvmsg_validate(const_cast<char*>(buffers_->buffer(bid)), cqe.res, &tmpl);
    if (out != nullptr && !(out->flags & MSG_TRUNC) && out->namelen <= sizeof(sockaddr_storage)) {
        quic::Address from;
        from.len = out->namelen;
        std::memcpy(&from.addr, io_uring_recvmsg_name(out), out->namelen);
        auto* payload = static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &tmpl));
        const std::span<const uint8_t> data(payload,
                                            io_uring_recvmsg_payload_length(out, cqe.res, &tmpl));
        if (forward) {
            on_forwarded(data, from.addr, turn, counters);
        } else {
            Listener& q = listeners_[socket];
            quic::PathAddr path;
            path.remote = from;
            msghdr control{};
            control.msg_control = static_cast<char*>(io_uring_recvmsg_name(out)) + tmpl.msg_namelen;
            control.msg_controllen = out->controllen;
            path.local = quic::local_address(control, q.bound);
            set_turn(q, turn, counters);
            q.endpoint->on_datagram(path, data, now_ns(), quic::Timestamp(turn.wall_ms) * 1000000);
        }
    }
    buffers_->recycle(bid);
    return ended;
}

void QuicPorts::on_turn(bool draining, int64_t now_ms, WorkerCounters& counters) {
    if (listeners_.empty()) return;
    const quic::Timestamp t = now_ns();
    quic::EndpointCounters sum;
    uint64_t open_now = 0, out = 0, streams_open = 0;
    // Open requests, for the drain's "nothing in flight": a walk of every connection, so at
    // most every 50 ms and only while draining.
    const bool count_streams = draining && now_ms - last_stream_count_ms_ >= 50;
    if (count_streams) last_stream_count_ms_ = now_ms;
    for (Listener& q : listeners_) {
        // A drain: GOAWAY to every open connection (open streams finish); new ones still come
        // in while the route is being withdrawn.
        if (draining && !draining_) q.endpoint->shutdown(t, false);
        q.endpoint->on_timers(t);
        sum += q.endpoint->counters();
        open_now += q.endpoint->connections();
        if (count_streams) streams_open += q.endpoint->open_streams();
        out += q.sender->datagrams_out();
    }
    draining_ = draining;
    constexpr auto kRelaxed = std::memory_order_relaxed;
    counters.quic_open.store(open_now, kRelaxed);
    if (count_streams || !draining) counters.quic_streams_open.store(streams_open, kRelaxed);
    counters.quic_opened.store(sum.connections_opened, kRelaxed);
    counters.quic_datagrams_in.store(sum.datagrams_in, kRelaxed);
    counters.quic_datagrams_out.store(out, kRelaxed);
    counters.quic_dropped_garbage.store(sum.dropped_garbage, kRelaxed);
    counters.quic_dropped_other_node.store(sum.dropped_other_node, kRelaxed);
    counters.quic_forwarded.store(sum.forwarded_other_node, kRelaxed);
    counters.quic_from_peers.store(sum.from_peers, kRelaxed);
    // Per-peer counts change only while packets are forwarded: copied out only then.
    if (forward_.forwarder && sum.forwarded_other_node != forward_.published) {
        forward_.published = sum.forwarded_other_node;
        size_t k = 0;
        for (const auto& [node, addr] : *options_.quic_peers) {
            if (k == counters.quic_forwarded_to.size()) break;
            auto it = forward_.forwarder->sent().find(node);
            counters.quic_forwarded_to[k++].store(
                it == forward_.forwarder->sent().end() ? 0 : it->second, kRelaxed);
        }
    }
    counters.quic_dropped_unknown.store(sum.dropped_unknown, kRelaxed);
    counters.quic_stateless_resets.store(sum.stateless_resets, kRelaxed);
    counters.quic_version_negotiations.store(sum.version_negotiations, kRelaxed);
    counters.quic_retries.store(sum.retries, kRelaxed);
    counters.quic_invalid_tokens.store(sum.invalid_tokens, kRelaxed);
    counters.h3_header_timeouts.store(sum.header_timeouts, kRelaxed);
    counters.quic_resumed.store(sum.resumed, kRelaxed);
}

long QuicPorts::wait_ns(long cap_ns) const {
    // QUIC's timers (loss detection, acknowledgement delay) want milliseconds.
    quic::Timestamp next = quic::kNever;
    for (const Listener& q : listeners_) next = std::min(next, q.endpoint->next_expiry());
    if (next == quic::kNever) return cap_ns;
    const quic::Timestamp t = now_ns();
    const quic::Timestamp wait = next > t ? next - t : 0;
    return long(std::clamp<quic::Timestamp>(wait, 100000, quic::Timestamp(cap_ns)));
}

size_t QuicPorts::connections() const {
    size_t n = 0;
    for (const Listener& q : listeners_) n += q.endpoint->connections();
    return n;
}

void QuicPorts::shutdown(bool immediately) {
    const quic::Timestamp t = now_ns();
    for (Listener& q : listeners_) q.endpoint->shutdown(t, immediately);
}

void QuicPorts::release_idle_buffers(int64_t now_ms) {
    // Only between waits, with every buffer back in the ring (they are leased only within
    // on_receive).
    if (buffers_touched_ && now_ms - last_receive_ms_ > io::kIdleBufferRingMs) {
        buffers_->release_pages();
        buffers_touched_ = false;
    }
}

void QuicPorts::close() { listeners_.clear(); }

}  // namespace anyedge::server
