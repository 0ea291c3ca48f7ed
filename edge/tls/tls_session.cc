#include "edge/tls/tls_session.h"

#include <algorithm>
#include <cstring>

#include <openssl/err.h>

#include "edge/tls/provider/tls13_kdf.h"
#include "edge/tls/tls_context.h"

namespace anyedge::tls {
namespace {

bool is_final(TlsStatus s) { return s == TlsStatus::truncated || s == TlsStatus::error; }

// SSL_get_error() needs an empty error queue before each SSL_* call. It almost always is
// empty already; peeking skips ERR_clear_error()'s sweep over every slot (about 1% of the CPU
// of TLS keep-alive serving).
void clear_stale_errors() {
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

}  // namespace

Result<TlsSession> TlsSession::accept(TlsContext& ctx, const TlsSessionOptions& options) {
    std::shared_ptr<const CertificateSet> certificates;
    SslPtr ssl = ctx.new_ssl(certificates);
    if (!ssl) {
        return make_error(openssl_error("SSL_new"));
    }
    auto session = adopt(std::move(ssl), options);
    if (session) {
        session->ctx_ = &ctx;
        session->certificates_ = std::move(certificates);
    }
    return session;
}

Result<TlsSession> TlsSession::adopt(SslPtr ssl, const TlsSessionOptions& options) {
    if (!ssl || options.input_buffer == 0 || options.output_buffer == 0) {
        return make_error("TlsSession needs an SSL and non-empty buffers");
    }
    BIO* internal = nullptr;
    BIO* network = nullptr;
    // Data written to `internal` (by the SSL) is read from `network` and vice versa; each
    // direction has its own fixed ring buffer.
    if (BIO_new_bio_pair(&internal, options.output_buffer, &network, options.input_buffer) != 1) {
        return make_error(openssl_error("BIO_new_bio_pair"));
    }
    SSL_set_bio(ssl.get(), internal, internal);  // the SSL now owns `internal`
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (options.release_buffers) {
        mode |= SSL_MODE_RELEASE_BUFFERS;
    }
    SSL_set_mode(ssl.get(), mode);
    TlsSession session(std::move(ssl), BioPtr(network), nullptr);
    session.input_size_ = options.input_buffer;
    session.output_size_ = options.output_buffer;
    return session;
}

TlsSession::TlsSession(SslPtr ssl, BioPtr network, TlsContext* ctx)
    : network_(std::move(network)), ssl_(std::move(ssl)), ctx_(ctx) {}

bool TlsSession::ensure_bios() {
    if (network_) {
        return true;
    }
    BIO* internal = nullptr;
    BIO* network = nullptr;
    if (BIO_new_bio_pair(&internal, output_size_, &network, input_size_) != 1) {
        terminal_ = TlsStatus::error;
        error_reason_ = "out of memory for the BIO pair";
        return false;
    }
    SSL_set_bio(ssl_.get(), internal, internal);
    network_.reset(network);
    return true;
}

bool TlsSession::shed_buffers() {
    if (!network_ || eof_ || shutdown_pending_ || !handshake_done() ||
        pending_ciphertext_bytes() > 0 || input_pending()) {
        return false;
    }
    // Nothing is buffered either way, so nothing is lost: OpenSSL's record buffers go, and the
    // BIO pair with its two rings (made again by the next operation, ensure_bios()).
    SSL_free_buffers(ssl_.get());
    SSL_set_bio(ssl_.get(), nullptr, nullptr);  // frees our pair's SSL end
    network_.reset();
    return true;
}

TlsSession::TlsSession(TlsSession&&) noexcept = default;
TlsSession& TlsSession::operator=(TlsSession&&) noexcept = default;
TlsSession::~TlsSession() = default;

std::size_t TlsSession::feed_ciphertext(std::span<const char> data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const std::span<char> space = input_space();
        if (space.empty()) {
            break;
        }
        const std::size_t n = std::min(space.size(), data.size() - done);
        std::memcpy(space.data(), data.data() + done, n);
        commit_input(n);
        done += n;
    }
    return done;
}

std::span<char> TlsSession::input_space() {
    if (eof_ || !ensure_bios()) {
        return {};
    }
    char* buf = nullptr;
    const int n = BIO_nwrite0(network_.get(), &buf);
    if (n <= 0 || buf == nullptr) {
        return {};
    }
    return {buf, static_cast<std::size_t>(n)};
}

void TlsSession::commit_input(std::size_t n) {
    if (n == 0) {
        return;
    }
    char* buf = nullptr;
    BIO_nwrite(network_.get(), &buf, static_cast<int>(n));
}

void TlsSession::feed_eof() {
    if (!eof_ && ensure_bios()) {
        eof_ = true;
        // The SSL side then reads end-of-file once the buffered ciphertext is consumed.
        BIO_shutdown_wr(network_.get());
    }
}

std::string_view TlsSession::pending_ciphertext() const {
    if (!network_) {
        return {};
    }
    char* buf = nullptr;
    const int n = BIO_nread0(network_.get(), &buf);
    if (n <= 0 || buf == nullptr) {
        return {};
    }
    return {buf, static_cast<std::size_t>(n)};
}

void TlsSession::consume_ciphertext(std::size_t n) {
    while (n > 0 && network_) {
        char* buf = nullptr;
        const int done = BIO_nread(network_.get(), &buf, static_cast<int>(n));
        if (done <= 0) {
            break;
        }
        n -= static_cast<std::size_t>(done);
    }
    if (shutdown_pending_) {
        // close_notify did not fit earlier; now there may be room. shutdown() re-arms the flag
        // if there still is none.
        shutdown_pending_ = false;
        shutdown();
    }
}

std::size_t TlsSession::pending_ciphertext_bytes() const {
    return network_ ? BIO_ctrl_pending(network_.get()) : 0;
}

TlsIo TlsSession::handshake() {
    if (is_final(terminal_) || !ensure_bios()) {
        return {terminal_, 0};
    }
    if (SSL_is_init_finished(ssl_.get())) {
        return {TlsStatus::ok, 0};
    }
    clear_stale_errors();
    const int ret = SSL_do_handshake(ssl_.get());
    if (ret == 1) {
        after_progress();
        return {TlsStatus::ok, 0};
    }
    return {classify(ret), 0};
}

TlsIo TlsSession::read_plaintext(std::span<char> out) {
    if (is_final(terminal_) || terminal_ == TlsStatus::closed) {
        return {terminal_, 0};
    }
    if (out.empty()) {
        return {TlsStatus::ok, 0};
    }
    if (!ensure_bios()) {
        return {terminal_, 0};
    }
    clear_stale_errors();
    std::size_t n = 0;
    const int ret = SSL_read_ex(ssl_.get(), out.data(), out.size(), &n);
    if (ret == 1) {
        after_progress();
        return {TlsStatus::ok, n};
    }
    return {classify(ret), 0};
}

TlsIo TlsSession::write_plaintext(std::span<const char> data) {
    if (is_final(terminal_) || !ensure_bios()) {
        return {terminal_, 0};
    }
    std::size_t total = 0;
    // With SSL_MODE_ENABLE_PARTIAL_WRITE each SSL_write_ex returns after a record or so; keep
    // going until everything is in or the output buffer is full.
    while (total < data.size()) {
        clear_stale_errors();
        std::size_t n = 0;
        const int ret = SSL_write_ex(ssl_.get(), data.data() + total, data.size() - total, &n);
        if (ret != 1) {
            return {classify(ret), total};
        }
        after_progress();
        total += n;
    }
    return {TlsStatus::ok, total};
}

TlsIo TlsSession::shutdown() {
    if (is_final(terminal_) || !ensure_bios()) {
        return {terminal_, 0};
    }
    // SSL_shutdown() during the handshake is an error in OpenSSL; there is nothing to close
    // cleanly yet.
    if (!SSL_is_init_finished(ssl_.get())) {
        return {TlsStatus::ok, 0};
    }
    clear_stale_errors();
    const int ret = SSL_shutdown(ssl_.get());
    if (ret >= 0) {
        return {TlsStatus::ok, 0};  // 0: ours queued; 1: both directions closed
    }
    const TlsStatus s = classify(ret);
    // A repeated call after ours is out would wait for the peer's close_notify, which a server
    // need not do (RFC 8446 §6.1): ours is queued, that is all the caller asked for.
    if (s == TlsStatus::want_read) {
        return {TlsStatus::ok, 0};
    }
    shutdown_pending_ = s == TlsStatus::want_write;
    return {s, 0};
}

void TlsSession::after_progress() {
    // A handshake step, or a read or write carrying a KeyUpdate, may have derived keys: they
    // stay in this SSL only, not in the thread's HMAC contexts (nothing to do otherwise).
    tls13_kdf_forget_keys();
    if (!counted_ && ctx_ != nullptr && SSL_is_init_finished(ssl_.get())) {
        counted_ = true;
        ctx_->note_handshake(SSL_session_reused(ssl_.get()) == 1);
    }
}

TlsStatus TlsSession::classify(int ret) {
    after_progress();
    TlsStatus status = TlsStatus::error;
    const int err = SSL_get_error(ssl_.get(), ret);
    switch (err) {
        case SSL_ERROR_NONE:
            return TlsStatus::ok;
        case SSL_ERROR_WANT_READ:
            if (!eof_) {
                return TlsStatus::want_read;
            }
            // Input ended and OpenSSL still wants more: the same as an unexpected EOF.
            status = TlsStatus::truncated;
            error_reason_ = "unexpected eof while reading";
            break;
        case SSL_ERROR_WANT_WRITE:
            return TlsStatus::want_write;
        case SSL_ERROR_ZERO_RETURN:
            // close_notify received (RFC 8446 §6.1); we may still write and shut down.
            terminal_ = TlsStatus::closed;
            return TlsStatus::closed;
        case SSL_ERROR_SYSCALL:
            // With a BIO pair there is no system call: this is an EOF that OpenSSL reports
            // without a reason (no close_notify).
            status = eof_ ? TlsStatus::truncated : TlsStatus::error;
            error_reason_ = eof_ ? "unexpected eof while reading" : "transport error";
            break;
        case SSL_ERROR_SSL: {
            const unsigned long code = ERR_peek_last_error();
            // OpenSSL 3 reports a missing close_notify as this error; RFC 8446 §6.1 says to
            // treat it as possible truncation.
            if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
                ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                status = TlsStatus::truncated;
            }
            const char* reason = ERR_reason_error_string(code);
            error_reason_ = reason != nullptr ? reason : "TLS protocol error";
            break;
        }
        // The remaining WANT_* conditions come from features this server does not use (BIO
        // connect/accept, client certificate callbacks, async engines, the ClientHello
        // callback, verify retries); seeing one means a programming error, not a retry.
        case SSL_ERROR_WANT_CONNECT:
        case SSL_ERROR_WANT_ACCEPT:
            error_reason_ = "unexpected SSL_ERROR_WANT_CONNECT/ACCEPT";
            break;
        case SSL_ERROR_WANT_X509_LOOKUP:
            error_reason_ = "unexpected SSL_ERROR_WANT_X509_LOOKUP";
            break;
        case SSL_ERROR_WANT_ASYNC:
        case SSL_ERROR_WANT_ASYNC_JOB:
            error_reason_ = "unexpected SSL_ERROR_WANT_ASYNC";
            break;
        case SSL_ERROR_WANT_CLIENT_HELLO_CB:
            error_reason_ = "unexpected SSL_ERROR_WANT_CLIENT_HELLO_CB";
            break;
        case SSL_ERROR_WANT_RETRY_VERIFY:
            error_reason_ = "unexpected SSL_ERROR_WANT_RETRY_VERIFY";
            break;
        default:
            error_reason_ = "unknown SSL error";
            break;
    }
    terminal_ = status;
    if (!counted_ && ctx_ != nullptr) {
        counted_ = true;
        ctx_->note_handshake_failure();
    }
    clear_stale_errors();
    return status;
}

bool TlsSession::handshake_done() const { return SSL_is_init_finished(ssl_.get()) == 1; }

bool TlsSession::input_pending() const {
    // SSL_has_pending() counts a partial record in the SSL's read buffer; the BIO pair may hold
    // bytes the SSL has not pulled yet.
    return SSL_has_pending(ssl_.get()) == 1 ||
           (network_ && BIO_ctrl_pending(SSL_get_rbio(ssl_.get())) > 0);
}

bool TlsSession::resumed() const { return SSL_session_reused(ssl_.get()) == 1; }

std::string_view TlsSession::alpn() const {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &data, &len);
    return data == nullptr ? std::string_view()
                           : std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view TlsSession::sni() const {
    const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string_view TlsSession::protocol() const { return SSL_get_version(ssl_.get()); }

std::string_view TlsSession::cipher() const {
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
    return c == nullptr ? std::string_view() : std::string_view(SSL_CIPHER_get_name(c));
}

}  // namespace anyedge::tls
