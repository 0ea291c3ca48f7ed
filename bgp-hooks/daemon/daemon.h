// cdn-hooks' daemon: every checks.interval_ms, one round of health checks fed to the state
// machine, its decision applied to the route backend (BIRD or ExaBGP), the status file written
// and systemd notified. Wakes at once when the watched edge process dies.
// Runs on the caller's thread until `stop` is set (by a signal handler).
#pragma once

#include <atomic>
#include <memory>

#include "bgp-hooks/config/node_config.h"
#include "bgp-hooks/policy/backend.h"

namespace anyedge::hooks {

// The route backend the config names: BIRD's include file and control socket, or ExaBGP's
// API lines on stdout.
std::unique_ptr<policy::RouteBackend> make_backend(const NodeConfig& config);

// Starts withdrawn and announces once the edge is healthy; on stop, withdraws or leaves the
// route as `withdraw_on_exit` says. Returns the process exit status.
int run_daemon(const NodeConfig& config, const std::atomic<bool>& stop);

}  // namespace anyedge::hooks
