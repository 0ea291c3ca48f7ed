// Endpoint: the QUIC connections behind one UDP socket of one worker. It routes each datagram
// by its destination connection ID, opens connections from Initials, answers unknown versions
// with Version Negotiation, runs the connections' timers and sends what they write.
//
// A short-header packet for an ID it does not know is dropped and counted. It gets a stateless
// reset only when the ID names this node and this worker: an ID of another node (the route
// moved) or another worker may belong to a connection alive there (RFC 9000 §10.3). With a
// PeerForwarder, a packet for another node's ID goes to that node (peer_forwarding.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "edge/quic/h3_connection.h"
#include "edge/quic/peer_forwarding.h"

namespace anyedge::quic {

struct EndpointCounters {
    uint64_t datagrams_in = 0;
    uint64_t connections_opened = 0;
    uint64_t dropped_garbage = 0;       // not a QUIC packet we can parse, or refused Initial
    uint64_t dropped_other_node = 0;    // a connection ID of another node, not forwarded
    uint64_t forwarded_other_node = 0;  // a connection ID of another node, sent to it
    uint64_t from_peers = 0;            // datagrams another node forwarded here
    uint64_t dropped_unknown = 0;       // ours, but no such connection (another worker, or gone)
    uint64_t stateless_resets = 0;
    uint64_t version_negotiations = 0;
    uint64_t retries = 0;          // Retry sent: handshakes arrived faster than the limit
    uint64_t invalid_tokens = 0;   // an Initial with a forged or expired Retry token
    uint64_t header_timeouts = 0;  // requests refused: header section incomplete in time
    uint64_t resumed = 0;          // handshakes resumed from a session ticket

    // A worker sums its listeners' counters before publishing them.
    EndpointCounters& operator+=(const EndpointCounters& o) {
        datagrams_in += o.datagrams_in;
        connections_opened += o.connections_opened;
        dropped_garbage += o.dropped_garbage;
        dropped_other_node += o.dropped_other_node;
        forwarded_other_node += o.forwarded_other_node;
        from_peers += o.from_peers;
        dropped_unknown += o.dropped_unknown;
        stateless_resets += o.stateless_resets;
        version_negotiations += o.version_negotiations;
        retries += o.retries;
        invalid_tokens += o.invalid_tokens;
        header_timeouts += o.header_timeouts;
        resumed += o.resumed;
        return *this;
    }
};

class Endpoint final : public CidRegistry {
  public:
    // shared.registry is set to this endpoint.
    Endpoint(H3Shared shared, DatagramSink& out, uint32_t max_connections);
    ~Endpoint() override;

    // now: monotonic; wall_now: Unix time, for address-validation tokens that every node reads.
    // from_peer: another node forwarded it here; it is never forwarded again.
    void on_datagram(const PathAddr& path, std::span<const uint8_t> data, Timestamp now,
                     Timestamp wall_now, bool from_peer = false);
    // Where packets of other nodes' connections go; none: they are dropped.
    void set_peer_forwarder(PeerForwarder* forwarder) { forwarder_ = forwarder; }
    // Runs the timers that are due and sends what every touched connection has to send.
    void on_timers(Timestamp now);
    Timestamp next_expiry() const;
    // GOAWAY on every connection; new Initials are refused from now on when `refuse_new`.
    void shutdown(Timestamp now, bool refuse_new);
    size_t connections() const { return conns_.size(); }
    // Requests open on all connections (walks them: for the drain, not every turn).
    size_t open_streams() const;
    const EndpointCounters& counters() const { return counters_; }

    void add_cid(std::span<const uint8_t> cid, H3Connection& conn) override;
    void remove_cid(std::span<const uint8_t> cid) override;

  private:
    void settle(H3Connection& conn, Timestamp now);  // write, reschedule or delete
    void forward(uint16_t node, const PathAddr& path, std::span<const uint8_t> data);
    void send_stateless_reset(const PathAddr& path, std::span<const uint8_t> cid, size_t got);
    void send_version_negotiation(const PathAddr& path, std::span<const uint8_t> dcid,
                                  std::span<const uint8_t> scid);

    AntiReplay anti_replay_;
    H3Shared shared_;
    DatagramSink& out_;
    uint32_t max_connections_;
    bool refuse_new_ = false;
    PeerForwarder* forwarder_ = nullptr;
    // A token bucket of handshakes admitted without address validation.
    double handshake_tokens_ = 0;
    Timestamp bucket_at_ = 0;
    bool over_handshake_rate(Timestamp now);
    // Looked up by a view of the packet's bytes (no key copied per datagram).
    struct CidHash {
        using is_transparent = void;
        size_t operator()(std::string_view cid) const { return std::hash<std::string_view>{}(cid); }
    };
    std::unordered_map<std::string, H3Connection*, CidHash, std::equal_to<>> by_cid_;
    std::unordered_map<H3Connection*, std::unique_ptr<H3Connection>> conns_;
    std::multimap<Timestamp, H3Connection*> timers_;
    std::unordered_map<H3Connection*, std::multimap<Timestamp, H3Connection*>::iterator> timer_of_;
    EndpointCounters counters_;
};

}  // namespace anyedge::quic
