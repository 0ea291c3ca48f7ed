#include "edge/quic/quic_tls.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <gnutls/crypto.h>
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

// GnuTLS 3.7 (lib/stek.c) derives a session's ticket key from its master as
// SHA3-512(be64(period) || master), period = Unix time / (3 x its 6-hour ticket lifetime); the
// first 16 bytes name the key in every ticket, and tickets of this period and the one before
// are accepted. The same derivation here tells which file key made a ticket.
constexpr std::int64_t kGnutlsTicketPeriod = 3 * 21600;

std::array<uint8_t, 16> gnutls_ticket_key_name(const unsigned char* master, std::int64_t period) {
    std::array<uint8_t, 8 + 64> in{};
    for (int i = 0; i < 8; ++i) in[size_t(i)] = uint8_t(uint64_t(period) >> (56 - 8 * i));
    std::memcpy(in.data() + 8, master, 64);
    std::array<uint8_t, 64> out{};
    std::array<uint8_t, 16> name{};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA3_512, in.data(), in.size(), out.data()) == 0) {
        std::copy_n(out.begin(), name.size(), name.begin());
    }
    sodium_memzero(in.data(), in.size());
    sodium_memzero(out.data(), out.size());
    return name;
}

}  // namespace

struct QuicTls::Master {
    const tls::TicketKey* key = nullptr;  // its file key; null: this process's random master
    gnutls_datum_t datum{nullptr, 0};     // 64 bytes, gnutls_malloc'd
};

QuicTls::QuicTls() = default;

const void* QuicTls::ticket_master_for_new(std::int64_t now) const {
    if (ticket_keys_ == nullptr) return masters_.empty() ? nullptr : &masters_.front().datum;
    const tls::TicketKey* current = ticket_keys_->encryption_key(now);
    for (const Master& m : masters_) {
        if (m.key == current && current != nullptr) return &m.datum;
    }
    return nullptr;
}

const void* QuicTls::ticket_master_of(std::span<const uint8_t> ticket, std::int64_t now) const {
    if (ticket.size() < 16) return nullptr;
    const std::int64_t period = now / kGnutlsTicketPeriod;
    for (const Master& m : masters_) {
        if (m.key != nullptr && !m.key->decrypts_at(now)) continue;
        for (const std::int64_t p : {period, period - 1}) {
            const std::array<uint8_t, 16> name = gnutls_ticket_key_name(m.datum.data, p);
            if (std::equal(name.begin(), name.end(), ticket.begin())) return &m.datum;
        }
    }
    return nullptr;
}

Result<std::shared_ptr<QuicTls>> QuicTls::load(
    const std::vector<CertificateFiles>& files,
    std::shared_ptr<const tls::TicketKeyRing> ticket_keys) {
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
    // A master per file key, hashed from its bytes: every node derives the same ones.
    tls->ticket_keys_ = std::move(ticket_keys);
    const size_t count = tls->ticket_keys_ ? tls->ticket_keys_->size() : 1;
    for (size_t i = 0; i < count; ++i) {
        Master m;
        m.datum.data = static_cast<unsigned char*>(gnutls_malloc(64));
        if (m.datum.data == nullptr) return make_error("QUIC: out of memory");
        m.datum.size = 64;
        tls->masters_.push_back(m);
        if (!tls->ticket_keys_) {
            randombytes_buf(m.datum.data, 64);
            continue;
        }
        const tls::TicketKey& key = tls->ticket_keys_->keys()[i];
        tls->masters_.back().key = &key;
        std::array<unsigned char, 80> secret{};
        auto out = std::copy(key.name.begin(), key.name.end(), secret.begin());
        out = std::copy(key.hmac_key.begin(), key.hmac_key.end(), out);
        std::copy(key.aes_key.begin(), key.aes_key.end(), out);
        static constexpr char kLabel[] = "anyedge quic session tickets";
        crypto_generichash(m.datum.data, 64, secret.data(), secret.size(),
                           reinterpret_cast<const unsigned char*>(kLabel), 32);
        sodium_memzero(secret.data(), secret.size());
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
    for (Master& m : masters_) {
        sodium_memzero(m.datum.data, m.datum.size);
        gnutls_free(m.datum.data);
    }
    if (credentials_ != nullptr) {
        gnutls_certificate_free_credentials(
            static_cast<gnutls_certificate_credentials_t>(credentials_));
    }
}

}  // namespace anyedge::quic
