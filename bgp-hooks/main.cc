// cdn-hooks: decides whether this node's anycast route is announced, and tells BIRD (or ExaBGP).
//
//   cdn-hooks --config FILE                  run the health loop (the service)
//   cdn-hooks render-bird --config FILE      print the edge's BIRD config (--upstream: the
//                                            upstream snippet; --out FILE --check: write, bird -p)
//   cdn-hooks set-route STATE --config FILE  write one route state and configure BIRD (used by
//                                            the systemd unit's ExecStopPost to withdraw)
// Single-threaded: one loop runs the checks, the state machine and the backend.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bgp-hooks/config/node_config.h"
#include "bgp-hooks/health/checker.h"
#include "bgp-hooks/health/edge_watch.h"
#include "bgp-hooks/policy/backend.h"
#include "bgp-hooks/policy/state_machine.h"
#include "bgp-hooks/templates/bird_config.h"

#include <poll.h>

namespace {

using namespace anyedge;
using policy::Clock;

std::atomic<bool> g_stop{false};
std::string g_node = "-";

void on_signal(int) { g_stop = true; }

void log_line(const std::string& msg) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
    std::fprintf(stderr, "%s.%03ldZ cdn-hooks[%s] %s\n", buf, ts.tv_nsec / 1000000, g_node.c_str(),
                 msg.c_str());
    std::fflush(stderr);
}

// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (Type=notify, WatchdogSec=).
void sd_notify(const std::string& msg) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len >= sizeof(addr.sun_path)) return;
    std::memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    // MSG_DONTWAIT: a full notify queue must never stall the loop that withdraws routes.
    ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
             reinterpret_cast<sockaddr*>(&addr),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
    ::close(fd);
}

std::unique_ptr<policy::RouteBackend> make_backend(const hooks::NodeConfig& c) {
    if (c.backend == "exabgp") {
        std::vector<std::string> prefixes = c.anycast_v4;
        prefixes.insert(prefixes.end(), c.anycast_v6.begin(), c.anycast_v6.end());
        return std::make_unique<policy::ExabgpBackend>(std::cout, prefixes, c.bird.local_as,
                                                       c.deprefer);
    }
    return std::make_unique<policy::BirdBackend>(
        c.bird.state_file, c.bird.socket, std::chrono::milliseconds(c.bird.timeout_ms), log_line);
}

nlohmann::json counters_json(const policy::Counters& k) {
    return {{"rounds", k.rounds},
            {"hard_failures", k.hard_failures},
            {"soft_failures", k.soft_failures},
            {"transitions", k.transitions},
            {"announces", k.announces},
            {"withdrawals", k.withdrawals},
            {"depreferrals", k.depreferrals},
            {"flaps", k.flaps},
            {"drains", k.drains},
            {"syn_holds", k.syn_holds},
            {"drain_timeouts", k.drain_timeouts},
            {"edge_deaths", k.edge_deaths}};
}

class Loop {
  public:
    explicit Loop(const hooks::NodeConfig& c)
        : c_(c),
          backend_(make_backend(c)),
          sm_(c.policy, Clock::now()),
          checker_(c),
          watch_(c.edge.pid_file, c.edge.pid) {}

    int run() {
        signal(SIGPIPE, SIG_IGN);
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, nullptr);
        sigaction(SIGINT, &sa, nullptr);

        log_line("starting withdrawn (backend " + c_.backend + "); announcing after " +
                 std::to_string(c_.policy.success_threshold) + " healthy rounds");
        reason_ = "cdn-hooks starting: withdrawn until the edge is healthy";
        push(policy::RouteState::withdraw);
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
        return 0;
    }

  private:
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
        const auto& es = checker_.last_status();
        nlohmann::json j = {
            {"node", c_.node},
            {"state", policy::to_string(sm_.state())},
            {"drain_phase",
             sm_.state() == policy::State::draining ? policy::to_string(sm_.drain_phase()) : ""},
            {"syn_hold_requests", {{"ok", syn_holds_ok_}, {"failed", syn_hold_failures_}}},
            {"route", policy::to_string(sm_.route())},
            {"route_applied", applied_ok_},
            {"reason", reason_},
            {"since", since_},
            {"hold_down_ms", sm_.current_hold_down().count()},
            {"counters", counters_json(sm_.counters())},
            {"edge",
             {{"generation", es.generation},
              {"generation_age_s", es.generation_age_s},
              {"watching_pid", watch_.watching() ? watch_.pid() : 0}}},
            {"last_error", last_error_},
            {"last_check",
             {{"hard_ok", last_.hard_ok},
              {"hard_reason", last_.hard_reason},
              {"soft_ok", last_.soft_ok},
              {"soft_reason", last_.soft_reason},
              {"drain_requested", last_.drain_requested}}},
        };
        if (auto g = checker_.origin_generation()) j["origin_generation"] = *g;
        if (auto st = policy::write_file_atomic(c_.status_file, j.dump(2) + "\n"); !st) {
            report_error("status file: " + st.error());
        }
    }

    const hooks::NodeConfig& c_;
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
};

int render_bird(const hooks::NodeConfig& c, bool upstream, const std::string& out, bool check) {
    std::string text;
    if (upstream) {
        text = hooks::render_upstream_snippet(c);
    } else {
        auto r = hooks::render_edge_bird_config(c);
        if (!r) {
            std::cerr << "cdn-hooks: " << r.error() << "\n";
            return 2;
        }
        text = *r;
    }
    if (out.empty()) {
        std::cout << text;
        return 0;
    }
    if (!upstream && check && ::access(c.bird.state_file.c_str(), F_OK) != 0) {
        // BIRD must find the include, and a node must start withdrawn.
        auto st = policy::write_file_atomic(
            c.bird.state_file,
            policy::render_state_file(policy::RouteState::withdraw, "initial: start withdrawn"));
        if (!st) {
            std::cerr << "cdn-hooks: " << st.error() << "\n";
            return 1;
        }
    }
    std::string tmp = out + ".new";
    // 0644: BIRD re-reads its config as user bird on `configure`; it holds no secrets.
    if (auto st = policy::write_file_atomic(tmp, text, 0644); !st) {
        std::cerr << "cdn-hooks: " << st.error() << "\n";
        return 1;
    }
    if (check && !upstream) {
        // bird -p parses the whole config (includes too) without touching the running daemon.
        pid_t pid = fork();
        if (pid == 0) {
            execlp("bird", "bird", "-p", "-c", tmp.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::cerr << "cdn-hooks: `bird -p -c " << tmp << "` rejected the config; " << out
                      << " left unchanged\n";
            return 1;
        }
    }
    if (::rename(tmp.c_str(), out.c_str()) != 0) {
        std::cerr << "cdn-hooks: rename " << tmp << ": " << std::strerror(errno) << "\n";
        return 1;
    }
    return 0;
}

int set_route(const hooks::NodeConfig& c, const std::string& state) {
    auto r = policy::route_state_from_string(state);
    if (!r) {
        std::cerr << "cdn-hooks: unknown route state '" << state
                  << "' (announce, deprefer, graceful-shutdown, withdraw)\n";
        return 2;
    }
    auto backend = make_backend(c);
    if (auto st = backend->apply(*r, "set-route " + state + " from the command line"); !st) {
        std::cerr << "cdn-hooks: " << st.error() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"cdn-hooks: announce the anycast route only while this node is healthy"};
    std::string config_path;
    app.add_option("-c,--config", config_path, "node JSON config")->required();
    app.fallthrough();
    auto* render = app.add_subcommand("render-bird", "print or write the BIRD config");
    bool upstream = false, check = false;
    std::string out;
    render->add_flag("--upstream", upstream, "the upstream router's snippet instead");
    render->add_option("--out", out, "write to this file (atomically) instead of stdout");
    render->add_flag("--check", check, "with --out: `bird -p` the result before replacing FILE");
    auto* set = app.add_subcommand("set-route", "apply one route state and exit");
    std::string state;
    set->add_option("state", state, "announce | deprefer | graceful-shutdown | withdraw")
        ->required();
    CLI11_PARSE(app, argc, argv);

    auto cfg = hooks::load_node_config(config_path);
    if (!cfg) {
        std::cerr << "cdn-hooks: " << cfg.error() << "\n";
        return 2;
    }
    g_node = cfg->node;
    if (*render) return render_bird(*cfg, upstream, out, check);
    if (*set) return set_route(*cfg, state);
    Loop loop(*cfg);
    return loop.run();
}
