// Runs the stray filter (stray_forward.bpf.c) on packets made here, by the kernel
// (BPF_PROG_TEST_RUN), inside a network namespace private to the calling thread: nothing is
// attached to, or sent on, the machine's own interfaces. For the filter's tests, and for
// `cdn-hooks forward-cost`, which says what the filter costs per packet on this machine.
// Needs CAP_SYS_ADMIN (the namespace) and CAP_BPF.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bgp-hooks/forward/filter_maps.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

constexpr int kFilterDeliver = 0;  // TC_ACT_OK
constexpr int kFilterDrop = 2;     // TC_ACT_SHOT

class FilterProbe {
  public:
    // A private namespace with lo up and a veth pair (t0, t1); the filter loaded with the
    // anycast address 127.0.0.1/32 and one peer, through t0.
    static Result<std::unique_ptr<FilterProbe>> create();
    ~FilterProbe();  // back to the caller's namespace, which then frees this one
    FilterProbe(const FilterProbe&) = delete;
    FilterProbe& operator=(const FilterProbe&) = delete;

    // Ethernet + IPv4 + TCP from 127.0.0.1:sport to dst:dport.
    static std::vector<uint8_t> tcp_packet(const char* dst, uint16_t sport, uint16_t dport,
                                           bool syn = false, bool ack = true);
    // The uplink filter's verdict on one packet (-1: the kernel would not run it).
    int run(const std::vector<uint8_t>& packet);
    // Mean ns of one run over `repeat` runs (0: the kernel would not run it).
    uint32_t time(const std::vector<uint8_t>& packet, int repeat);
    uint64_t counter(filter::Counter c) const;
    uint64_t forwarded_to_peer() const;  // packets copied to the one peer
    Status set_peer_count(uint32_t n);

  private:
    struct Impl;
    explicit FilterProbe(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct FilterCost {
    uint32_t local_segment_ns = 0;  // a segment of a connection open here (the serving path)
    uint32_t other_address_ns = 0;  // a packet for an address that is not anycast
};
// Times the filter on a real local connection in a FilterProbe.
Result<FilterCost> measure_filter_cost(int repeat);

}  // namespace anyedge::hooks
