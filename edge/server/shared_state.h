// SharedState: what all workers of one cdn-edge process share, written rarely, read once per
// loop turn. The live snapshot is published under a mutex with a version number; workers
// compare the atomic version each turn and take the lock only when it changed.
#pragma once

#include <time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "edge/cache/snapshot.h"

namespace anyedge::server {

// Per-worker counters, written by the owning worker only (relaxed), read by the admin API.
struct WorkerCounters {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> open_connections{0};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> status_2xx{0}, status_3xx{0}, status_4xx{0}, status_5xx{0};
    std::atomic<uint64_t> body_bytes{0};
    std::atomic<uint64_t> in_flight{0};  // connections with a response being sent
    std::atomic<int64_t> last_accept_ms{0};
    std::atomic<uint64_t> tls_handshakes{0}, tls_resumed{0};
    // Requests by protocol (HTTP/1.x is requests minus these).
    std::atomic<uint64_t> requests_h2{0}, requests_h3{0};
    // HTTP/3: written each loop turn from the worker's QUIC endpoints.
    // HTTP/3 requests open: counted only while draining ("nothing in flight").
    std::atomic<uint64_t> quic_streams_open{0};
    std::atomic<uint64_t> quic_open{0}, quic_opened{0}, quic_datagrams_in{0}, quic_datagrams_out{0};
    std::atomic<uint64_t> quic_dropped_garbage{0}, quic_dropped_other_node{0},
        quic_dropped_unknown{0}, quic_stateless_resets{0}, quic_version_negotiations{0};
    std::atomic<uint64_t> quic_retries{0}, quic_invalid_tokens{0};
    // Forwarding: packets of other nodes' connections sent to them (in all, and per peer in
    // the order of the peer table), packets peers forwarded here, and forwarded packets
    // refused (not from a peer's address, or no listener for them).
    std::atomic<uint64_t> quic_forwarded{0}, quic_from_peers{0}, quic_forward_refused{0};
    std::array<std::atomic<uint64_t>, 16> quic_forwarded_to{};
    std::atomic<uint64_t> h3_too_early{0};        // 425s: a non-idempotent request in 0-RTT
    std::atomic<uint64_t> h3_header_timeouts{0};  // requests whose fields never completed
    std::atomic<uint64_t> quic_resumed{0};        // handshakes resumed from a session ticket
};

struct PublishedSite {
    std::shared_ptr<const cache::Snapshot> live;
    std::shared_ptr<const cache::Snapshot> previous;  // skew protection; may be null
    int64_t previous_until = 0;                       // unix seconds: end of the grace
    int64_t published_at = 0;                         // unix seconds
};

class SharedState {
  public:
    void publish(PublishedSite site) {
        std::lock_guard lock(mutex_);
        site_ = std::move(site);
        version_.fetch_add(1, std::memory_order_release);
    }
    void publish(std::shared_ptr<const cache::Snapshot> snapshot) {
        PublishedSite site;
        site.live = std::move(snapshot);
        site.published_at = time(nullptr);
        publish(std::move(site));
    }
    PublishedSite site() const {
        std::lock_guard lock(mutex_);
        return site_;
    }
    std::shared_ptr<const cache::Snapshot> current() const {
        std::lock_guard lock(mutex_);
        return site_.live;
    }
    uint64_t version() const { return version_.load(std::memory_order_acquire); }

    std::atomic<bool> stopping{false};
    std::atomic<bool> draining{false};

  private:
    mutable std::mutex mutex_;
    PublishedSite site_;
    std::atomic<uint64_t> version_{0};
};

}  // namespace anyedge::server
