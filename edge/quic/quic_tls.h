// QuicTls: the TLS side of QUIC. Debian 12's OpenSSL 3.0 has no QUIC API, so QUIC's handshake
// runs on GnuTLS (through ngtcp2's crypto helper) while TCP keeps OpenSSL. Both load the same
// certificate and key files; a reload swaps the credentials for new handshakes only.
#pragma once

#include <memory>
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
    // among several credentials' names).
    static Result<std::shared_ptr<QuicTls>> load(const std::vector<CertificateFiles>& files);
    ~QuicTls();
    QuicTls(const QuicTls&) = delete;
    QuicTls& operator=(const QuicTls&) = delete;

    // The gnutls_certificate_credentials_t, opaque here so that callers need no GnuTLS header.
    void* credentials() const { return credentials_; }

  private:
    QuicTls() = default;
    void* credentials_ = nullptr;
};

}  // namespace anyedge::quic
