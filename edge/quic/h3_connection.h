// H3Connection: one HTTP/3 connection, the only place that calls ngtcp2 and nghttp3 (their
// 1.x APIs renamed much of Debian 12's 0.12/0.8, so the rest of the edge sees none of it).
// Sans-IO: datagrams and timestamps in, datagrams out through a DatagramSink, requests out to
// an H3Handler whose responses are framed here.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edge/quic/connection_ids.h"
#include "edge/quic/quic_tls.h"
#include "edge/quic/quic_types.h"

namespace anyedge::quic {

class H3Connection;

// The endpoint's map from connection IDs to connections, kept current by the connection.
class CidRegistry {
  public:
    virtual ~CidRegistry() = default;
    virtual void add_cid(std::span<const uint8_t> cid, H3Connection& conn) = 0;
    virtual void remove_cid(std::span<const uint8_t> cid) = 0;
};

struct H3Limits {
    uint32_t idle_timeout_ms = 60000;
    uint32_t handshake_timeout_ms = 10000;
    // A request stream must deliver its whole header section within this (slowloris).
    uint32_t header_timeout_ms = 10000;
    uint32_t max_streams_bidi = 100;  // concurrent requests
    uint32_t max_field_section = 16 * 1024;
    uint64_t max_stream_window = 256 * 1024;  // request bodies are not wanted
    uint64_t max_window = 1024 * 1024;
    // New handshakes per second (per worker) past which a client must first prove its address
    // with a Retry round trip (RFC 9000 §8.1.2); 0: always. The default is above what one
    // worker completes (~1,500/s on this machine): Retry answers floods, not busy minutes.
    uint32_t retry_above_per_s = 4000;
};

struct H3Shared {
    const QuicTlsStore* tls = nullptr;        // certificates for new handshakes
    const AntiReplay* anti_replay = nullptr;  // this worker's (0-RTT)
    const ConnectionIds* ids = nullptr;
    H3Handler* handler = nullptr;
    CidRegistry* registry = nullptr;
    H3Limits limits;
    uint8_t worker = 0;
};

// What a client's first Initial leads to: a connection, a Retry to send (address validation
// first), or nothing (`error` says why: not an Initial, a forged or expired token).
struct Accepted;

class H3Connection {
  public:
    // validate_address: answer an Initial without a valid token with a Retry (RFC 9000 §8.1.2).
    // wall_now: Unix time in ns; tokens carry it, so that every node of the fleet can check
    // them.
    static Accepted accept(const H3Shared& shared, const PathAddr& path,
                           std::span<const uint8_t> packet, Timestamp now, Timestamp wall_now,
                           bool validate_address);
    ~H3Connection();
    H3Connection(const H3Connection&) = delete;
    H3Connection& operator=(const H3Connection&) = delete;

    // One datagram for this connection.
    void on_packet(const PathAddr& path, std::span<const uint8_t> packet, Timestamp now);
    // Sends what is due (handshake, responses, acknowledgements, a close).
    void write(Timestamp now, DatagramSink& out);
    // The next time on_timer must run.
    Timestamp expiry() const;
    void on_timer(Timestamp now);
    // Drain: GOAWAY (no new requests), open streams finish, then the connection closes.
    void shutdown(Timestamp now);
    // Nothing more to do: the endpoint deletes it.
    bool finished() const { return state_ == State::kDone; }
    bool handshake_done() const;
    // Requests open (received, not yet fully answered).
    size_t open_streams() const;
    // Requests refused for an incomplete header section since the last call.
    uint64_t take_header_timeouts();
    // 1 when the handshake, now complete, resumed from a session ticket; once.
    uint64_t take_resumed();
    const PathAddr& path() const { return path_; }
    const std::string& last_error() const { return last_error_; }

    struct Impl;

  private:
    H3Connection() = default;
    enum class State { kOpen, kGoingAway, kClosing, kDraining, kDone };
    void close_with_error(int liberr, Timestamp now);

    std::unique_ptr<Impl> impl_;
    State state_ = State::kOpen;
    PathAddr path_;
    Timestamp close_deadline_ = kNever;
    std::string last_error_;
    friend struct Impl;
};

struct Accepted {
    std::unique_ptr<H3Connection> conn;
    std::vector<uint8_t> retry;  // a Retry packet to send instead
    bool validated = false;      // the client proved its address with a token
    bool invalid_token = false;  // a Retry token that is forged, expired or not this client's
    std::string error;
};

}  // namespace anyedge::quic
