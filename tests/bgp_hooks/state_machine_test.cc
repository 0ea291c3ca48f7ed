// The drain/health state machine, driven with synthetic time and observations.
#include "bgp-hooks/policy/state_machine.h"

#include <vector>

#include <gtest/gtest.h>

namespace anyedge::policy {
namespace {

using namespace std::chrono_literals;

class Driver {
  public:
    explicit Driver(PolicyConfig c) : t_(Clock::time_point{} + 1000s), sm_(c, t_) {}

    Decision round(bool hard_ok, bool soft_ok = true, bool drain = false,
                   EdgeDrain edge = EdgeDrain::serving, bool dead = false) {
        return after(200ms, hard_ok, soft_ok, drain, edge, dead);
    }
    // A healthy round while drained or not, `dt` after the previous one.
    Decision drain_round(Millis dt, bool drain = true, EdgeDrain edge = EdgeDrain::draining) {
        return after(dt, true, true, drain, edge, false);
    }
    Decision after(Millis dt, bool hard_ok, bool soft_ok, bool drain, EdgeDrain edge, bool dead) {
        t_ += dt;
        Observation o;
        o.forwarding_ok = forwarding_ok;
        o.now = t_;
        o.hard_ok = hard_ok;
        o.hard_reason = hard_ok ? "" : "healthz: connection refused";
        o.soft_ok = soft_ok;
        o.soft_reason = soft_ok ? "" : "content stale";
        o.drain_requested = drain;
        o.edge_drain = edge;
        o.edge_dead = dead;
        auto d = sm_.step(o);
        if (d.transition) log.push_back(*d.transition);
        if (d.hold_syns) ++holds_asked;
        return d;
    }
    // Rounds of `ok` until the route equals `want`; returns the number of rounds, or -1.
    int until(RouteState want, bool ok, int max = 100000, bool soft_ok = true) {
        for (int i = 1; i <= max; ++i) {
            if (round(ok, soft_ok).route == want) return i;
        }
        return -1;
    }
    void advance(Millis d) { t_ += d; }

    Clock::time_point t_;
    StateMachine sm_;
    std::vector<Transition> log;
    int holds_asked = 0;  // decisions that asked the edge for a SYN hold
    bool forwarding_ok = false;
};

PolicyConfig cfg() {
    PolicyConfig c;
    c.fail_threshold = 3;
    c.success_threshold = 5;
    c.soft_fail_threshold = 2;
    c.soft_success_threshold = 4;
    c.hold_down = 2000ms;
    c.max_hold_down = 16000ms;
    c.flap_window = 30000ms;
    c.drain_close_time = 600ms;
    c.drain_hold_time = 900ms;
    c.drain_hold_lead = 150ms;
    c.drain_tag_time = 1000ms;
    c.drain_timeout = 10000ms;
    return c;
}

TEST(StateMachine, StartsWithdrawnAndAnnouncesAfterMSuccesses) {
    Driver d(cfg());
    EXPECT_EQ(d.sm_.state(), State::starting);
    EXPECT_EQ(d.sm_.route(), RouteState::withdraw);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(d.round(true).route, RouteState::withdraw);
    auto r = d.round(true);
    EXPECT_EQ(r.route, RouteState::announce);
    ASSERT_TRUE(r.transition.has_value());
    EXPECT_EQ(r.transition->from_state, State::starting);
    EXPECT_EQ(r.transition->to_state, State::announced);
    EXPECT_NE(r.transition->reason.find("5 consecutive successes"), std::string::npos);
    EXPECT_EQ(d.sm_.counters().announces, 1u);
}

TEST(StateMachine, FailureInterruptsTheSuccessRun) {
    Driver d(cfg());
    for (int i = 0; i < 4; ++i) d.round(true);
    d.round(false);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(d.round(true).route, RouteState::withdraw);
    EXPECT_EQ(d.round(true).route, RouteState::announce);
}

TEST(StateMachine, NConsecutiveFailuresWithdraw) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    d.round(false);
    d.round(false);
    d.round(true);  // the run restarts
    d.round(false);
    EXPECT_EQ(d.round(false).route, RouteState::announce);
    auto r = d.round(false);
    EXPECT_EQ(r.route, RouteState::withdraw);
    ASSERT_TRUE(r.transition.has_value());
    EXPECT_EQ(r.transition->to_state, State::withdrawn);
    EXPECT_NE(r.transition->reason.find("3 consecutive failures: healthz"), std::string::npos);
    EXPECT_EQ(d.sm_.counters().withdrawals, 1u);
}

TEST(StateMachine, EdgeDeathWithdrawsAtOnce) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    auto r = d.round(false, true, false, EdgeDrain::unknown, /*dead=*/true);
    EXPECT_EQ(r.route, RouteState::withdraw);
    ASSERT_TRUE(r.transition.has_value());
    EXPECT_NE(r.transition->reason.find("edge process died"), std::string::npos);
    EXPECT_EQ(d.sm_.counters().edge_deaths, 1u);
}

TEST(StateMachine, ComesBackOnlyAfterSuccessesAndHoldDown) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    d.advance(60s);  // long stable: not a flap
    ASSERT_GT(d.until(RouteState::withdraw, false), 0);
    EXPECT_EQ(d.sm_.current_hold_down(), 2000ms);
    auto failed_at = d.t_;
    int rounds = d.until(RouteState::announce, true);
    // 5 successes take 1 s; the 2 s hold-down since the last failure decides.
    EXPECT_GE(d.t_ - failed_at, 2000ms);
    EXPECT_EQ(rounds, 10);
    EXPECT_EQ(d.sm_.state(), State::announced);
}

TEST(StateMachine, FlappingDoublesHoldDownUpToMax) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    std::vector<Millis> holds;
    std::vector<Clock::time_point> announce_times;
    for (int flap = 0; flap < 6; ++flap) {
        ASSERT_GT(d.until(RouteState::withdraw, false), 0);
        holds.push_back(d.sm_.current_hold_down());
        ASSERT_GT(d.until(RouteState::announce, true), 0);
        announce_times.push_back(d.t_);
    }
    EXPECT_EQ(holds, (std::vector<Millis>{2000ms, 4000ms, 8000ms, 16000ms, 16000ms, 16000ms}));
    EXPECT_EQ(d.sm_.counters().flaps, 6u);
    // The route never comes back faster than the hold-down allows.
    for (size_t i = 1; i < announce_times.size(); ++i) {
        EXPECT_GE(announce_times[i] - announce_times[i - 1], holds[i]);
    }
    // A long healthy period resets the hold-down to the base.
    d.advance(60s);
    ASSERT_GT(d.until(RouteState::withdraw, false), 0);
    EXPECT_EQ(d.sm_.current_hold_down(), 2000ms);
}

TEST(StateMachine, AlternatingHealthNeverAnnounces) {
    Driver d(cfg());
    for (int i = 0; i < 500; ++i) {
        EXPECT_EQ(d.round(i % 2 == 0).route, RouteState::withdraw);
    }
    EXPECT_EQ(d.sm_.counters().transitions, 0u);
}

TEST(StateMachine, SoftFaultsDepreferNeverWithdraw) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    EXPECT_EQ(d.round(true, false).route, RouteState::announce);
    auto r = d.round(true, false);
    EXPECT_EQ(r.route, RouteState::deprefer);
    ASSERT_TRUE(r.transition.has_value());
    EXPECT_NE(r.transition->reason.find("content stale"), std::string::npos);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(d.round(true, false).route, RouteState::deprefer);
    EXPECT_EQ(d.sm_.counters().depreferrals, 1u);
    EXPECT_EQ(d.until(RouteState::announce, true), 4);
}

TEST(StateMachine, StaleNodeComesUpDepreferred) {
    Driver d(cfg());
    EXPECT_EQ(d.until(RouteState::deprefer, true, 100, /*soft_ok=*/false), 5);
    EXPECT_EQ(d.sm_.state(), State::announced);
}

TEST(StateMachine, HardFaultWinsOverSoft) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::deprefer, true, 100, false), 0);
    for (int i = 0; i < 2; ++i) d.round(false, false);
    EXPECT_EQ(d.round(false, false).route, RouteState::withdraw);
}

TEST(StateMachine, DrainTagsThenWithdrawsThenDrained) {
    // drain_hold_time 0: no SYN hold, the drain goes from the close phase straight to the tag.
    PolicyConfig c = cfg();
    c.drain_hold_time = 0ms;
    Driver d(c);
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    // Phase 1: the route is kept while the edge answers with Connection: close.
    auto r = d.round(true, true, true, EdgeDrain::draining);
    EXPECT_EQ(r.route, RouteState::announce);
    EXPECT_EQ(d.sm_.state(), State::draining);
    int close_rounds = 1;
    while ((r = d.round(true, true, true, EdgeDrain::draining)).route == RouteState::announce) {
        ++close_rounds;
        ASSERT_LT(close_rounds, 100);
    }
    EXPECT_EQ(close_rounds, 3);  // 600 ms of 200 ms rounds
    // Phase 2: GRACEFUL_SHUTDOWN, then the withdrawal.
    EXPECT_EQ(r.route, RouteState::graceful_shutdown);
    EXPECT_EQ(d.sm_.state(), State::draining);
    int tagged_rounds = 1;
    while (d.round(true, true, true, EdgeDrain::draining).route == RouteState::graceful_shutdown) {
        ++tagged_rounds;
        ASSERT_LT(tagged_rounds, 100);
    }
    EXPECT_EQ(tagged_rounds, 5);  // 1 s of 200 ms rounds
    EXPECT_EQ(d.sm_.route(), RouteState::withdraw);
    EXPECT_EQ(d.sm_.state(), State::draining);
    r = d.round(true, true, true, EdgeDrain::drained);
    EXPECT_EQ(d.sm_.state(), State::drained);
    // Health keeps passing while drained: stays withdrawn.
    for (int i = 0; i < 100; ++i) EXPECT_EQ(d.round(true, true, true).route, RouteState::withdraw);
    // Undrain: back after M healthy rounds, no hold-down.
    r = d.round(true, true, false);
    EXPECT_EQ(d.sm_.state(), State::withdrawn);
    EXPECT_EQ(d.until(RouteState::announce, true), 5);
    EXPECT_EQ(d.sm_.counters().drains, 1u);
    EXPECT_EQ(d.sm_.counters().syn_holds, 0u);
    EXPECT_EQ(d.holds_asked, 0);
}

TEST(StateMachine, DrainHoldsNewConnectionsThenTagsAfterTheLead) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    // Phase 1, close: 600 ms of 200 ms rounds, the route kept, nothing asked of the edge.
    for (int i = 0; i < 3; ++i) {
        auto r = d.drain_round(200ms);
        EXPECT_EQ(r.route, RouteState::announce);
        EXPECT_FALSE(r.hold_syns);
        EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::close);
    }
    // Phase 2, hold: the edge is asked to hold SYNs for 900 ms, the route does not move yet,
    // and the loop is told to step again when the 150 ms lead is over.
    auto r = d.drain_round(200ms);
    EXPECT_EQ(r.route, RouteState::announce);
    ASSERT_TRUE(r.hold_syns);
    EXPECT_EQ(*r.hold_syns, 900ms);
    ASSERT_TRUE(r.step_within);
    EXPECT_EQ(*r.step_within, 150ms);
    ASSERT_TRUE(r.transition);
    EXPECT_NE(r.transition->reason.find("holds new connections"), std::string::npos)
        << r.transition->reason;
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::hold);
    EXPECT_EQ(d.sm_.counters().syn_holds, 1u);
    // A step before the lead is over: nothing moves, the rest of the lead is asked for.
    r = d.drain_round(100ms);
    EXPECT_EQ(r.route, RouteState::announce);
    EXPECT_FALSE(r.hold_syns);
    ASSERT_TRUE(r.step_within);
    EXPECT_EQ(*r.step_within, 50ms);
    // The lead is over: GRACEFUL_SHUTDOWN while the edge still holds SYNs (it does for 900 ms).
    r = d.drain_round(50ms);
    EXPECT_EQ(r.route, RouteState::graceful_shutdown);
    EXPECT_FALSE(r.hold_syns);
    EXPECT_FALSE(r.step_within);
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::tag);
    // Phase 3 and 4 as without the hold: the tag for 1 s, the withdrawal, drained.
    int tagged_rounds = 1;
    while (d.drain_round(200ms).route == RouteState::graceful_shutdown) {
        ++tagged_rounds;
        ASSERT_LT(tagged_rounds, 100);
    }
    EXPECT_EQ(tagged_rounds, 5);
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::withdraw);
    d.drain_round(200ms, true, EdgeDrain::drained);
    EXPECT_EQ(d.sm_.state(), State::drained);
    // The hold was asked for once in the whole drain.
    EXPECT_EQ(d.holds_asked, 1);
}

// With stray forwarding, open connections survive the route change: the drain skips the close
// phase and asks for the SYN hold at once.
TEST(StateMachine, DrainWithForwardingSkipsTheClosePhase) {
    Driver d(cfg());
    d.forwarding_ok = true;
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    auto r = d.drain_round(200ms);
    EXPECT_EQ(r.route, RouteState::announce);
    ASSERT_TRUE(r.hold_syns);
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::hold);
    ASSERT_TRUE(r.transition);
    EXPECT_NE(r.transition->reason.find("stray forwarding"), std::string::npos)
        << r.transition->reason;
    r = d.drain_round(150ms);
    EXPECT_EQ(r.route, RouteState::graceful_shutdown);
}

TEST(StateMachine, UndrainDuringTheHoldNeverTags) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    for (int i = 0; i < 4; ++i) d.drain_round(200ms);
    ASSERT_EQ(d.sm_.drain_phase(), DrainPhase::hold);
    ASSERT_EQ(d.holds_asked, 1);
    // The operator undrains before the lead is over (the edge's /undrain ends its hold).
    auto r = d.drain_round(100ms, /*drain=*/false, EdgeDrain::serving);
    EXPECT_EQ(d.sm_.state(), State::withdrawn);
    EXPECT_FALSE(r.hold_syns);
    EXPECT_FALSE(r.step_within);
    // Back after M healthy rounds, never through GRACEFUL_SHUTDOWN, no second hold.
    EXPECT_EQ(d.until(RouteState::announce, true), 5);
    for (const auto& t : d.log) EXPECT_NE(t.to_route, RouteState::graceful_shutdown);
    EXPECT_EQ(d.holds_asked, 1);
    // The next drain starts from its close phase and holds again.
    for (int i = 0; i < 4; ++i) d.drain_round(200ms);
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::hold);
    EXPECT_EQ(d.holds_asked, 2);
    EXPECT_EQ(d.sm_.counters().syn_holds, 2u);
}

TEST(StateMachine, HoldWithoutLeadAsksThenTagsInOneStep) {
    PolicyConfig c = cfg();
    c.drain_close_time = 0ms;
    c.drain_hold_lead = 0ms;
    Driver d(c);
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    // No close phase, no lead: the hold request and the tag come out of the drain's first step
    // (the loop asks the edge first, then applies the route).
    auto r = d.drain_round(200ms);
    EXPECT_EQ(r.route, RouteState::graceful_shutdown);
    ASSERT_TRUE(r.hold_syns);
    EXPECT_EQ(*r.hold_syns, 900ms);
    EXPECT_EQ(d.sm_.drain_phase(), DrainPhase::tag);
}

TEST(StateMachine, NoHoldWhenTheRouteIsNotOut) {
    Driver d(cfg());
    // Starting, withdrawn: a drain has no route to move, so nothing to hold.
    for (int i = 0; i < 20; ++i) {
        auto r = d.drain_round(200ms);
        EXPECT_EQ(r.route, RouteState::withdraw);
        EXPECT_FALSE(r.hold_syns);
    }
    EXPECT_EQ(d.holds_asked, 0);
}

TEST(StateMachine, DrainDuringStartupNeverAnnounces) {
    Driver d(cfg());
    d.round(true, true, true);
    for (int i = 0; i < 50; ++i) {
        EXPECT_NE(d.round(true, true, true, EdgeDrain::draining).route, RouteState::announce);
    }
}

TEST(StateMachine, DrainTimeoutReportsWhyOnce) {
    Driver d(cfg());
    ASSERT_GT(d.until(RouteState::announce, true), 0);
    int warnings = 0;
    std::string text;
    for (int i = 0; i < 100; ++i) {
        auto r = d.round(true, true, true, EdgeDrain::serving);
        if (r.warning) {
            ++warnings;
            text = *r.warning;
        }
    }
    EXPECT_EQ(warnings, 1);
    EXPECT_NE(text.find("edge is not draining"), std::string::npos);
    EXPECT_EQ(d.sm_.state(), State::draining);
    EXPECT_EQ(d.sm_.route(), RouteState::withdraw);
    EXPECT_EQ(d.sm_.counters().drain_timeouts, 1u);
}

TEST(StateMachine, EveryTransitionIsCountedAndExplained) {
    Driver d(cfg());
    d.until(RouteState::announce, true);
    d.until(RouteState::withdraw, false);
    d.until(RouteState::announce, true);
    d.round(true, true, true);
    EXPECT_EQ(d.sm_.counters().transitions, d.log.size());
    for (const auto& t : d.log) {
        EXPECT_FALSE(t.reason.empty());
        EXPECT_FALSE(describe(t).empty());
    }
}

}  // namespace
}  // namespace anyedge::policy
