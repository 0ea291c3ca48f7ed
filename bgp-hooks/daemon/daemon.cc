#include "bgp-hooks/daemon/daemon.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "bgp-hooks/daemon/sd_notify.h"
#include "bgp-hooks/daemon/status_file.h"
#include "bgp-hooks/forward/stray_forwarder.h"
#include "bgp-hooks/health/checker.h"
#include "bgp-hooks/health/edge_watch.h"
#include "bgp-hooks/policy/state_machine.h"
#include "origin-sync/base/log_line.h"

#include <poll.h>

namespace anyedge::hooks {

std::unique_ptr<policy::RouteBackend> make_backend(const NodeConfig& c) {
    if (c.backend == "exabgp") {
        std::vector<std::string> prefixes = c.anycast_v4;
        prefixes.insert(prefixes.end(), c.anycast_v6.begin(), c.anycast_v6.end());
        return std::make_unique<policy::ExabgpBackend>(std::cout, prefixes, c.bird.local_as,
                                                       c.deprefer);
    }
    return std::make_unique<policy::BirdBackend>(
        c.bird.state_file, c.bird.socket, std::chrono::milliseconds(c.bird.timeout_ms), log_line);
}

namespace {

using policy::Clock;

class Loop {
  public:
    explicit Loop(const NodeConfig& c)
        : c_(c),
          backend_(make_backend(c)),
          sm_(c.policy, Clock::now()),
          checker_(c),
          watch_(c.edge.pid_file, c.edge.pid) {}

    int run(const std::atomic<bool>& g_stop) {
        log_line("starting withdrawn (backend " + c_.backend + "); announcing after " +
                 std::to_string(c_.policy.success_threshold) + " healthy rounds");
        reason_ = "cdn-hooks starting: withdrawn until the edge is healthy";
        push(policy::RouteState::withdraw);
        start_forwarding();
        sd_notify("READY=1\nSTATUS=starting withdrawn");

        auto interval = std::chrono::milliseconds(c_.interval_ms);
        auto next = Clock::now();
        while (!g_stop) {
            watch_.refresh();
            policy::Observation o;
            if (watch_.check_dead()) {
                o = death(Clock::now());
            } else {
                o = checker_.run_round(Clock::now(), watch_.fd());
                if (auto note = checker_.take_drain_note(); !note.empty()) log_line(note);
                log_check_change(o);
                if (watch_.check_dead()) o = death(Clock::now());
                last_ = o;
            }
            refresh_forwarding();
            o.forwarding_ok = fwd_status_.state == ForwardStatus::State::active ||
                              fwd_status_.state == ForwardStatus::State::degraded;
            const policy::Decision d = sm_.step(o);
            handle(d);
            sd_notify("WATCHDOG=1");
            write_status(false);

            next += interval;
            auto now = Clock::now();
            if (next < now) next = now;
            // The drain's SYN hold lead ends between two rounds: step again right then.
            if (d.step_within) next = std::min(next, o.now + *d.step_within);
            // Sleep until the next round, but wake at once when the edge dies.
            while (!g_stop) {
                auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
                if (left.count() <= 0) break;
                pollfd p{watch_.fd(), POLLIN, 0};
                int n = ::poll(&p, watch_.fd() >= 0 ? 1 : 0, static_cast<int>(left.count()));
                if (n > 0) {
                    next = Clock::now();
                    break;
                }
            }
        }
        if (c_.withdraw_on_exit) {
            reason_ = "cdn-hooks stopped";
            log_line("stopping: withdrawing the route (withdraw_on_exit)");
            push(policy::RouteState::withdraw);
        } else {
            log_line("stopping: leaving the route as it is (withdraw_on_exit=false)");
        }
        write_status(true);
        fwd_.reset();  // removes the filters: nothing forwards for a node without its hooks
        return 0;
    }

  private:
    // Where eBPF cannot run (old kernel, no privileges) the node serves as before: one clear
    // message, and the status says forwarding is off and why.
    void start_forwarding() {
        if (!c_.forwarding.enabled) {
            fwd_status_.detail = "not configured";
            return;
        }
        std::vector<std::string> anycast = c_.anycast_v4;
        anycast.insert(anycast.end(), c_.anycast_v6.begin(), c_.anycast_v6.end());
        auto f = StrayForwarder::load(c_.forwarding, anycast);
        if (!f) {
            fwd_status_.state = ForwardStatus::State::failed;
            fwd_status_.detail = f.error();
            log_line("stray forwarding is OFF: " + f.error() +
                     ". The node serves as before; connections open when the route moves are "
                     "reset.");
            return;
        }
        fwd_ = std::move(*f);
        log_line("stray forwarding loaded on " + std::to_string(c_.forwarding.interfaces.size()) +
                 " interface(s) for " + std::to_string(c_.forwarding.peers.size()) + " peer(s)");
    }

    void refresh_forwarding() {
        if (!fwd_) return;
        auto before = fwd_status_.state;
        std::string before_detail = fwd_status_.detail;
        fwd_status_ = fwd_->refresh();
        if (fwd_status_.state != before || fwd_status_.detail != before_detail) {
            log_line("stray forwarding " + std::string(to_string(fwd_status_.state)) +
                     (fwd_status_.detail.empty() ? "" : ": " + fwd_status_.detail));
        }
    }

    policy::Observation death(Clock::time_point now) {
        policy::Observation o = last_;
        o.now = now;
        o.hard_ok = false;
        o.edge_dead = true;
        o.hard_reason = watch_.detail();
        o.edge_drain = policy::EdgeDrain::unknown;
        return o;
    }

    // A failing check is logged when its reason changes (not every round): a node that stays
    // withdrawn says why in its log, not only at the transition.
    void log_check_change(const policy::Observation& o) {
        std::string hard = o.hard_ok ? "" : o.hard_reason;
        if (hard != last_hard_reason_) {
            log_line(hard.empty() ? "checks pass again (was: " + last_hard_reason_ + ")"
                                  : "check failing: " + hard);
            last_hard_reason_ = hard;
        }
        std::string soft = o.soft_ok ? "" : o.soft_reason;
        // Soft reasons carry a growing duration ("for 12s"): compare up to it.
        auto stem = [](const std::string& r) { return r.substr(0, r.find(" for ")); };
        if (stem(soft) != stem(last_soft_reason_)) {
            log_line(soft.empty() ? "soft checks pass again" : "soft check failing: " + soft);
        }
        last_soft_reason_ = soft;
    }

    void handle(const policy::Decision& d) {
        if (d.transition) {
            reason_ = d.transition->reason;
            log_line("transition " + policy::describe(*d.transition));
            sd_notify("STATUS=" + std::string(policy::to_string(sm_.state())) + ": " + reason_);
            since_ = std::time(nullptr);
            write_status(true);
        }
        if (d.warning) log_line("warning: " + *d.warning);
        if (d.hold_syns) {
            // Before the route changes. A failure never blocks the drain: the route is tagged
            // anyway (connections opened during the route change may then be reset).
            const std::string ms = std::to_string(d.hold_syns->count());
            auto t0 = Clock::now();
            if (auto st = checker_.hold_syns(*d.hold_syns); st) {
                auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
                char took[32];
                std::snprintf(took, sizeof took, "%.1f", us.count() / 1000.0);
                log_line("edge holds new connections (drops SYNs) for " + ms + " ms (asked in " +
                         took + " ms)");
                ++syn_holds_ok_;
            } else {
                log_line("warning: SYN hold not set (" + st.error() +
                         "); the drain goes on without it");
                ++syn_hold_failures_;
            }
        }
        if (d.route != applied_ || !applied_ok_) {
            push(d.route);
        } else if (auto st = backend_->maintain(); !st) {
            report_error(st.error());
        } else {
            clear_error();
        }
    }

    void push(policy::RouteState r) {
        auto t0 = Clock::now();
        auto st = backend_->apply(r, reason_);
        applied_ = r;
        applied_ok_ = st.ok();
        if (!st) {
            report_error("applying route state " + std::string(policy::to_string(r)) + ": " +
                         st.error());
            return;
        }
        clear_error();
        auto ms = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
        log_line("route state " + std::string(policy::to_string(r)) + " applied in " +
                 std::to_string(ms.count() / 1000.0) + " ms");
    }

    // Errors repeat every round while BIRD is down: log each distinct one once.
    void report_error(const std::string& e) {
        if (e != last_error_) log_line("error: " + e);
        last_error_ = e;
    }
    void clear_error() {
        if (!last_error_.empty()) log_line("recovered from: " + last_error_);
        last_error_.clear();
    }

    void write_status(bool force) {
        if (c_.status_file.empty()) return;
        auto now = Clock::now();
        if (!force && now - last_status_write_ < std::chrono::seconds(1)) return;
        last_status_write_ = now;
        StatusReport r;
        r.node = c_.node;
        r.state = sm_.state();
        r.drain_phase = sm_.drain_phase();
        r.route = sm_.route();
        r.route_applied = applied_ok_;
        r.reason = reason_;
        r.since = since_;
        r.hold_down = sm_.current_hold_down();
        r.counters = sm_.counters();
        r.syn_holds_ok = syn_holds_ok_;
        r.syn_hold_failures = syn_hold_failures_;
        r.edge = checker_.last_status();
        r.watching_pid = watch_.watching() ? watch_.pid() : 0;
        r.last_error = last_error_;
        r.last_check = last_;
        r.origin_generation = checker_.origin_generation();
        r.forwarding = fwd_status_;
        if (auto st = write_status_file(c_.status_file, r); !st) {
            report_error("status file: " + st.error());
        }
    }

    const NodeConfig& c_;
    std::unique_ptr<policy::RouteBackend> backend_;
    policy::StateMachine sm_;
    health::Checker checker_;
    health::EdgeWatch watch_;
    policy::Observation last_;
    policy::RouteState applied_ = policy::RouteState::withdraw;
    bool applied_ok_ = false;
    std::string reason_;
    std::string last_error_;
    std::string last_hard_reason_, last_soft_reason_;
    std::time_t since_ = std::time(nullptr);
    uint64_t syn_holds_ok_ = 0, syn_hold_failures_ = 0;  // POST /hold-syn outcomes
    Clock::time_point last_status_write_{};
    std::unique_ptr<StrayForwarder> fwd_;
    ForwardStatus fwd_status_;
};

}  // namespace

int run_daemon(const NodeConfig& config, const std::atomic<bool>& stop) {
    Loop loop(config);
    return loop.run(stop);
}

}  // namespace anyedge::hooks
