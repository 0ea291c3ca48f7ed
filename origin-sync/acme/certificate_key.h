// The served certificate's key and its CSR (RFC 2986), made by the issuer for one order.
// The key exists in the issuer's memory only until it has been sealed to every node (see
// cert_bundle.h): CertificateKey wipes it when destroyed, and the CA only ever sees the CSR.
#pragma once

#include <string>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::acme {

class CertificateKey {
  public:
    // A fresh ECDSA P-256 key and a CSR naming `names` (subjectAltName dNSName; the first is
    // also the subject CN).
    static Result<CertificateKey> generate(const std::vector<std::string>& names);
    CertificateKey(CertificateKey&&) noexcept = default;
    CertificateKey& operator=(CertificateKey&&) noexcept = default;
    ~CertificateKey();

    const std::string& private_pem() const { return private_pem_; }
    const std::string& csr_der() const { return csr_der_; }
    const std::string& public_pem() const { return public_pem_; }
    // Wipes the private key now (the object keeps the CSR and the public key).
    void forget_private_key();

  private:
    CertificateKey() = default;
    std::string private_pem_, csr_der_, public_pem_;
};

// Facts of a certificate chain's leaf, for renewal and for checks.
struct LeafInfo {
    std::string serial_hex;
    int64_t not_before = 0;  // Unix seconds
    int64_t not_after = 0;
    std::vector<std::string> dns_names;
    std::string public_pem;  // the leaf's SubjectPublicKeyInfo
};
Result<LeafInfo> read_leaf(const std::string& chain_pem);

// OK when `key_pem` is the private key of the chain's leaf.
Status check_key_matches(const std::string& chain_pem, const std::string& key_pem);

}  // namespace anyedge::acme
