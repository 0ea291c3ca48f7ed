// QUIC's TLS from the node's files: the same certificate pairs as TCP's, and session tickets
// keyed from the fleet's ticket-key file and following its windows as TCP's do, so that a
// client resumes, and sends 0-RTT, on any node. Used at start and by every TLS reload.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edge/quic/quic_tls.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

Result<std::shared_ptr<quic::QuicTls>> load_quic_tls(
    const std::vector<quic::CertificateFiles>& certificates, const std::string& ticket_key_file);

}  // namespace anyedge::server
