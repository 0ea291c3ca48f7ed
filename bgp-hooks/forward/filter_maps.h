// The stray filter's map values and counters as stray_forward.bpf.c declares them: the loader
// and the probe write and read them through these (keep the two files in step).
#pragma once

#include <cstdint>
#include <string>

#include "origin-sync/base/result.h"

namespace anyedge::hooks::filter {

constexpr uint32_t kMaxPeers = 64;    // MAX_PEERS
constexpr uint32_t kMaxPrefixes = 8;  // MAX_PREFIXES, per address family

// enum counter
enum Counter : uint32_t {
    kUnused = 0,
    kStrayNoPeer,    // stray with no peer tunnel up: left to the kernel (RST)
    kTunnelLocal,    // forwarded here and ours: delivered
    kTunnelDropped,  // forwarded here and not ours: dropped
    kForwardErrors,  // a copy the kernel refused to send
    kStrays,         // strays sent to the peers (once each, not per copy)
    kCounterCount,
};

// struct settings: the peer count and the anycast prefixes, in network byte order.
struct Prefix4 {
    uint32_t addr = 0, mask = 0;
};
struct Prefix6 {
    uint32_t addr[4] = {}, mask[4] = {};
};
struct Settings {
    uint32_t peer_count = 0, n4 = 0, n6 = 0, unused = 0;
    Prefix4 v4[kMaxPrefixes];
    Prefix6 v6[kMaxPrefixes];
};

struct Peer {  // struct peer
    uint32_t ifindex = 0, id = 0;
};

struct Traffic {  // struct traffic; struct received has the same shape {delivered, dropped}
    uint64_t packets = 0, bytes = 0;
};

// Adds "203.0.113.0/24", "203.0.113.10" (a host), "2001:db8::/32" to `s`. An error names the
// prefix (not an address, a bad length, more than kMaxPrefixes of a family).
Status add_prefix(Settings& s, const std::string& prefix);

}  // namespace anyedge::hooks::filter
