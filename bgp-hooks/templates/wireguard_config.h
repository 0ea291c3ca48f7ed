// The stray-forwarding tunnels as wg-quick files, one per forwarding peer (pure: text out), for
// `cdn-hooks render-wireguard`. Endpoints, keys and ports come from the node config, so the
// tunnels are set up from the same file as the forwarding that uses them.
#pragma once

#include <string>
#include <vector>

#include "bgp-hooks/config/node_config.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

struct WireguardFile {
    std::string interface;  // the file is INTERFACE.conf (wg-quick names the interface by it)
    std::string text;
};

// Needs forwarding.tunnel.private_key_file and, for every peer, endpoint, public_key and
// listen_port. The private key stays in its file: `wg set %i private-key FILE` reads it.
Result<std::vector<WireguardFile>> render_wireguard_configs(const NodeConfig& c);

}  // namespace anyedge::hooks
