#include "edge/quic/endpoint.h"

#include <algorithm>
#include <vector>

#include <ngtcp2/ngtcp2.h>
#include <sodium.h>

namespace anyedge::quic {
namespace {

std::string_view key_of(std::span<const uint8_t> cid) {
    return {reinterpret_cast<const char*>(cid.data()), cid.size()};
}

}  // namespace

Endpoint::Endpoint(H3Shared shared, DatagramSink& out, uint32_t max_connections)
    : shared_(std::move(shared)), out_(out), max_connections_(max_connections) {
    shared_.registry = this;
    shared_.anti_replay = &anti_replay_;
}

Endpoint::~Endpoint() {
    timers_.clear();
    timer_of_.clear();
    // Connections unregister their IDs as they go; clear the map first so that they find it.
    auto conns = std::move(conns_);
    conns.clear();
}

void Endpoint::add_cid(std::span<const uint8_t> cid, H3Connection& conn) {
    by_cid_[std::string(key_of(cid))] = &conn;
}

void Endpoint::remove_cid(std::span<const uint8_t> cid) {
    if (auto it = by_cid_.find(key_of(cid)); it != by_cid_.end()) by_cid_.erase(it);
}

bool Endpoint::over_handshake_rate(Timestamp now) {
    const double rate = shared_.limits.retry_above_per_s;
    if (rate <= 0) return true;
    if (bucket_at_ == 0) handshake_tokens_ = rate;  // a full second's worth to start
    if (now > bucket_at_) {
        handshake_tokens_ =
            std::min(rate, handshake_tokens_ + double(now - bucket_at_) * rate / 1e9);
        bucket_at_ = now;
    }
    if (handshake_tokens_ < 1) return true;
    handshake_tokens_ -= 1;
    return false;
}

void Endpoint::on_datagram(const PathAddr& path, std::span<const uint8_t> data, Timestamp now,
                           Timestamp wall_now, bool from_peer) {
    ++counters_.datagrams_in;
    if (from_peer) ++counters_.from_peers;
    // An empty datagram is legal UDP, and ngtcp2 0.12 asserts on it (as Debian builds it: a
    // remote crash otherwise; found by the quic_datagrams fuzzer).
    if (data.empty()) {
        ++counters_.dropped_garbage;
        return;
    }
    ngtcp2_version_cid vc{};
    const int rv = ngtcp2_pkt_decode_version_cid(&vc, data.data(), data.size(), kCidLength);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        send_version_negotiation(path, {vc.dcid, vc.dcidlen}, {vc.scid, vc.scidlen});
        return;
    }
    if (rv != 0) {
        ++counters_.dropped_garbage;
        return;
    }
    const std::span<const uint8_t> dcid(vc.dcid, vc.dcidlen);
    if (auto it = by_cid_.find(key_of(dcid)); it != by_cid_.end()) {
        H3Connection& conn = *it->second;
        conn.on_packet(path, data, now);
        settle(conn, now);
        return;
    }
    const auto owner = shared_.ids->owner(dcid);
    const bool elsewhere = owner && owner->node != shared_.ids->node();
    if (data[0] & 0x80) {  // a long header: a new connection's Initial, or a handshake's
        // A handshake that another node began before the route moved here: the client's later
        // Initial and Handshake packets carry the ID that node chose. A client's first Initial
        // carries an ID of its own, which names a peer only by a rare chance; the peer then
        // opens that connection itself (below), as it does for the Initial after its Retry.
        if (elsewhere && !from_peer && forwarder_ && forwarder_->knows(owner->node)) {
            forward(owner->node, path, data);
            return;
        }
        if (from_peer && (!owner || elsewhere)) {  // a peer forwards only what names this node
            ++counters_.dropped_other_node;
            return;
        }
        if (refuse_new_ || conns_.size() >= max_connections_) {
            ++counters_.dropped_garbage;
            return;
        }
        Accepted a =
            H3Connection::accept(shared_, path, data, now, wall_now, over_handshake_rate(now));
        if (!a.retry.empty()) {
            ++counters_.retries;
            out_.send(path, a.retry, a.retry.size());
            return;
        }
        if (!a.conn) {
            ++(a.invalid_token ? counters_.invalid_tokens : counters_.dropped_garbage);
            return;
        }
        ++counters_.connections_opened;
        H3Connection* raw = a.conn.get();
        conns_.emplace(raw, std::move(a.conn));
        settle(*raw, now);
        return;
    }
    if (!owner || (elsewhere && (from_peer || !forwarder_))) {
        ++counters_.dropped_other_node;
        return;
    }
    if (elsewhere) {
        forward(owner->node, path, data);
        return;
    }
    if (owner->worker != shared_.worker) {
        ++counters_.dropped_unknown;
        return;
    }
    send_stateless_reset(path, dcid, data.size());
}

void Endpoint::forward(uint16_t node, const PathAddr& path, std::span<const uint8_t> data) {
    if (forwarder_->forward(node, path, data)) {
        ++counters_.forwarded_other_node;
    } else {
        ++counters_.dropped_other_node;
    }
}

void Endpoint::send_stateless_reset(const PathAddr& path, std::span<const uint8_t> cid,
                                    size_t got) {
    // Smaller than what arrived, so that two endpoints cannot reset each other in a loop
    // (RFC 9000 §10.3.3); too small to hide among short packets is not sent at all.
    constexpr size_t kMinReset = 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN + kResetTokenLength;
    if (got <= kMinReset + 1) {
        ++counters_.dropped_unknown;
        return;
    }
    const size_t len = std::min<size_t>(got - 1, 43);
    uint8_t token[kResetTokenLength];
    shared_.ids->reset_token(cid, std::span<uint8_t, kResetTokenLength>(token, kResetTokenLength));
    uint8_t rand[64];
    randombytes_buf(rand, sizeof rand);
    uint8_t buf[64];
    const ngtcp2_ssize n =
        ngtcp2_pkt_write_stateless_reset(buf, len, token, rand, len - 1 - kResetTokenLength);
    if (n <= 0) return;
    ++counters_.stateless_resets;
    out_.send(path, std::span<const uint8_t>(buf, size_t(n)), size_t(n));
}

void Endpoint::send_version_negotiation(const PathAddr& path, std::span<const uint8_t> dcid,
                                        std::span<const uint8_t> scid) {
    ++counters_.version_negotiations;
    static constexpr uint32_t kVersions[] = {NGTCP2_PROTO_VER_V1};
    uint8_t unused = 0;
    randombytes_buf(&unused, 1);
    uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    // The reply swaps the IDs: its destination is the client's source ID.
    const ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
        buf, sizeof buf, unused, scid.data(), scid.size(), dcid.data(), dcid.size(), kVersions,
        std::size(kVersions));
    if (n > 0) out_.send(path, std::span<const uint8_t>(buf, size_t(n)), size_t(n));
}

void Endpoint::settle(H3Connection& conn, Timestamp now) {
    conn.write(now, out_);
    counters_.header_timeouts += conn.take_header_timeouts();
    counters_.resumed += conn.take_resumed();
    const auto t = timer_of_.find(&conn);
    const Timestamp at = conn.finished() ? kNever : conn.expiry();
    if (at == kNever) {
        if (t != timer_of_.end()) {
            timers_.erase(t->second);
            timer_of_.erase(t);
        }
        if (conn.finished()) conns_.erase(&conn);  // its destructor removes its IDs from by_cid_
        return;
    }
    if (t == timer_of_.end()) {
        timer_of_.emplace(&conn, timers_.emplace(at, &conn));
    } else if (t->second->first != at) {
        // Every packet moves the timer: the node moves with it, no allocation.
        auto node = timers_.extract(t->second);
        node.key() = at;
        t->second = timers_.insert(std::move(node));
    }
}

void Endpoint::on_timers(Timestamp now) {
    // Bounded: each connection is handled at most once per call (rescheduled ones land later,
    // or are due again next turn).
    std::vector<H3Connection*> due;
    for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it) {
        due.push_back(it->second);
    }
    for (H3Connection* c : due) {
        if (!conns_.contains(c)) continue;
        c->on_timer(now);
        settle(*c, now);
    }
}

Timestamp Endpoint::next_expiry() const {
    return timers_.empty() ? kNever : timers_.begin()->first;
}

size_t Endpoint::open_streams() const {
    size_t n = 0;
    for (const auto& [raw, owned] : conns_) n += raw->open_streams();
    return n;
}

void Endpoint::shutdown(Timestamp now, bool refuse_new) {
    refuse_new_ = refuse_new_ || refuse_new;
    std::vector<H3Connection*> all;
    all.reserve(conns_.size());
    for (auto& [raw, owned] : conns_) all.push_back(raw);
    for (H3Connection* c : all) {
        c->shutdown(now);
        settle(*c, now);
    }
}

}  // namespace anyedge::quic
