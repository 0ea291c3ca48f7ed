// TLS for the health checks' HTTP client: a verifying client context (OpenSSL, owned here and
// linked PRIVATE; no OpenSSL type in this header) and one session over a caller's non-blocking
// socket, driven by the caller's poll loop (the same deadline and abort fd as plain HTTP).
//
// Verification: the peer chain against `ca_file` (or the system store when empty), and the name
// (RFC 6125 via SSL_set1_host) against the session's server name, which is also sent as SNI.
// A TlsContext is immutable after create() and may be shared by threads; a TlsSession is used by
// one thread.
#pragma once

#include <memory>
#include <string>

#include "origin-sync/content/result.h"

namespace anyedge::health {

class TlsContext {
  public:
    // Loads `ca_file` (PEM bundle). Empty: the system's default verify paths.
    static Result<std::shared_ptr<const TlsContext>> create(const std::string& ca_file);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    void* native() const { return ctx_; }  // SSL_CTX*

  private:
    TlsContext() = default;
    void* ctx_ = nullptr;
};

// One TLS connection over `fd` (non-blocking, connected; not owned).
class TlsSession {
  public:
    enum class Io { done, want_read, want_write, closed, error };

    TlsSession(const TlsContext& ctx, int fd, const std::string& server_name);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    Io handshake();
    // Writes up to n bytes; *done = bytes taken when Io::done.
    Io write(const char* p, size_t n, size_t* done);
    // Reads up to n bytes; *got = bytes read when Io::done; Io::closed on close_notify or EOF.
    Io read(char* p, size_t n, size_t* got);
    // The last error, with the verification result when the handshake failed on it.
    const std::string& error() const { return error_; }

  private:
    Io classify(int ret, const char* what);
    void* ssl_ = nullptr;  // SSL*
    std::string error_;
};

}  // namespace anyedge::health
