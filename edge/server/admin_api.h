// AdminApi: the node's control endpoint, served on its own listener (loopback TCP or a unix
// socket, never the public addresses) by its own worker, so a slow reload never stalls the
// data path. JSON in and out (nlohmann/json).
//
//   GET  /healthz   200 {"status":"ok","generation":N} while serving; 503 while stopping
//   GET  /status    node, live generation and its age, connections, drain state, counters
//   GET  /metrics   the same counters in Prometheus text format
//   POST /reload    switch to the state directory's current generation (or re-read the site)
//   POST /drain     every response says "Connection: close"; drain progress shows in /status
//   POST /undrain   back to normal (also ends a SYN hold at once)
//   POST /hold-syn?ms=N  for N ms (1..10000) the public listeners drop new connection attempts
//                   (bare SYNs; see syn_hold.h), established connections go on; ends by itself
// POSTs need "Authorization: Bearer <token>" when a token is configured (TCP listeners).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/server/http_session.h"
#include "edge/server/shared_state.h"
#include "edge/server/syn_hold.h"
#include "edge/tls/tls_context.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

struct AdminOptions {
    std::string node_name;
    std::string token;      // empty: POSTs need no token
    std::string state_dir;  // when set, /status includes STATE/sync-status.json
    // cdn-hooks' status file: its "forwarding" object (stray forwarding's state and per-peer
    // counters) is passed through in /status and /metrics. Empty: not reported.
    std::string hooks_status;
    uint32_t drain_quiet_ms = 2000;  // drained: no new connection for this long, none in flight
    // ... and no connection open, or this long since the drain began. With stray forwarding
    // a connection open on a node whose route has gone still works (its packets come back
    // through a peer), so the node keeps it until it ends, within this bound.
    uint32_t drain_linger_ms = 30000;
    std::function<Result<uint64_t>()> reload;  // loads and publishes; returns the generation
    // Every public (HTTP and TLS) listening socket of every worker, for POST /hold-syn; never
    // the admin listener. Duplicated: the caller keeps its fds.
    std::vector<int> public_listeners;
    // When TLS is on: its certificates (names, expiry) and reload outcomes in /status and
    // /metrics. Outlives the API.
    const tls::TlsContext* tls = nullptr;
    // The QUIC forwarding peers' node IDs, in the workers' per-peer counter order.
    std::vector<uint16_t> quic_peers;
};

// The value of ms= in a /hold-syn target: 1..kMaxSynHoldMs, else an error saying what is wanted.
inline constexpr uint32_t kMaxSynHoldMs = 10000;
Result<uint32_t> parse_hold_syn_ms(std::string_view target);

class AdminApi final : public RequestHandler {
  public:
    AdminApi(AdminOptions options, SharedState& shared, std::vector<const WorkerCounters*> workers);

    ResponseInfo handle(const http::Request& request, const cache::Snapshot& snapshot,
                        const ResponseContext& context, ResponseSink& out) override;

    // The JSON documents, also used by tests.
    std::string status_json() const;
    std::string metrics_text() const;
    // Gauges from cdn-sync's certificate report (install state, the issuer's last attempt).
    void append_certificate_sync_metrics(std::string& out) const;
    void append_forwarding_metrics(std::string& out) const;
    std::string drain_state() const;  // "serving", "draining", "drained"

  private:
    // Why the node is not healthy ("stopping", "no generation yet"), or nullptr when it is:
    // the one rule behind GET /healthz and /status "healthy".
    const char* health(const cache::Snapshot* live) const;
    struct Totals {
        uint64_t accepted = 0, open = 0, requests = 0, s2xx = 0, s3xx = 0, s4xx = 0, s5xx = 0;
        uint64_t bytes = 0, in_flight = 0, tls_handshakes = 0, tls_resumed = 0;
        uint64_t requests_h2 = 0, requests_h3 = 0, h3_too_early = 0;
        uint64_t quic_open = 0, quic_opened = 0, quic_in = 0, quic_out = 0;
        uint64_t quic_garbage = 0, quic_other_node = 0, quic_unknown = 0, quic_resets = 0;
        uint64_t quic_vn = 0, quic_retries = 0, quic_invalid_tokens = 0, h3_header_timeouts = 0,
                 quic_resumed = 0;
        uint64_t quic_streams_open = 0;
        uint64_t quic_forwarded = 0, quic_from_peers = 0, quic_forward_refused = 0;
        std::array<uint64_t, 16> quic_forwarded_to{};
        int64_t last_accept_ms = 0;
    };
    Totals totals() const;

    AdminOptions options_;
    SharedState& shared_;
    std::vector<const WorkerCounters*> workers_;
    int64_t started_ = 0;
    std::atomic<int64_t> drain_started_ms_{0};
    std::atomic<uint64_t> reloads_{0}, reload_failures_{0};
    std::string last_reload_error_;
    std::unique_ptr<SynHold> syn_hold_;
};

}  // namespace anyedge::server
