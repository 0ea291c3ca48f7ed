#include "edge/quic/quic_tls.h"

#include <gnutls/gnutls.h>

namespace anyedge::quic {

Result<std::shared_ptr<QuicTls>> QuicTls::load(const std::vector<CertificateFiles>& files) {
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
    return tls;
}

QuicTls::~QuicTls() {
    if (credentials_ != nullptr) {
        gnutls_certificate_free_credentials(
            static_cast<gnutls_certificate_credentials_t>(credentials_));
    }
}

}  // namespace anyedge::quic
