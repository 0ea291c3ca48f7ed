#include "edge/server/quic_tls_files.h"

#include <time.h>

#include <span>

#include "edge/tls/ticket_keys.h"

#include <sodium.h>

namespace anyedge::server {

Result<std::shared_ptr<quic::QuicTls>> load_quic_tls(
    const std::vector<quic::CertificateFiles>& certificates, const std::string& ticket_key_file) {
    std::vector<uint8_t> secret;
    if (!ticket_key_file.empty()) {
        auto keys = tls::load_ticket_key_file(ticket_key_file);
        if (!keys) return keys.forward_error();
        const tls::TicketKeyRing ring(std::move(*keys));
        if (const tls::TicketKey* k = ring.encryption_key(time(nullptr))) {
            for (auto part : {std::span<const unsigned char>(k->name),
                              std::span<const unsigned char>(k->hmac_key),
                              std::span<const unsigned char>(k->aes_key)}) {
                secret.insert(secret.end(), part.begin(), part.end());
            }
        }
    }
    auto tls = quic::QuicTls::load(certificates, secret);
    sodium_memzero(secret.data(), secret.size());
    return tls;
}

}  // namespace anyedge::server
