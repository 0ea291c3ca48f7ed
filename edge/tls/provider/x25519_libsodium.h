// x25519_libsodium: X25519 key generation and key agreement by libsodium, as OpenSSL provider
// algorithms (key management and key exchange "X25519"), offered by crypto_provider.h so that
// libssl's TLS 1.3 key share and TLS 1.2 ECDHE use them.
//
// Why: a full handshake makes one X25519 key pair and one shared secret, the largest single
// cost of a new TLS connection. Debian 12's OpenSSL 3.0 makes the key pair with its portable
// C code; libsodium's constant-time implementation does each of the two operations in less
// time on x86-64 (numbers in README's bench section). A key pair is made when a handshake
// asks for one, never before.
// Invariants: private keys are cleansed when freed; a shared secret of all zeros (a
// small-order peer key, RFC 7748 §6.1) fails the derivation, as OpenSSL's own does.
// Threads: the functions are reentrant once x25519_libsodium_init() has returned true.
#pragma once

#include <openssl/core.h>

namespace anyedge::tls {

extern const OSSL_DISPATCH kX25519KeymgmtFunctions[];
extern const OSSL_DISPATCH kX25519KeyexchFunctions[];

// libsodium's one-time set-up; false if it failed.
bool x25519_libsodium_init();

// Announces the x25519 TLS group (a provider's "TLS-GROUP" capability): libssl offers a group
// only through the provider whose key management it fetches for it.
int announce_x25519_tls_group(OSSL_CALLBACK* cb, void* arg);

}  // namespace anyedge::tls
