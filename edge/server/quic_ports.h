// QuicPorts: a worker's UDP side. Each HTTP/3 listener (its socket, sender, responder and QUIC
// endpoint), the socket that peers forward stray packets through, the datagram buffers their
// multishot receives fill, and the endpoints' timers, drain and counters. The worker's ring and
// the state of its loop turn come with each call: nothing here points back into the worker.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <liburing.h>

#include "edge/io/ring.h"
#include "edge/quic/quic_types.h"
#include "edge/server/worker.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

class AccessLog;

// What a datagram's responses need from the worker's loop turn.
struct QuicTurn {
    int64_t now_ms = 0;   // monotonic, coarse
    int64_t wall_ms = 0;  // unix milliseconds
    std::string_view date_line;
    const http::HeadFields* date_fields = nullptr;
    const cache::Snapshot* live = nullptr;
    const cache::Snapshot* previous = nullptr;  // the skew grace's fallback, or null
    AccessLog* access_log = nullptr;
};

class QuicPorts {
  public:
    QuicPorts(unsigned worker_index, const WorkerOptions& options);
    ~QuicPorts();
    QuicPorts(const QuicPorts&) = delete;
    QuicPorts& operator=(const QuicPorts&) = delete;

    // Takes the UDP sockets among `listeners`, makes their endpoints and a buffer ring of
    // `buffer_group` on `ring`. Arm each socket with arm() afterwards.
    Status start(const std::vector<ListenerSocket>& listeners, io::Ring& ring,
                 uint16_t buffer_group);
    // The sockets to receive on: the listeners, then the forward socket if there is one.
    size_t sockets() const;
    void arm(io::Ring& ring, size_t socket, uint64_t user_data);

    // One receive completion of `socket`. Returns whether its multishot receive ended and must
    // be armed again (e.g. it ran out of buffers).
    bool on_receive(size_t socket, const io_uring_cqe& cqe, const QuicTurn& turn,
                    WorkerCounters& counters);
    // Timers, a drain's GOAWAY, and the counters the worker publishes.
    void on_turn(bool draining, int64_t now_ms, WorkerCounters& counters);

    // How long the ring may wait before the next QUIC timer is due, at most `cap_ns`.
    long wait_ns(long cap_ns) const;
    size_t connections() const;
    // Stopping: every connection closes (`immediately`) or is told GOAWAY.
    void shutdown(bool immediately);
    // Gives the datagram buffers' pages back after a quiet second; only between two waits.
    void release_idle_buffers(int64_t now_ms);
    // The endpoints go before the sockets they send on are closed.
    void close();

  private:
    struct Listener;
    struct ForwardSocket {
        int fd = -1;
        msghdr recv_template{};
        std::unique_ptr<quic::SocketPeerForwarder> forwarder;
        uint64_t published = 0;  // forwarded packets when the per-peer counters were last copied
    };

    void set_turn(Listener& l, const QuicTurn& turn, WorkerCounters& counters);
    void on_forwarded(std::span<const uint8_t> data, const sockaddr_storage& from,
                      const QuicTurn& turn, WorkerCounters& counters);

    unsigned worker_index_;
    WorkerOptions options_;
    std::vector<Listener> listeners_;
    ForwardSocket forward_;
    std::unique_ptr<io::BufferRing> buffers_;
    bool draining_ = false;  // the endpoints were told to GOAWAY for this drain
    int64_t last_receive_ms_ = 0;
    bool buffers_touched_ = false;  // since their pages were last given back
    int64_t last_stream_count_ms_ = 0;
};

}  // namespace anyedge::server
