// tls13_kdf: TLS 1.3's key derivation ("TLS13-KDF": HKDF-Extract and HKDF-Expand-Label,
// RFC 8446 §7.1) as an OpenSSL provider algorithm, with the same parameters as OpenSSL's own:
// mode (EXTRACT_ONLY or EXPAND_ONLY), digest, key, salt, prefix, label, data.
//
// Why: a full handshake runs about twenty derivations. OpenSSL 3.0's implementation fetches
// its digest and HMAC by name on each (name-map walks, locks, allocations): about 450 k
// instructions per connection, most of them not hashing (callgrind, README's bench section).
// How: the hashing is OpenSSL's HMAC (EVP_MAC "HMAC" of the default provider); each thread
// keeps one HMAC context per digest and re-keys it for every use, so nothing is fetched after
// a thread's first handshake.
// Invariants: keys, salts, intermediate secrets and context data are cleansed when released;
// the per-thread HMAC contexts are re-keyed empty after the OpenSSL call that used them.
#pragma once

#include <cstddef>
#include <string_view>

#include <openssl/core.h>

namespace anyedge::tls {

// The KDF's dispatch table, for a provider's OSSL_OP_KDF query under the name "TLS13-KDF".
extern const OSSL_DISPATCH kTls13KdfFunctions[];

// Re-keys this thread's HMAC contexts with an empty key, so that nothing of the secrets last
// derived from stays in them. OpenSSL's own implementation frees its contexts after every
// derivation; here TlsSession calls this after each OpenSSL call (a handshake step, or a read or
// write that carried a KeyUpdate): one HMAC key set-up per digest the thread used, nothing when
// it derived nothing since the last call.
void tls13_kdf_forget_keys();
bool tls13_kdf_holds_keys_on_this_thread();

// RFC 8446 §7.1's HkdfLabel: uint16 length, opaque label<7..255> (prefix + label), opaque
// context<0..255>. Written into out, which has room for kMaxHkdfLabelSize bytes; returns its
// size, 0 when a part is too long. The one encoding of it, for this KDF and the record layer.
constexpr std::size_t kMaxHkdfLabelSize = 2 + 1 + 255 + 1 + 255;
std::size_t hkdf_label(unsigned char* out, std::size_t length, std::string_view prefix,
                       std::string_view label, std::string_view context);

// Derivations this thread has made through kTls13KdfFunctions (so a test can tell which
// implementation libssl used).
unsigned long tls13_kdf_derivations_on_this_thread();

// Where this thread's derivations of the two application traffic secrets ("c ap traffic" and
// "s ap traffic", RFC 8446 §7.1) go while a ScopedApplicationSecretSink lives: the record layer
// takes its keys from them directly. OpenSSL's key-log callback would hand out the same two,
// but formats every secret of the handshake as hex text first (one sprintf per byte, 10% of a
// handshake's instructions).
struct ApplicationSecretSink {
    void (*take)(void* arg, bool client, const unsigned char* secret, std::size_t size) = nullptr;
    void* arg = nullptr;
};
class ScopedApplicationSecretSink {
  public:
    explicit ScopedApplicationSecretSink(ApplicationSecretSink sink);
    ~ScopedApplicationSecretSink();
    ScopedApplicationSecretSink(const ScopedApplicationSecretSink&) = delete;
    ScopedApplicationSecretSink& operator=(const ScopedApplicationSecretSink&) = delete;

  private:
    ApplicationSecretSink previous_;
};

}  // namespace anyedge::tls
