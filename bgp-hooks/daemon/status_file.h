// cdn-hooks' status file: what `cdnctl status` and operators read (JSON, written atomically,
// at most once a second and at every transition).
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "bgp-hooks/forward/stray_forwarder.h"
#include "bgp-hooks/health/checker.h"
#include "bgp-hooks/policy/state_machine.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

struct StatusReport {
    std::string node;
    policy::State state = policy::State::withdrawn;
    policy::DrainPhase drain_phase{};
    policy::RouteState route = policy::RouteState::withdraw;
    bool route_applied = false;
    std::string reason;
    std::time_t since = 0;
    policy::Millis hold_down{0};
    policy::Counters counters;
    uint64_t syn_holds_ok = 0, syn_hold_failures = 0;
    health::EdgeStatus edge;
    int watching_pid = 0;
    std::string last_error;
    policy::Observation last_check;
    std::optional<uint64_t> origin_generation;
    ForwardStatus forwarding;
};

std::string render_status(const StatusReport& report);
Status write_status_file(const std::string& path, const StatusReport& report);

}  // namespace anyedge::hooks
