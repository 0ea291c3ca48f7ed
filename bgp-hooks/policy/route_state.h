// The desired state of the anycast route and the small file that carries it into BIRD.
//
// Encoding (read by the export filter in bgp-hooks/templates/bird-edge.conf):
//   define DRAIN = 0;   announce normally
//   define DRAIN = 1;   de-prefer: AS-path prepend and/or community (configured in the template)
//   define DRAIN = 2;   tag GRACEFUL_SHUTDOWN 65535:0 (RFC 8326) so peers move away first
//   define DRAIN = 3;   withdraw (the export filter rejects the anycast prefixes)
// The state lives in a file, not in CLI `disable`, because BIRD's `configure` re-enables
// protocols disabled from the CLI (BIRD-NOTES pitfall 3); a file survives reloads and restarts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge::policy {

enum class RouteState : int { announce = 0, deprefer = 1, graceful_shutdown = 2, withdraw = 3 };

const char* to_string(RouteState s);
std::optional<RouteState> route_state_from_string(std::string_view s);

// The include file's full text. `reason` goes into a comment (sanitized to one line).
std::string render_state_file(RouteState s, std::string_view reason);
// Reads back the DRAIN value from a state file's text; nullopt when absent or malformed.
std::optional<RouteState> parse_state_file(std::string_view text);

}  // namespace anyedge::policy
