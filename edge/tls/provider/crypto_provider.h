// crypto_provider: anyedge's built-in OpenSSL provider, "anyedge". It offers two faster
// replacements for what a full TLS handshake spends most on, each chosen per SSL_CTX:
//   - X25519 key management and key exchange by libsodium (x25519_libsodium.h);
//   - TLS 1.3's key derivation with HMAC contexts kept per thread (tls13_kdf.h).
// How: the provider lives in a library context of its own (OSSL_LIB_CTX), beside an instance of
// OpenSSL's default provider, so nothing else in the process (the HTTP client, signing, tests'
// clients) can fetch its algorithms by accident. Its algorithms carry the properties
// "anyedge.x25519=yes" and "anyedge.tls13_kdf=yes"; an SSL_CTX made with
// SSL_CTX_new_ex(library.libctx, library.property_query, ...) prefers the chosen ones
// ("?name=value" is a preference) and fetches everything else (other groups, certificates,
// signatures, ciphers, digests) from the default provider of that context.
// Threads: the context is made once per process; the provider's functions are reentrant.
#pragma once

#include <string>

#include <openssl/types.h>

#include "origin-sync/base/result.h"

namespace anyedge::tls {

// The provider's name, as OSSL_PROVIDER_get0_name reports it.
inline constexpr const char* kCryptoProviderName = "anyedge";

struct CryptoChoices {
    bool x25519_by_libsodium = true;
    bool tls13_kdf_by_anyedge = true;
};

struct CryptoLibrary {
    OSSL_LIB_CTX* libctx = nullptr;  // null: OpenSSL's default context (nothing chosen)
    std::string property_query;      // for SSL_CTX_new_ex and fetches; may be empty
};

// Makes the library context (once per process; it lives until exit) and returns it with the
// property query for the choices. An error says why libsodium or the provider could not be
// initialized.
Result<CryptoLibrary> crypto_library(const CryptoChoices& choices);

}  // namespace anyedge::tls
