// SynHold: for a bounded time, the kernel silently drops new connection attempts (TCP SYN
// without ACK) on the public listeners, while established connections and handshakes already
// under way go on. The drain uses it around its route change (DESIGN.md "Drain, failure, and
// the route"): a SYN dropped on the draining node is retransmitted by the client after its
// initial RTO (1 s, RFC 6298 section 2.1), by which time the route has moved to another node,
// so a connection is never opened on a node the route is just leaving.
//
// How: a classic BPF socket filter (SO_ATTACH_FILTER, socket(7)) on every listening socket. The
// kernel runs a TCP listener's filter in tcp_v4_rcv/tcp_v6_rcv (tcp_filter) on SYNs and on the
// handshake-completing ACKs of TCP_NEW_SYN_RECV requests, with offset 0 at the TCP header (IPv4
// and IPv6 alike: measured, tests/integration/edge_syn_hold_test.cc); a dropped packet gets no
// RST, it is counted in the listener's drop counter (SO_MEMINFO). Connections accepted while the
// filter is on inherit it (the kernel clones it into the child socket); it only ever drops a
// bare SYN, which an established connection never needs.
//
// Owns duplicates of the listening fds (the workers close theirs when they stop). Thread-safe:
// hold() and release() run on the admin worker, the automatic release on a timer thread of its
// own, so a hold ends on time even if nobody calls the admin API again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::server {

// Attaches or detaches the drop-bare-SYNs filter on one listening socket; on a UDP (HTTP/3)
// socket, the filter that drops QUIC Initials, QUIC's new connection attempts.
Status attach_syn_drop_filter(int fd);
Status detach_syn_drop_filter(int fd);

class SynHold {
  public:
    struct Stats {
        bool held = false;
        int64_t left_ms = 0;        // until the automatic release; 0 when not held
        uint64_t holds = 0;         // times the hold went on
        uint64_t syns_dropped = 0;  // listener drops during holds (SO_MEMINFO), current one too
        size_t listeners = 0;
    };

    // Duplicates `listener_fds` (the caller keeps its own); starts the timer thread.
    explicit SynHold(const std::vector<int>& listener_fds);
    ~SynHold();  // releases a hold still on, stops the timer thread, closes the duplicates
    SynHold(const SynHold&) = delete;
    SynHold& operator=(const SynHold&) = delete;

    // Drops bare SYNs on every listener until `duration` from now (a new call replaces the
    // end time). On an error nothing stays attached.
    Status hold(std::chrono::milliseconds duration);
    // Ends the hold now; a no-op when not held.
    void release();
    Stats stats() const;

  private:
    using Clock = std::chrono::steady_clock;
    void release_locked();
    uint64_t drops_now() const;
    void timer_loop();

    std::vector<int> fds_;
    std::string dup_error_;  // set when a listener could not be duplicated: hold() fails

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool held_ = false;
    Clock::time_point until_{};
    uint64_t holds_ = 0;
    uint64_t dropped_ = 0;         // finished holds
    uint64_t drops_at_start_ = 0;  // listener drop counters when the current hold began
    std::thread timer_;
};

}  // namespace anyedge::server
