// The QUIC forwarding peers of the node config ("NODE_ID=ADDR:PORT"), parsed once at start.
#pragma once

#include <string>
#include <vector>

#include "edge/quic/peer_forwarding.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

// Every entry names another node (not `self`) once, with a literal address and a port.
Result<quic::PeerAddresses> parse_forward_peers(const std::vector<std::string>& entries,
                                                uint16_t self);

}  // namespace anyedge::server
