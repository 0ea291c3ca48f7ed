// Fleet convergence as seen from the edge admin API: `cdnctl status` and `publish --wait`.
// Each node's admin endpoint answers GET /status with JSON
// {"node": name, "generation": n, "generation_age_s": x, "healthy": bool, ...}; an optional
// "sync" object (cdn-sync's status file, relayed by the edge) adds the last sync error.
// Blocking; call from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "origin-sync/net/http_client.h"

namespace anyedge::replicate {

struct NodeStatus {
    std::string admin_url;
    bool reachable = false;
    std::string error;  // why it is unreachable or its answer unusable
    std::string node;
    uint64_t generation = 0;
    double generation_age_s = -1;
    bool healthy = false;
    std::string drain_state;   // "serving", "draining", "drained"; empty when not reported
    std::string reload_error;  // the edge's last failed /reload, if it is still failing
    // From the optional "sync" object (cdn-sync's sync-status.json relayed by the edge);
    // has_sync is false when the edge does not relay it (older edge, no --state).
    bool has_sync = false;
    std::string sync_state;  // "ok" or "error"
    std::string sync_error;
    uint64_t staged_generation = 0;
    bool stale = false;  // the signed `current` has expired: the node cannot reach the origin
    // Certificates: the earliest expiry the edge serves (0: no TLS), and from cdn-sync's
    // "certificate" object the install error and the fleet issuer's last error.
    int64_t cert_not_after = 0;
    std::string cert_error;
    std::string issuer_error;
    // Stray forwarding as cdn-hooks reports it (through the edge): "active", "degraded",
    // "failed", "off"; empty when the edge does not report it.
    std::string forwarding_state;
    std::string forwarding_detail;
};

// Interprets one node's answer (pure; exposed for tests).
NodeStatus parse_node_status(const std::string& admin_url, const Result<net::HttpResponse>& r);

NodeStatus fetch_node_status(const std::string& admin_url, std::chrono::milliseconds timeout);
std::vector<NodeStatus> fetch_fleet_status(const std::vector<std::string>& admin_urls,
                                           std::chrono::milliseconds timeout);

// Stray forwarding configured but not working fully (failed, degraded, or unreadable).
bool forwarding_failing(const NodeStatus& n);

// A fixed-width table: node, admin URL, generation, age, health, drain, sync, certificate
// expiry, forwarding, errors.
std::string format_status_table(const std::vector<NodeStatus>& nodes);

struct WaitOutcome {
    bool converged = false;
    std::vector<std::string> laggards;  // admin URLs not on `generation` at the deadline
    std::chrono::milliseconds elapsed{0};
};

// Polls every node until each reports generation >= `generation` or `timeout` passes.
// `on_progress(live, total)` is called after each round.
WaitOutcome wait_for_generation(const std::vector<std::string>& admin_urls, uint64_t generation,
                                std::chrono::milliseconds timeout,
                                std::chrono::milliseconds poll_interval,
                                const std::function<void(size_t, size_t)>& on_progress);

// The same loop for any condition: polls until `done` holds for every node or `timeout`.
WaitOutcome wait_for_nodes(const std::vector<std::string>& admin_urls,
                           const std::function<bool(const NodeStatus&)>& done,
                           std::chrono::milliseconds timeout,
                           std::chrono::milliseconds poll_interval,
                           const std::function<void(size_t, size_t)>& on_progress);

}  // namespace anyedge::replicate
