// cdn-hooks: decides whether this node's anycast route is announced, and tells BIRD (or ExaBGP).
//
//   cdn-hooks --config FILE                  run the health loop (the service)
//   cdn-hooks render-bird --config FILE      print the edge's BIRD config (--upstream: the
//                                            upstream snippet; --out FILE --check: write, bird -p)
//   cdn-hooks set-route STATE --config FILE  write one route state and configure BIRD (used by
//                                            the systemd unit's ExecStopPost to withdraw)
//   cdn-hooks forward-cost [--runs N]        time the stray-forwarding filter here (JSON)
//   cdn-hooks render-wireguard --config FILE print the stray-forwarding tunnels as wg-quick
//                                            files (--out-dir DIR: write DIR/IFACE.conf)
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

#include "bgp-hooks/config/node_config.h"
#include "bgp-hooks/daemon/daemon.h"
#include "bgp-hooks/forward/filter_probe.h"
#include "bgp-hooks/templates/bird_config.h"
#include "bgp-hooks/templates/wireguard_config.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/log_line.h"

namespace {

using namespace anyedge;

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop = true; }

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
        auto st = atomic_write_file(
            c.bird.state_file,
            policy::render_state_file(policy::RouteState::withdraw, "initial: start withdrawn"));
        if (!st) {
            std::cerr << "cdn-hooks: " << st.error() << "\n";
            return 1;
        }
    }
    std::string tmp = out + ".new";
    // 0644: BIRD re-reads its config as user bird on `configure`; it holds no secrets.
    if (auto st = atomic_write_file(tmp, text, 0644); !st) {
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

int render_wireguard(const hooks::NodeConfig& c, const std::string& dir) {
    auto files = hooks::render_wireguard_configs(c);
    if (!files) {
        std::cerr << "cdn-hooks: " << files.error() << "\n";
        return 2;
    }
    for (const hooks::WireguardFile& f : *files) {
        if (dir.empty()) {
            std::cout << "# " << f.interface << ".conf\n" << f.text << "\n";
            continue;
        }
        if (auto st = atomic_write_file(dir + "/" + f.interface + ".conf", f.text, 0600); !st) {
            std::cerr << "cdn-hooks: " << st.error() << "\n";
            return 1;
        }
    }
    return 0;
}

// What the tc filter costs per packet here, as JSON: on the serving path (a segment of a
// connection open here) and for a packet to another address. Runs in a private namespace.
int forward_cost(int runs) {
    auto cost = hooks::measure_filter_cost(runs);
    if (!cost) {
        std::cerr << "cdn-hooks: forward-cost: " << cost.error() << "\n";
        return 1;
    }
    std::cout << "{\"local_segment_ns\": " << cost->local_segment_ns
              << ", \"other_address_ns\": " << cost->other_address_ns << ", \"runs\": " << runs
              << "}\n";
    return 0;
}

int set_route(const hooks::NodeConfig& c, const std::string& state) {
    auto r = policy::route_state_from_string(state);
    if (!r) {
        std::cerr << "cdn-hooks: unknown route state '" << state
                  << "' (announce, deprefer, graceful-shutdown, withdraw)\n";
        return 2;
    }
    auto backend = hooks::make_backend(c);
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
    app.add_option("-c,--config", config_path, "node JSON config (required but for forward-cost)");
    app.fallthrough();
    auto* render = app.add_subcommand("render-bird", "print or write the BIRD config");
    bool upstream = false, check = false;
    std::string out;
    render->add_flag("--upstream", upstream, "the upstream router's snippet instead");
    render->add_option("--out", out, "write to this file (atomically) instead of stdout");
    render->add_flag("--check", check, "with --out: `bird -p` the result before replacing FILE");
    auto* wg = app.add_subcommand("render-wireguard",
                                  "print or write the stray-forwarding tunnels (wg-quick files)");
    std::string wg_dir;
    wg->add_option("--out-dir", wg_dir, "write DIR/INTERFACE.conf (atomically, mode 0600)");
    auto* cost = app.add_subcommand(
        "forward-cost", "time the stray-forwarding filter on this machine (needs root)");
    int runs = 1000000;
    cost->add_option("--runs", runs, "runs to average over")->check(CLI::Range(1, 100000000));
    auto* set = app.add_subcommand("set-route", "apply one route state and exit");
    std::string state;
    set->add_option("state", state, "announce | deprefer | graceful-shutdown | withdraw")
        ->required();
    CLI11_PARSE(app, argc, argv);
    if (*cost) return forward_cost(runs);  // needs no node config
    if (config_path.empty()) {
        std::cerr << "cdn-hooks: --config is required\n";
        return 2;
    }

    auto cfg = hooks::load_node_config(config_path);
    if (!cfg) {
        std::cerr << "cdn-hooks: " << cfg.error() << "\n";
        return 2;
    }
    set_log_name("cdn-hooks[" + cfg->node + "]");
    if (*render) return render_bird(*cfg, upstream, out, check);
    if (*wg) return render_wireguard(*cfg, wg_dir);
    if (*set) return set_route(*cfg, state);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    return hooks::run_daemon(*cfg, g_stop);
}
