// `cdnctl drain` / `cdnctl undrain` against one edge's admin API (DESIGN.md "Drain, failure,
// and the route"). POST /drain makes the edge answer every response with `Connection: close`;
// the node is drained once nothing is in flight and no new connection has arrived for the
// edge's quiet period, which the edge itself reports as drain.state == "drained" in
// GET /status: {"drain": {"state", "in_flight", "open_connections", "last_accept_age_ms"}}.
//
// Blocking; call from one thread. The parsing and the "why not yet" wording are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "origin-sync/base/result.h"
#include "origin-sync/net/http_client.h"

namespace anyedge::replicate {

struct DrainStatus {
    std::string state;  // "serving", "draining", "drained"
    uint64_t in_flight = 0;
    uint64_t open_connections = 0;
    int64_t last_accept_age_ms = -1;  // -1: no connection accepted since the edge started
};

// Interprets GET /status (pure; exposed for tests).
Result<DrainStatus> parse_drain_status(const Result<net::HttpResponse>& r);

// Why a draining node is not drained yet, in an operator's words (pure).
std::string drain_blocker(const DrainStatus& s);

struct DrainOptions {
    std::string admin_url;
    std::string token_file;  // bearer token for the POSTs; empty: none
    std::chrono::milliseconds timeout{60000};
    std::chrono::milliseconds poll_interval{200};
    std::chrono::milliseconds request_timeout{3000};
};

struct DrainOutcome {
    bool drained = false;
    DrainStatus last;
    std::chrono::milliseconds elapsed{0};
    std::string why_not;  // set when not drained at the deadline
};

// POST /drain, then polls /status until "drained" or the timeout. `on_progress` is called
// after each poll. An error is returned only when the edge cannot be told or asked.
Result<DrainOutcome> drain_node(const DrainOptions& o,
                                const std::function<void(const DrainStatus&)>& on_progress);

// POST /undrain; returns the edge's drain state afterwards ("serving").
Result<std::string> undrain_node(const DrainOptions& o);

}  // namespace anyedge::replicate
