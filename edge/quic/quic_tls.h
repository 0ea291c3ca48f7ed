// QuicTls: the TLS side of QUIC. Debian 12's OpenSSL 3.0 has no QUIC API, so QUIC's handshake
// runs on GnuTLS (through ngtcp2's crypto helper) while TCP keeps OpenSSL. Both load the same
// certificate and key files; a reload swaps the credentials for new handshakes only.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::quic {

struct CertificateFiles {
    std::string cert;  // PEM chain
    std::string key;   // PEM private key
};

class QuicTls {
  public:
    // Loads every pair (the first is the default; others are chosen by SNI, as GnuTLS does
    // among several credentials' names). ticket_secret: the fleet's session-ticket secret, so
    // that a client resumes (and sends 0-RTT) on any node; empty: a random one, this process
    // only.
    static Result<std::shared_ptr<QuicTls>> load(const std::vector<CertificateFiles>& files,
                                                 std::span<const uint8_t> ticket_secret = {});
    ~QuicTls();
    QuicTls(const QuicTls&) = delete;
    QuicTls& operator=(const QuicTls&) = delete;

    // The gnutls_certificate_credentials_t, opaque here so that callers need no GnuTLS header.
    void* credentials() const { return credentials_; }
    // The gnutls_priority_t every session uses: parsed once, not per handshake.
    void* priority() const { return priority_; }
    // The gnutls_datum_t master key of session tickets (GnuTLS rotates keys derived from it).
    const void* ticket_key() const { return &ticket_key_; }

  private:
    QuicTls() = default;
    void* credentials_ = nullptr;
    void* priority_ = nullptr;
    struct {
        unsigned char* data = nullptr;
        unsigned int size = 0;
    } ticket_key_;
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
