// traffic_secrets: the application traffic secrets of a TLS 1.3 handshake that OpenSSL runs,
// caught as our own TLS13-KDF derives them (CatchFromKdf), or from OpenSSL's key-log callback
// (the one public way OpenSSL 3.0 hands them out) when the key schedule is OpenSSL's, so that
// TlsSession can protect the connection's records itself once the handshake is done
// (record_layer.h).
// Invariants: only the two application secrets are kept (never the handshake or exporter
// secrets); they are cleansed when the holder goes, which TlsSession does as soon as the
// record layer has derived its keys.
// Threads: both run on the thread of the SSL call that derives the secret.
#pragma once

#include <openssl/ssl.h>

#include "edge/tls/provider/tls13_kdf.h"
#include "edge/tls/record_layer.h"

namespace anyedge::tls {

struct HandshakeSecrets {
    TrafficSecret client;  // CLIENT_TRAFFIC_SECRET_0: what the peer sends under
    TrafficSecret server;  // SERVER_TRAFFIC_SECRET_0: what this server sends under
    HandshakeSecrets() = default;
    HandshakeSecrets(const HandshakeSecrets&) = delete;
    HandshakeSecrets& operator=(const HandshakeSecrets&) = delete;
    ~HandshakeSecrets();
};

// Installs the key-log callback on a server context: for contexts whose TLS 1.3 key schedule
// is OpenSSL's own. With anyedge's (provider/tls13_kdf.h) the secrets come from the KDF itself
// (CatchFromKdf) and the callback, which formats each secret as hex first, stays off.
void catch_traffic_secrets(SSL_CTX* ctx);
// Where the callback puts this connection's secrets (null: nowhere). `into` must outlive the
// SSL's handshake or be detached first.
void attach_traffic_secrets(SSL* ssl, HandshakeSecrets* into);

// While it lives (one OpenSSL call on this thread), the application traffic secrets that
// anyedge's TLS13-KDF derives go into `into`.
class CatchFromKdf {
  public:
    explicit CatchFromKdf(HandshakeSecrets* into);

  private:
    ScopedApplicationSecretSink scope_;
};

}  // namespace anyedge::tls
