// self_signed: certificates made on the spot, for the out-of-the-box run command (no certificate
// configured -> https://127.0.0.1:8443/ still works) and for tests.
//
// Invariants: keys come from the OpenSSL CSPRNG; written key files are mode 0600 and appear
// atomically (temporary file, fsync, rename).
// Threads: any; control plane only (key generation is slow for RSA).
#pragma once

#include <span>
#include <string>

#include "origin-sync/base/result.h"

namespace anyedge::tls {

enum class KeyType { ecdsa_p256, rsa2048 };

struct CertificatePem {
    std::string certificate;  // PEM "CERTIFICATE"
    std::string private_key;  // PEM "PRIVATE KEY" (PKCS#8, unencrypted)
};

// A self-signed end-entity certificate (X.509 v3, SHA-256, serverAuth) whose subjectAltName
// lists every name: IPv4/IPv6 literals as iPAddress, everything else as dNSName (wildcards such
// as "*.example.com" included). CN is the first name. Valid from an hour ago for valid_days.
Result<CertificatePem> make_self_signed(KeyType type, std::span<const std::string> names,
                                        int valid_days = 365);

// Writes an ECDSA P-256 self-signed certificate for localhost, 127.0.0.1, ::1 and `hostnames`
// to cert_path and its key to key_path (0600), replacing existing files.
Status generate_self_signed(const std::string& cert_path, const std::string& key_path,
                            std::span<const std::string> hostnames = {});

}  // namespace anyedge::tls
