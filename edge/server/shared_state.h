// SharedState: what all workers of one cdn-edge process share, written rarely, read once per
// loop turn. The live snapshot is published under a mutex with a version number; workers
// compare the atomic version each turn and take the lock only when it changed.
#pragma once

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
};

class SharedState {
public:
    void publish(std::shared_ptr<const cache::Snapshot> snapshot) {
        std::lock_guard lock(mutex_);
        snapshot_ = std::move(snapshot);
        version_.fetch_add(1, std::memory_order_release);
    }
    std::shared_ptr<const cache::Snapshot> current() const {
        std::lock_guard lock(mutex_);
        return snapshot_;
    }
    uint64_t version() const { return version_.load(std::memory_order_acquire); }

    std::atomic<bool> stopping{false};
    std::atomic<bool> draining{false};

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const cache::Snapshot> snapshot_;
    std::atomic<uint64_t> version_{0};
};

}  // namespace anyedge::server
