// tls_context: the server-side TLS configuration shared by every connection of the process.
//
// Owns: one SSL_CTX per certificate name-set (SNI switches the handshake to it with
// SSL_set_SSL_CTX), protocol and cipher policy, ALPN selection, and the session-ticket key ring.
// Policy (Mozilla "intermediate"): TLS 1.2 and 1.3 only; for 1.2 only ECDHE key exchange with
// AES-GCM or ChaCha20-Poly1305 (no CBC, no RSA key exchange, no SHA-1 MACs, no DHE since no
// DH parameters are shipped); the three TLS 1.3 suites; groups X25519, P-256, P-384; the
// client's cipher preference (intermediate: every suite is strong); no renegotiation; no
// compression. Resumption is by stateless tickets only (no server session cache), so that a
// ticket issued by one process or node resumes on any other that shares the key file.
// Invariants: after create() the policy is immutable; the certificate set and the ticket key
// ring are immutable objects, each swapped whole under a mutex that is taken once per
// connection (certificates) or per ticket (keys).
// Threads: one TlsContext serves any number of threads; reload_certificates() and
// reload_ticket_keys() may run on any thread at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "edge/tls/openssl_ptr.h"
#include "edge/tls/provider/crypto_provider.h"
#include "edge/tls/record_layer.h"
#include "edge/tls/ticket_keys.h"
#include "origin-sync/base/result.h"

namespace anyedge::tls {

// One generation of certificates: an SSL_CTX per name set and the SNI maps into them
// (defined in tls_context.cc). A connection holds the set it started with, so a reload never
// frees what a running handshake's SNI callback reads.
struct CertificateSet;

struct CertificateConfig {
    std::string cert_path;  // PEM: the leaf first, then intermediates
    std::string key_path;   // PEM private key (ECDSA P-256/P-384 or RSA)
    // SNI names this certificate serves: exact names or "*.example.com" (matches exactly one
    // label). Empty: the certificate's own dNSName entries (its CN when it has none).
    std::vector<std::string> names;
    // Shown in /status and /metrics instead of cert_path: for a certificate whose file is
    // gone once loaded (the self-signed one made at start).
    std::string label = {};
};

struct TlsConfig {
    // At least one. Certificates with the same name set share one SSL_CTX, which is how an
    // ECDSA and an RSA certificate serve the same names (OpenSSL picks by what the client
    // supports). The first certificate's set is the default, used without SNI or for an
    // unknown name.
    std::vector<CertificateConfig> certificates;
    // ALPN protocols in server preference order (RFC 7301). A client offering ALPN with none
    // of them gets the no_application_protocol alert (§3.2); empty disables ALPN.
    std::vector<std::string> alpn = {"http/1.1"};
    // Shared ticket key file (format in edge/tls/ticket_keys.h). Empty: one random key for this
    // process, so resumption works only against this process.
    std::string ticket_key_file;
    // NewSessionTicket messages per TLS 1.3 handshake; 0 disables tickets. One is enough for
    // clients that use a ticket once (RFC 8446 §C.4) and halves the work of the default two.
    int tickets_per_handshake = 1;
    // true: the suite is chosen by our order (AES-128-GCM first, whose SHA-256 key schedule and
    // record protection cost least on CPUs with AES and SHA instructions), except that a client
    // listing ChaCha20-Poly1305 first gets it (SSL_OP_PRIORITIZE_CHACHA: phones without AES
    // hardware). false: the client's order, as Mozilla's profile suggests. Every suite offered
    // is one of the same strong set either way.
    bool server_cipher_preference = true;
    // Ticket lifetime hint and the oldest session accepted for resumption (RFC 8446 §4.6.1
    // caps it at 7 days).
    long session_lifetime_seconds = 7200;
    // X25519 (the key exchange nearly every client offers first) by libsodium through
    // crypto_provider.h: less CPU per full handshake. false: OpenSSL's own implementation.
    bool x25519_by_libsodium = true;
    // TLS 1.3's key derivation by crypto_provider.h's TLS13-KDF (OpenSSL's HMAC, contexts kept
    // per thread): less CPU per handshake. false: OpenSSL's own, which fetches per derivation.
    bool tls13_kdf_by_anyedge = true;
    // Time source for ticket key windows (Unix seconds); empty: the system clock. For tests.
    std::function<std::int64_t()> clock;
};

// What /status and /metrics say about a loaded certificate (operators alert on not_after).
struct CertificateInfo {
    std::string file;                // the certificate file it was read from
    std::vector<std::string> names;  // the SNI names it serves, normalized
    std::string key_type;            // "EC" or "RSA"
    std::int64_t not_before = 0;     // Unix seconds
    std::int64_t not_after = 0;      // Unix seconds
};

// Certificate reloads so far; the last error is the most recent failure's, cleared by success.
struct CertificateReloads {
    std::uint64_t reloads = 0;
    std::uint64_t failures = 0;
    std::string last_error;
};

struct TlsCounters {
    std::uint64_t handshakes = 0;          // completed, full and resumed
    std::uint64_t resumed = 0;             // completed by resuming a ticket
    std::uint64_t handshake_failures = 0;  // failed before completion
};

class TlsContext {
  public:
    // Loads certificates and keys, checks that each key matches its certificate, loads the
    // ticket keys. Startup: every error is returned with the file it concerns.
    static Result<std::unique_ptr<TlsContext>> create(TlsConfig config);

    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    // A new server-side SSL for one connection (accept state set), or nullptr on allocation
    // failure. `certificates` receives the certificate set it was made from: keep it as long
    // as the SSL. The callbacks also use this object: it must outlive every SSL it made.
    SslPtr new_ssl(std::shared_ptr<const CertificateSet>& certificates) const;

    // Re-reads every certificate and key file and swaps the new set in for new connections;
    // connections already open keep theirs. On any error (unreadable file, key that does not
    // match, a certificate mid-renewal) the current set stays and the error is returned.
    Status reload_certificates();
    // The certificates new connections get, and how reloading them has gone.
    std::vector<CertificateInfo> certificate_info() const;
    CertificateReloads certificate_reloads() const;

    // Re-reads config.ticket_key_file and swaps the ring in; handshakes already running keep
    // the ring they started with. On error the current keys stay and the error is returned.
    Status reload_ticket_keys();
    // Replaces the ring with the given keys (tests, tooling). At least one key.
    Status set_ticket_keys(std::vector<TicketKey> keys);

    // Called by TlsSession when a handshake completes or fails.
    void note_handshake(bool resumed);
    void note_handshake_failure();
    TlsCounters counters() const;

    // The SSL_CTX for a server name, as the SNI callback resolves it (case-insensitive exact
    // match, then "*.<parent>", then the default), in the current set. For tests and
    // diagnostics: valid until the next reload_certificates().
    SSL_CTX* context_for_name(std::string_view server_name) const;
    SSL_CTX* default_context() const;

    std::int64_t now() const;

    // The TLS 1.3 suites' algorithms for sessions that protect their own records.
    const RecordAlgorithms& record_algorithms() const { return *records_; }

  private:
    explicit TlsContext(TlsConfig config);

    Result<std::shared_ptr<const CertificateSet>> load_certificates();
    Status configure(SSL_CTX* ctx, const CertificateSet* set);
    std::shared_ptr<const CertificateSet> certificates() const;
    std::shared_ptr<const TicketKeyRing> ticket_keys() const;

    static int on_servername(SSL* ssl, int* alert, void* arg);
    static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                       const unsigned char* in, unsigned int inlen, void* arg);
    static int on_ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

    TlsConfig config_;
    std::vector<std::string> alpn_;  // validated protocol names

    mutable std::mutex certs_mutex_;
    std::shared_ptr<const CertificateSet> certs_;
    CertificateReloads cert_reloads_;  // under certs_mutex_

    mutable std::mutex keys_mutex_;
    std::shared_ptr<const TicketKeyRing> keys_;

    std::atomic<std::uint64_t> handshakes_{0};
    std::atomic<std::uint64_t> resumed_{0};
    std::atomic<std::uint64_t> failures_{0};

    EVP_CIPHER* ticket_cipher_ = nullptr;  // AES-256-CBC, owned
    // For SSL_CTX_new_ex: which provider's algorithms libssl prefers (empty: OpenSSL's).
    CryptoLibrary crypto_;                       // where SSL_CTXs fetch their algorithms
    std::unique_ptr<RecordAlgorithms> records_;  // fetched from crypto_'s library
};

}  // namespace anyedge::tls
