#include "bgp-hooks/policy/state_machine.h"

#include <algorithm>
#include <utility>

namespace anyedge::policy {

namespace {

std::string secs(Millis d) {
    return std::to_string(d.count() / 1000) + "." + std::to_string((d.count() % 1000) / 100) + "s";
}

std::string millis(Millis d) { return std::to_string(d.count()) + " ms"; }

constexpr const char* kTagging = "tagging GRACEFUL_SHUTDOWN 65535:0";

}  // namespace

const char* to_string(State s) {
    switch (s) {
        case State::starting:
            return "starting";
        case State::announced:
            return "announced";
        case State::withdrawn:
            return "withdrawn";
        case State::draining:
            return "draining";
        case State::drained:
            return "drained";
    }
    return "?";
}

const char* to_string(DrainPhase p) {
    switch (p) {
        case DrainPhase::close:
            return "close";
        case DrainPhase::hold:
            return "hold";
        case DrainPhase::tag:
            return "tag";
        case DrainPhase::withdraw:
            return "withdraw";
    }
    return "?";
}

std::string describe(const Transition& t) {
    return std::string(to_string(t.from_state)) + " -> " + to_string(t.to_state) + " (route " +
           to_string(t.from_route) + " -> " + to_string(t.to_route) + "): " + t.reason;
}

StateMachine::StateMachine(PolicyConfig config, Clock::time_point start)
    : config_(config),
      announced_since_(start),
      last_failure_(start),
      hold_down_(0),
      drain_started_(start),
      phase_started_(start) {}

Decision StateMachine::move(State to, RouteState route, std::string reason) {
    Transition t{state_, to, route_, route, std::move(reason)};
    if (to == State::withdrawn && state_ != State::withdrawn) ++counters_.withdrawals;
    if (route == RouteState::deprefer && route_ != RouteState::deprefer) ++counters_.depreferrals;
    if (to == State::announced && state_ != State::announced) ++counters_.announces;
    if (to == State::draining && state_ != State::draining) ++counters_.drains;
    ++counters_.transitions;
    state_ = to;
    route_ = route;
    Decision d;
    d.route = route_;
    d.transition = std::move(t);
    return d;
}

std::string StateMachine::tag_plan() const {
    return std::string(kTagging) + " for " + secs(config_.drain_tag_time) + " before withdrawing";
}

Decision StateMachine::hold_or_tag(const Observation& o, const std::string& why) {
    phase_started_ = o.now;
    const std::string tag = tag_plan();
    if (config_.drain_hold_time <= Millis(0)) {
        phase_ = DrainPhase::tag;
        return move(State::draining, RouteState::graceful_shutdown, why + ": " + tag);
    }
    ++counters_.syn_holds;
    const std::string hold =
        "the edge holds new connections (drops SYNs) for " + millis(config_.drain_hold_time);
    Decision d;
    if (config_.drain_hold_lead <= Millis(0)) {
        // No lead: the hold request goes out first, then the tag, in this one step.
        phase_ = DrainPhase::tag;
        d = move(State::draining, RouteState::graceful_shutdown, why + ": " + hold + "; " + tag);
    } else {
        phase_ = DrainPhase::hold;
        d = move(State::draining, route_,
                 why + ": " + hold + "; " + kTagging + " in " + millis(config_.drain_hold_lead));
        d.step_within = config_.drain_hold_lead;
    }
    d.hold_syns = config_.drain_hold_time;
    return d;
}

Decision StateMachine::undrain(const Observation& o) {
    phase_ = DrainPhase::close;
    hold_down_ = Millis(0);
    last_failure_ = o.now;
    hard_ok_run_ = 0;
    return move(State::withdrawn, RouteState::withdraw,
                "undrain: re-announce after " + std::to_string(config_.success_threshold) +
                    " healthy rounds");
}

Decision StateMachine::step(const Observation& o) {
    ++counters_.rounds;
    // Run lengths first: every state needs them, and a drain must not forget a failing edge.
    if (o.hard_ok && !o.edge_dead) {
        ++hard_ok_run_;
        hard_fail_run_ = 0;
    } else {
        ++counters_.hard_failures;
        hard_ok_run_ = 0;
        hard_fail_run_ =
            o.edge_dead ? std::max(hard_fail_run_ + 1, config_.fail_threshold) : hard_fail_run_ + 1;
        last_failure_ = o.now;
        if (o.edge_dead) ++counters_.edge_deaths;
    }
    if (o.soft_ok) {
        ++soft_ok_run_;
        soft_fail_run_ = 0;
    } else {
        ++counters_.soft_failures;
        soft_ok_run_ = 0;
        ++soft_fail_run_;
        last_soft_reason_ = o.soft_reason;
    }
    bool soft_changed = false;
    std::string soft_why;
    if (!depreferred_ && soft_fail_run_ >= config_.soft_fail_threshold) {
        depreferred_ = true;
        soft_changed = true;
        soft_why =
            "de-prefer: " + o.soft_reason + " (" + std::to_string(soft_fail_run_) + " rounds)";
    } else if (depreferred_ && soft_ok_run_ >= config_.soft_success_threshold) {
        depreferred_ = false;
        soft_changed = true;
        soft_why = "full preference again: soft checks passed " + std::to_string(soft_ok_run_) +
                   " rounds (was: " + last_soft_reason_ + ")";
    }

    // Drain requests win over everything but are undone only by the operator.
    if (o.drain_requested && state_ != State::draining && state_ != State::drained) {
        drain_started_ = phase_started_ = o.now;
        drain_timeout_reported_ = false;
        if (route_ == RouteState::withdraw) {
            phase_ = DrainPhase::withdraw;
            return move(State::draining, RouteState::withdraw,
                        "drain requested: not announced, staying withdrawn");
        }
        if (o.forwarding_ok) {
            return hold_or_tag(o,
                               "drain requested; open connections survive the route change "
                               "(stray forwarding is active)");
        }
        if (config_.drain_close_time > Millis(0)) {
            phase_ = DrainPhase::close;
            return move(State::draining, route_,
                        "drain requested: keeping the route " + secs(config_.drain_close_time) +
                            " while the edge closes keep-alive connections");
        }
        return hold_or_tag(o, "drain requested");
    }

    switch (state_) {
        case State::starting:
        case State::withdrawn: {
            if (hard_ok_run_ < config_.success_threshold) break;
            if (o.now < hold_until()) break;
            std::string why = std::to_string(hard_ok_run_) + " consecutive successes";
            if (state_ == State::withdrawn) why += ", hold-down " + secs(hold_down_) + " passed";
            announced_since_ = o.now;
            return move(State::announced, serving_route(),
                        why + (depreferred_ ? "; de-preferred: " + last_soft_reason_ : ""));
        }
        case State::announced: {
            if (hard_fail_run_ >= config_.fail_threshold) {
                bool flap = o.now - announced_since_ < config_.flap_window;
                if (flap) {
                    ++counters_.flaps;
                    Millis doubled = hold_down_ * 2;
                    hold_down_ =
                        std::min(std::max(doubled, config_.hold_down), config_.max_hold_down);
                } else {
                    hold_down_ = config_.hold_down;
                }
                std::string why = o.edge_dead ? "edge process died: " + o.hard_reason
                                              : std::to_string(hard_fail_run_) +
                                                    " consecutive failures: " + o.hard_reason;
                why += "; hold-down " + secs(hold_down_);
                if (flap)
                    why += " (flap: announced for less than " + secs(config_.flap_window) + ")";
                return move(State::withdrawn, RouteState::withdraw, why);
            }
            if (soft_changed) return move(State::announced, serving_route(), soft_why);
            break;
        }
        case State::draining: {
            if (!o.drain_requested) return undrain(o);
            const Millis in_phase = std::chrono::duration_cast<Millis>(o.now - phase_started_);
            switch (phase_) {
                case DrainPhase::close:
                    if (in_phase >= config_.drain_close_time) {
                        return hold_or_tag(o, "connections closed for " + secs(in_phase));
                    }
                    break;
                case DrainPhase::hold: {
                    if (in_phase >= config_.drain_hold_lead) {
                        phase_ = DrainPhase::tag;
                        phase_started_ = o.now;
                        return move(
                            State::draining, RouteState::graceful_shutdown,
                            "new connections held for " + millis(in_phase) + ": " + tag_plan());
                    }
                    Decision d;
                    d.route = route_;
                    d.step_within = config_.drain_hold_lead - in_phase;
                    return d;
                }
                case DrainPhase::tag:
                    if (in_phase >= config_.drain_tag_time) {
                        phase_ = DrainPhase::withdraw;
                        phase_started_ = o.now;
                        return move(State::draining, RouteState::withdraw,
                                    "GRACEFUL_SHUTDOWN held " + secs(in_phase) + ": withdrawing");
                    }
                    break;
                case DrainPhase::withdraw:
                    if (o.edge_drain == EdgeDrain::drained) {
                        return move(
                            State::drained, RouteState::withdraw,
                            "edge reports drained" + (o.edge_drain_detail.empty()
                                                          ? ""
                                                          : " (" + o.edge_drain_detail + ")"));
                    }
                    break;
            }
            const Millis elapsed = std::chrono::duration_cast<Millis>(o.now - drain_started_);
            if (elapsed >= config_.drain_timeout && !drain_timeout_reported_) {
                drain_timeout_reported_ = true;
                ++counters_.drain_timeouts;
                Decision d;
                d.route = route_;
                std::string edge = o.edge_drain == EdgeDrain::unknown ? "edge unreachable"
                                   : o.edge_drain == EdgeDrain::serving
                                       ? "edge is not draining (POST /drain to it?)"
                                       : "edge still draining";
                d.warning = "not drained after " + secs(elapsed) + ": " + edge +
                            (o.edge_drain_detail.empty() ? "" : " (" + o.edge_drain_detail + ")");
                return d;
            }
            break;
        }
        case State::drained: {
            if (!o.drain_requested) return undrain(o);
            break;
        }
    }
    Decision d;
    d.route = route_;
    return d;
}

}  // namespace anyedge::policy
