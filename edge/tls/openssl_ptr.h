// openssl_ptr: unique_ptr owners for the OpenSSL objects edge/tls holds, plus the one helper
// that turns OpenSSL's thread-local error queue into a message.
//
// Invariants: every OpenSSL object owned by edge/tls is held by one of these; nothing frees one
// by hand.
// Threads: any (the error queue is per thread).
#pragma once

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace anyedge::tls {

struct SslDeleter {
    void operator()(SSL* p) const { SSL_free(p); }
};
struct SslCtxDeleter {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct BioDeleter {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct EvpPkeyDeleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
    void operator()(X509* p) const { X509_free(p); }
};

using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// "<what>: <first queued OpenSSL error>" and clears the queue. For control-plane messages
// (configuration, certificate loading), not for the per-connection path.
std::string openssl_error(const std::string& what);

}  // namespace anyedge::tls
