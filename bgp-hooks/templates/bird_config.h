// BIRD 2 configuration rendering for an edge node and its upstream routers (pure: text out).
//
// The edge config: static routes for the anycast prefixes (the addresses themselves sit on
// lo), eBGP to each upstream with `import none`, an export filter that reads DRAIN from the
// cdn-hooks state file, BFD, hold 3 / keepalive 1, and graceful restart off (a crashed edge
// must leave the routers' tables at once: BIRD-NOTES pitfall 1).
// The upstream snippet: accept only the anycast prefixes from an edge and honour
// GRACEFUL_SHUTDOWN (RFC 8326 section 4.2: local-pref 0 on 65535:0).
#pragma once

#include <string>

#include "bgp-hooks/config/node_config.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

// Needs bird.router_id, bird.local_as and at least one upstream.
Result<std::string> render_edge_bird_config(const NodeConfig& c);

// The filter (and a commented session example) to paste into an upstream router's BIRD config.
std::string render_upstream_snippet(const NodeConfig& c);

}  // namespace anyedge::hooks
