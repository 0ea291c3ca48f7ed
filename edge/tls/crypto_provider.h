// crypto_provider: anyedge's built-in OpenSSL provider, "anyedge". It offers two faster
// replacements for what a full TLS handshake spends most on, each chosen per SSL_CTX:
//   - X25519 key management and key exchange by libsodium (x25519_libsodium.h);
//   - TLS 1.3's key derivation with HMAC contexts kept per thread (tls13_kdf.h).
// How: the algorithms carry the properties "anyedge.x25519=yes" and "anyedge.tls13_kdf=yes";
// an SSL_CTX made with SSL_CTX_new_ex(..., crypto_property_query(...)) prefers the chosen ones
// ("?name=value" is a preference), and fetches everything else (other groups, certificates,
// signatures, ciphers, digests) from OpenSSL's default provider as before.
// Threads: loading happens once per process; the provider's functions are reentrant.
#pragma once

#include <string>

#include "origin-sync/content/result.h"

namespace anyedge::tls {

// The provider's name, as OSSL_PROVIDER_get0_name reports it.
inline constexpr const char* kCryptoProviderName = "anyedge";

struct CryptoChoices {
    bool x25519_by_libsodium = true;
    bool tls13_kdf_by_anyedge = true;
};

// Registers and loads the provider (and OpenSSL's default provider, which explicit loading
// would otherwise keep from loading itself) once per process, then returns the property query
// for SSL_CTX_new_ex: empty when nothing is chosen. An error says why libsodium or the
// provider could not be initialized.
Result<std::string> crypto_property_query(const CryptoChoices& choices);

}  // namespace anyedge::tls
