// The announce/withdraw decision for one node (pure: no clock, no I/O, no threads).
//
// Inputs arrive as Observations (one per health-check round, or at once when the edge is seen
// dying), each carrying the caller's monotonic time. Output is the desired RouteState plus, when
// anything changed, a Transition with a human-readable reason; every transition is counted.
//
// States:
//   starting   withdrawn at boot until `success_threshold` rounds pass (BIRD-NOTES pitfall 4)
//   announced  route out; soft faults (stale content, origin unreachable) only de-prefer it,
//              because if every node is stale none may vanish
//   withdrawn  hard faults (edge down, wedged, wrong bytes): `fail_threshold` failures in a row,
//              or edge death at once; back after `success_threshold` successes in a row AND a
//              hold-down since the last failure; the hold-down doubles (up to a maximum) when
//              the route is withdrawn again within `flap_window` of being announced
//   draining   operator drain, in phases (DrainPhase): close (route kept while the edge answers
//              `Connection: close`, `drain_close_time`), hold (the edge drops new connection
//              attempts; the route is tagged after `drain_hold_lead`), tag (GRACEFUL_SHUTDOWN,
//              RFC 8326, for `drain_tag_time`), withdraw; becomes drained when the edge reports
//              it has drained
//   drained    withdrawn until the drain request goes away
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "bgp-hooks/policy/route_state.h"

namespace anyedge::policy {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct PolicyConfig {
    int fail_threshold = 3;       // N consecutive hard failures -> withdraw
    int success_threshold = 5;    // M consecutive successes -> may announce
    int soft_fail_threshold = 3;  // consecutive soft faults -> de-prefer
    int soft_success_threshold = 5;
    Millis hold_down{5000};  // base hold-down after a failure
    Millis max_hold_down{300000};
    Millis flap_window{60000};  // withdrawn again this soon after announcing = a flap
    // Drain phase 1: the route stays as it is while the edge answers every response with
    // "Connection: close", so that by the time the route moves only requests in flight are
    // left on open connections (DESIGN.md "Drain, failure, and the route"). 0: tag at once.
    Millis drain_close_time{1500};
    // Drain phase 2, the SYN hold: the edge drops new connection attempts (bare SYNs, POST
    // /hold-syn) for `drain_hold_time`; the route is tagged `drain_hold_lead` after the hold
    // began, once the connections accepted just before it are done (they are short). A client
    // retransmits a dropped SYN after its initial RTO (1 s, RFC 6298), by then towards the node
    // the route moved to, so no connection starts on this node while its route moves. Kept
    // under 1 s so that the retransmission of a SYN dropped at the very start of the hold finds
    // it over when no other route exists (the same node serves it). 0: no hold, tag at once.
    Millis drain_hold_time{900};
    Millis drain_hold_lead{150};
    Millis drain_tag_time{5000};  // GRACEFUL_SHUTDOWN tag before the withdrawal
    Millis drain_timeout{60000};  // report why the edge has not drained after this
};

enum class State { starting, announced, withdrawn, draining, drained };
const char* to_string(State s);

// Where a drain is (meaningful while State::draining).
enum class DrainPhase { close, hold, tag, withdraw };
const char* to_string(DrainPhase p);

// What the edge says about its own drain (GET /status "drain.state").
enum class EdgeDrain { unknown, serving, draining, drained };

struct Observation {
    Clock::time_point now;
    bool hard_ok = false;     // every local check passed this round
    std::string hard_reason;  // why not, when !hard_ok
    bool edge_dead = false;   // the edge process is known dead: withdraw without waiting
    bool soft_ok = true;      // content fresh, origin reachable
    std::string soft_reason;
    bool drain_requested = false;  // level: operator wants this node drained
    EdgeDrain edge_drain = EdgeDrain::unknown;
    std::string edge_drain_detail;  // e.g. "in_flight=3 last_accept_age_ms=120"
    // Stray packets reach this node's connections through the peers after the route moves
    // (bgp-hooks/forward/): a drain then need not close keep-alive connections first.
    bool forwarding_ok = false;
};

struct Transition {
    State from_state;
    State to_state;
    RouteState from_route;
    RouteState to_route;
    std::string reason;
};
std::string describe(const Transition& t);

struct Counters {
    uint64_t rounds = 0;
    uint64_t hard_failures = 0;
    uint64_t soft_failures = 0;
    uint64_t transitions = 0;
    uint64_t announces = 0;
    uint64_t withdrawals = 0;
    uint64_t depreferrals = 0;
    uint64_t flaps = 0;
    uint64_t drains = 0;
    uint64_t syn_holds = 0;  // drains that asked the edge to hold new connections
    uint64_t drain_timeouts = 0;
    uint64_t edge_deaths = 0;
};

struct Decision {
    RouteState route = RouteState::withdraw;
    std::optional<Transition> transition;
    // Set once when a drain exceeds drain_timeout without the edge reporting drained.
    std::optional<std::string> warning;
    // Set once, as a drain enters its SYN hold: ask the edge to drop new connection attempts
    // for this long (POST /hold-syn?ms=N) before applying `route`. Whether the edge could be
    // asked changes nothing here: the drain goes on (the route is tagged after the lead).
    std::optional<Millis> hold_syns;
    // The machine needs its next step within this time (the end of the hold's lead), sooner
    // than a regular round may come.
    std::optional<Millis> step_within;
};

class StateMachine {
  public:
    StateMachine(PolicyConfig config, Clock::time_point start);

    Decision step(const Observation& o);

    State state() const { return state_; }
    DrainPhase drain_phase() const { return phase_; }
    RouteState route() const { return route_; }
    const Counters& counters() const { return counters_; }
    Millis current_hold_down() const { return hold_down_; }
    // When a withdrawn node may come back at the earliest (ignoring the success count).
    Clock::time_point hold_until() const { return last_failure_ + hold_down_; }
    const PolicyConfig& config() const { return config_; }

  private:
    Decision move(State to, RouteState route, std::string reason);
    // The operator lifted the drain: withdrawn, back after healthy rounds without a hold-down.
    Decision undrain(const Observation& o);
    // The close phase is over (or skipped): hold new connections, or tag at once without a hold.
    Decision hold_or_tag(const Observation& o, const std::string& why);
    std::string tag_plan() const;  // "tagging GRACEFUL_SHUTDOWN 65535:0 for 5.0s before ..."

    RouteState serving_route() const {
        return depreferred_ ? RouteState::deprefer : RouteState::announce;
    }

    PolicyConfig config_;
    State state_ = State::starting;
    RouteState route_ = RouteState::withdraw;
    Counters counters_;

    int hard_fail_run_ = 0;
    int hard_ok_run_ = 0;
    int soft_fail_run_ = 0;
    int soft_ok_run_ = 0;
    bool depreferred_ = false;
    std::string last_soft_reason_;

    Clock::time_point announced_since_;
    Clock::time_point last_failure_;
    Millis hold_down_;
    Clock::time_point drain_started_;  // the drain request: drain_timeout counts from here
    Clock::time_point phase_started_;  // the current DrainPhase began
    DrainPhase phase_ = DrainPhase::close;
    bool drain_timeout_reported_ = false;
};

}  // namespace anyedge::policy
