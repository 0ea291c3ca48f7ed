// x25519_provider: X25519 key generation and key agreement by libsodium, offered to OpenSSL as
// a built-in provider so that libssl's TLS 1.3 key share and TLS 1.2 ECDHE use it.
//
// Why: a full handshake makes one X25519 key pair and one shared secret, the largest single
// cost of a new TLS connection. Debian 12's OpenSSL 3.0 makes the key pair with its portable
// C code; libsodium's constant-time implementation does each of the two operations in less
// time on x86-64 (numbers in README's bench section). Everything else (other groups,
// certificates, signatures, ciphers) stays with OpenSSL's default provider.
// How: SSL_CTXs created with x25519_property_query() prefer this provider's "X25519" key
// management and key exchange ("?provider=..." is a preference, so any other algorithm is
// fetched from the default provider as before).
// Invariants: private keys are cleansed when freed; a shared secret of all zeros (a
// small-order peer key, RFC 7748 §6.1) fails the derivation, as OpenSSL's own does.
// Threads: loading happens once per process; the provider's functions are reentrant.
#pragma once

#include <string>

#include "origin-sync/content/result.h"

namespace anyedge::tls {

// The provider's name, as in "provider=anyedge-x25519".
inline constexpr const char* kX25519ProviderName = "anyedge-x25519";

// Registers and loads the provider (and OpenSSL's default provider, which explicit loading
// would otherwise keep from loading itself) once per process. Returns the property query for
// SSL_CTX_new_ex, or why libsodium or the provider could not be initialized.
Result<std::string> x25519_property_query();

}  // namespace anyedge::tls
