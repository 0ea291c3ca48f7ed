#include "edge/server/quic_tls_files.h"

#include "edge/tls/ticket_keys.h"

namespace anyedge::server {

Result<std::shared_ptr<quic::QuicTls>> load_quic_tls(
    const std::vector<quic::CertificateFiles>& certificates, const std::string& ticket_key_file) {
    std::shared_ptr<const tls::TicketKeyRing> ring;
    if (!ticket_key_file.empty()) {
        auto keys = tls::load_ticket_key_file(ticket_key_file);
        if (!keys) return keys.forward_error();
        ring = std::make_shared<const tls::TicketKeyRing>(std::move(*keys));
    }
    return quic::QuicTls::load(certificates, std::move(ring));
}

}  // namespace anyedge::server
