#include "bgp-hooks/health/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace anyedge::health {

namespace {

std::string ssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

}  // namespace

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const std::string& ca_file) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return make_error("SSL_CTX_new: " + ssl_errors());
    std::shared_ptr<TlsContext> c(new TlsContext);
    c->ctx_ = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                             : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) {
        return make_error("CA " + (ca_file.empty() ? std::string("(system store)") : ca_file) +
                          ": " + ssl_errors());
    }
    // The canary is one request per connection: what it measures is the edge's full TLS path.
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
    return std::shared_ptr<const TlsContext>(std::move(c));
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

TlsSession::TlsSession(const TlsContext& ctx, int fd, const std::string& server_name) {
    ERR_clear_error();
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx.native()));
    if (!ssl) {
        error_ = "SSL_new: " + ssl_errors();
        return;
    }
    ssl_ = ssl;
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    if (!server_name.empty()) {
        SSL_set_tlsext_host_name(ssl, server_name.c_str());
        // Checks the certificate's names (SAN dNSName / iPAddress) against it.
        SSL_set1_host(ssl, server_name.c_str());
    }
}

TlsSession::~TlsSession() { SSL_free(static_cast<SSL*>(ssl_)); }

TlsSession::Io TlsSession::classify(int ret, const char* what) {
    SSL* ssl = static_cast<SSL*>(ssl_);
    switch (SSL_get_error(ssl, ret)) {
        case SSL_ERROR_WANT_READ:
            return Io::want_read;
        case SSL_ERROR_WANT_WRITE:
            return Io::want_write;
        case SSL_ERROR_ZERO_RETURN:
            return Io::closed;
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_error() == 0) {
                error_ = std::string(what) + ": connection closed without close_notify";
                return Io::closed;
            }
            [[fallthrough]];
        default: {
            error_ = std::string(what) + ": " + ssl_errors();
            long v = SSL_get_verify_result(ssl);
            if (v != X509_V_OK) {
                error_ += " (certificate: " + std::string(X509_verify_cert_error_string(v)) + ")";
            }
            return Io::error;
        }
    }
}

TlsSession::Io TlsSession::handshake() {
    if (!ssl_) return Io::error;
    ERR_clear_error();
    int r = SSL_do_handshake(static_cast<SSL*>(ssl_));
    return r == 1 ? Io::done : classify(r, "TLS handshake");
}

TlsSession::Io TlsSession::write(const char* p, size_t n, size_t* done) {
    ERR_clear_error();
    size_t w = 0;
    int r = SSL_write_ex(static_cast<SSL*>(ssl_), p, n, &w);
    if (r == 1) {
        *done = w;
        return Io::done;
    }
    return classify(r, "TLS write");
}

TlsSession::Io TlsSession::read(char* p, size_t n, size_t* got) {
    ERR_clear_error();
    size_t g = 0;
    int r = SSL_read_ex(static_cast<SSL*>(ssl_), p, n, &g);
    if (r == 1) {
        *got = g;
        return Io::done;
    }
    return classify(r, "TLS read");
}

}  // namespace anyedge::health
