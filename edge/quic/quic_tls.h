// QuicTls: the TLS side of QUIC. Debian 12's OpenSSL 3.0 has no QUIC API, so QUIC's handshake
// runs on GnuTLS (through ngtcp2's crypto helper) while TCP keeps OpenSSL. Both load the same
// certificate and key files; a reload swaps the credentials for new handshakes only.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edge/tls/ticket_keys.h"
#include "origin-sync/base/result.h"

namespace anyedge::quic {

struct CertificateFiles {
    std::string cert;  // PEM chain
    std::string key;   // PEM private key
};

class QuicTls {
  public:
    // Loads every pair (the first is the default; others are chosen by SNI, as GnuTLS does
    // among several credentials' names). ticket_keys: the fleet's ticket-key file, so that a
    // client resumes (and sends 0-RTT) on any node; null: a random key, this process only.
    static Result<std::shared_ptr<QuicTls>> load(
        const std::vector<CertificateFiles>& files,
        std::shared_ptr<const tls::TicketKeyRing> ticket_keys = nullptr);
    ~QuicTls();
    QuicTls(const QuicTls&) = delete;
    QuicTls& operator=(const QuicTls&) = delete;

    // The gnutls_certificate_credentials_t, opaque here so that callers need no GnuTLS header.
    void* credentials() const { return credentials_; }
    // The gnutls_priority_t every session uses: parsed once, not per handshake.
    void* priority() const { return priority_; }

    // Session tickets follow the key file's windows as TCP's do. A GnuTLS session takes one
    // 64-byte master key and derives its ticket keys from it; each file key gives one master.
    // Both return a gnutls_datum_t (opaque here), or nullptr.
    //
    // The master for new tickets at now (Unix seconds): that of the key whose window holds
    // now, by TCP's rule; nullptr when no window does (no tickets, as over TCP).
    const void* ticket_master_for_new(std::int64_t now) const;
    // The master that made `ticket` (a PSK identity from a ClientHello), among the keys whose
    // tickets are still accepted at now; nullptr if none did.
    const void* ticket_master_of(std::span<const uint8_t> ticket, std::int64_t now) const;

  private:
    struct Master;
    QuicTls();
    void* credentials_ = nullptr;
    void* priority_ = nullptr;
    std::shared_ptr<const tls::TicketKeyRing> ticket_keys_;
    std::vector<Master> masters_;  // one per ring key, in its order; or the random one
};

// The gnutls_anti_replay_t that 0-RTT needs, one per worker (GnuTLS updates its time window
// without a lock).
class AntiReplay {
  public:
    AntiReplay();
    ~AntiReplay();
    AntiReplay(const AntiReplay&) = delete;
    AntiReplay& operator=(const AntiReplay&) = delete;
    void* get() const { return anti_replay_; }

  private:
    void* anti_replay_ = nullptr;
};

// The QuicTls that new handshakes use; a reload replaces it while connections that started
// with the old one keep it. Shared by every worker.
class QuicTlsStore {
  public:
    explicit QuicTlsStore(std::shared_ptr<QuicTls> tls) : tls_(std::move(tls)) {}
    std::shared_ptr<QuicTls> get() const {
        std::lock_guard lock(mu_);
        return tls_;
    }
    void set(std::shared_ptr<QuicTls> tls) {
        std::lock_guard lock(mu_);
        tls_ = std::move(tls);
    }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<QuicTls> tls_;
};

}  // namespace anyedge::quic
