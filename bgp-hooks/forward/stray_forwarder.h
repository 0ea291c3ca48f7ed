// Loads and owns the stray-packet forwarder (stray_forward.bpf.c): the tc program that sends
// segments of connections this node does not own through the tunnels to its peers, and drops
// forwarded segments it does not own either. DESIGN.md "Continuity across route changes".
//
// Needs CAP_BPF and CAP_NET_ADMIN. Where the kernel or the privileges are missing, load() fails
// with one clear message and the node serves as before. The filters are removed when the
// forwarder is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bgp-hooks/config/node_config.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

struct ForwardPeerStatus {
    std::string name;
    std::string interface;
    bool up = false;                  // the tunnel interface exists, is up and has its filter
    uint64_t packets = 0, bytes = 0;  // sent to it
    uint64_t received_delivered = 0;  // it forwarded here, and a connection here owned them
    uint64_t received_dropped = 0;    // it forwarded here, and none did (not ours)
};

struct ForwardStatus {
    enum class State { off, active, degraded, failed };
    State state = State::off;
    std::string detail;  // why off, degraded or failed
    std::vector<ForwardPeerStatus> peers;
    uint64_t strays = 0;          // segments sent to the peers (once each, not per copy)
    uint64_t strays_no_peer = 0;  // strays left to the kernel: no peer tunnel was up
    uint64_t tunnel_local = 0;    // forwarded to this node and delivered here
    uint64_t tunnel_dropped = 0;  // forwarded to this node and not ours: dropped
    uint64_t forward_errors = 0;  // copies the kernel would not send
    // With measure_cost: runs of the uplink filter and the time they took in all.
    uint64_t filter_runs = 0, filter_run_ns = 0;
};
const char* to_string(ForwardStatus::State s);

class StrayForwarder {
  public:
    // Loads the program and attaches it; `anycast` holds the node's prefixes ("203.0.113.0/24").
    static Result<std::unique_ptr<StrayForwarder>> load(const ForwardSettings& settings,
                                                        const std::vector<std::string>& anycast);
    ~StrayForwarder();
    StrayForwarder(const StrayForwarder&) = delete;
    StrayForwarder& operator=(const StrayForwarder&) = delete;

    // Re-attaches where an interface came back (a restarted tunnel has a new ifindex), points
    // the peer table at the tunnels that are up, and reads the counters.
    ForwardStatus refresh();

  private:
    struct Impl;
    explicit StrayForwarder(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace anyedge::hooks
