// Worker: one thread, one io_uring, its own SO_REUSEPORT listeners, its own connections.
// Every socket operation (accept, receive, send, shutdown, close) goes through the ring:
// multishot accept, multishot receive into a provided-buffer ring, sendmsg of gather lists.
//
// user_data packs {operation, connection slot, slot generation}; a slot is reused only after
// its close completed and no operation is in flight, and a stale generation is ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edge/quic/connection_ids.h"
#include "edge/quic/h3_connection.h"
#include "edge/quic/peer_forwarding.h"
#include "edge/quic/quic_tls.h"
#include "edge/server/connection.h"
#include "edge/server/http_session.h"
#include "edge/server/shared_state.h"
#include "edge/tls/tls_context.h"

namespace anyedge::server {

struct WorkerOptions {
    ConnectionOptions connection;      // limits and timeouts of each connection
    uint32_t max_connections = 10000;  // per worker
    uint32_t stop_timeout_ms = 10000;
    unsigned ring_entries = 4096;
    unsigned recv_buffers = 1024;  // power of two
    unsigned recv_buffer_size = 16384;
    tls::TlsContext* tls = nullptr;  // shared by all workers; required for TLS listeners
    int access_log_fd = -1;          // O_APPEND file shared by all workers; -1: no log
    // HTTP/3 on the UDP listeners: the certificates as GnuTLS loads them, the fleet's
    // connection-ID key and this node's ID, and the per-connection limits.
    const quic::QuicTlsStore* quic_tls = nullptr;
    const quic::ConnectionIds* quic_ids = nullptr;
    quic::H3Limits h3;
    unsigned udp_buffers = 256;  // power of two
    // Other nodes' forward addresses by node ID (with a forward socket among the listeners).
    const quic::PeerAddresses* quic_peers = nullptr;
};

struct ListenerSocket {
    int fd = -1;
    bool tls = false;
    RequestHandler* handler = nullptr;  // null: the site; the admin listener sets its own
    bool udp = false;                   // a UDP socket for HTTP/3 (QUIC), not a TCP listener
    bool forward = false;  // UDP: QUIC packets other nodes forward here (peer_forwarding.h)
};

class Worker {
  public:
    Worker(unsigned index, std::vector<ListenerSocket> listeners, const WorkerOptions& options,
           SharedState& shared);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Runs until SharedState::stopping is set and every connection has finished (or the stop
    // timeout passed). Returns an error message when the ring cannot be set up.
    std::string run();
    const WorkerCounters& counters() const { return counters_; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    WorkerCounters counters_;
};

}  // namespace anyedge::server
