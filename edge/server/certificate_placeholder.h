// A node that takes its certificate from the fleet's issuer (acme_thumbprint set) may start
// before its first certificate has arrived: cdn-sync writes it to the configured cert/key files
// later. Until then a self-signed placeholder is written there, so the edge serves (and
// answers the CA's HTTP-01 challenges) and picks up the real certificate with the reload
// cdn-sync asks for. Without acme_thumbprint a missing file stays a startup error, as a typo
// must be.
#pragma once

#include <functional>
#include <string>

#include "edge/server/config.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

// For each cert/key pair of `cfg` whose two files are both absent, when cfg.acme_thumbprint is
// set: a self-signed ECDSA certificate for `node_name` (and localhost) written there (key
// 0600). One file present without the other is left alone (loading then says which is
// missing). `log` hears each placeholder made.
Status write_placeholder_certificates(const EdgeConfig& cfg,
                                      const std::function<void(const std::string&)>& log);

}  // namespace anyedge::server
