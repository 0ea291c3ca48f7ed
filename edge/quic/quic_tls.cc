#include "edge/quic/quic_tls.h"

#include <gnutls/gnutls.h>
#include <sodium.h>

namespace anyedge::quic {

namespace {

// 0-RTT data may be replayed; what makes that harmless here is that only GET and HEAD are
// answered from it (H3Responder, RFC 8470). GnuTLS's anti-replay still checks the ticket's
// age window; there is no store of seen tickets to add to.
int accept_early_data(void*, time_t, const gnutls_datum_t*, const gnutls_datum_t*) { return 0; }

// TLS 1.3 only (QUIC has nothing older); the suites and groups every QUIC stack offers.
constexpr char kPriority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1";

}  // namespace

Result<std::shared_ptr<QuicTls>> QuicTls::load(const std::vector<CertificateFiles>& files,
                                               std::span<const uint8_t> ticket_secret) {
    if (files.empty()) return make_error("QUIC: no certificate");
    std::shared_ptr<QuicTls> tls(new QuicTls());
    gnutls_certificate_credentials_t cred = nullptr;
    if (int rv = gnutls_certificate_allocate_credentials(&cred); rv != 0) {
        return make_error(std::string("QUIC: gnutls_certificate_allocate_credentials: ") +
                          gnutls_strerror(rv));
    }
    tls->credentials_ = cred;
    for (const CertificateFiles& f : files) {
        const int rv = gnutls_certificate_set_x509_key_file(cred, f.cert.c_str(), f.key.c_str(),
                                                            GNUTLS_X509_FMT_PEM);
        if (rv < 0) {
            return make_error("QUIC: loading " + f.cert + " and " + f.key + ": " +
                              gnutls_strerror(rv));
        }
    }
    gnutls_priority_t priority = nullptr;
    if (int rv = gnutls_priority_init(&priority, kPriority, nullptr); rv != 0) {
        return make_error(std::string("QUIC: gnutls_priority_init: ") + gnutls_strerror(rv));
    }
    tls->priority_ = priority;
    // GnuTLS wants a 64-byte master key for tickets; a fleet secret of any length is hashed to
    // one, so every node derives the same ticket keys.
    tls->ticket_key_.data = static_cast<unsigned char*>(gnutls_malloc(64));
    if (tls->ticket_key_.data == nullptr) return make_error("QUIC: out of memory");
    tls->ticket_key_.size = 64;
    if (ticket_secret.empty()) {
        randombytes_buf(tls->ticket_key_.data, 64);
    } else {
        static constexpr char kLabel[] = "anyedge quic session tickets";
        crypto_generichash(tls->ticket_key_.data, 64, ticket_secret.data(), ticket_secret.size(),
                           reinterpret_cast<const unsigned char*>(kLabel), 32);
    }
    return tls;
}

AntiReplay::AntiReplay() {
    gnutls_anti_replay_t ar = nullptr;
    if (gnutls_anti_replay_init(&ar) == 0) {
        gnutls_anti_replay_set_add_function(ar, accept_early_data);
        anti_replay_ = ar;
    }
}

AntiReplay::~AntiReplay() {
    if (anti_replay_ != nullptr) {
        gnutls_anti_replay_deinit(static_cast<gnutls_anti_replay_t>(anti_replay_));
    }
}

QuicTls::~QuicTls() {
    if (priority_ != nullptr) gnutls_priority_deinit(static_cast<gnutls_priority_t>(priority_));
    if (ticket_key_.data != nullptr) {
        sodium_memzero(ticket_key_.data, ticket_key_.size);
        gnutls_free(ticket_key_.data);
    }
    if (credentials_ != nullptr) {
        gnutls_certificate_free_credentials(
            static_cast<gnutls_certificate_credentials_t>(credentials_));
    }
}

}  // namespace anyedge::quic
