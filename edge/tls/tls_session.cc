#include "edge/tls/tls_session.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include <openssl/err.h>

#include "edge/tls/provider/tls13_kdf.h"
#include "edge/tls/record_buffers.h"
#include "edge/tls/tls_context.h"
#include "edge/tls/traffic_secrets.h"

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

// A post-handshake KeyUpdate (RFC 8446 §4.6.3): type 24, length 1, request_update.
constexpr std::size_t kKeyUpdateSize = 5;
constexpr unsigned char kKeyUpdateType = 24;

}  // namespace

// The session once it protects its own records (take_records()).
struct TlsSession::OwnRecords {
    OwnRecords(RecordLayer l, std::size_t input_capacity, std::size_t output_capacity)
        : layer(std::move(l)), in(input_capacity), out(output_capacity) {}

    RecordLayer layer;
    ReceiveBuffer in;  // ciphertext received, opened in place
    SendRing out;      // records to send
    // An opened application-data record whose plaintext is not all read yet: where the
    // plaintext is (offsets from in.data()), and the record's size to consume after it.
    std::size_t plain_offset = 0;
    std::size_t plain_size = 0;
    std::size_t record_size = 0;
    bool close_sent = false;      // our close_notify is queued
    bool owe_key_update = false;  // the peer asked for one (RFC 8446 §4.6.3): ours goes first
    // The SSL and its BIO pair, kept until the bytes they held (copied into `out`) can no
    // longer be in flight from their memory: the next consume_ciphertext().
    SslPtr retired_ssl;
    BioPtr retired_network;
    // What the SSL knew that callers ask for.
    std::string alpn;
    std::string sni;
    const char* cipher = "";  // OpenSSL's static suite name
    bool resumed = false;
};

Result<TlsSession> TlsSession::accept(TlsContext& ctx, const TlsSessionOptions& options) {
    std::shared_ptr<const CertificateSet> certificates;
    SslPtr ssl = ctx.new_ssl(certificates);
    if (!ssl) {
        return make_error(openssl_error("SSL_new"));
    }
    SSL* raw = ssl.get();
    auto session = adopt(std::move(ssl), options);
    if (session) {
        session->ctx_ = &ctx;
        session->certificates_ = std::move(certificates);
        if (options.own_records) {
            session->secrets_ = std::make_unique<HandshakeSecrets>();
            attach_traffic_secrets(raw, session->secrets_.get());
        }
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
    if (own_) {
        OwnRecords& o = *own_;
        if (eof_ || shutdown_pending_ || o.owe_key_update || !o.out.empty() || o.in.size() > 0) {
            return false;
        }
        bool any = o.out.release();
        any = o.in.release() || any;
        if (o.layer.holds_contexts()) {
            o.layer.release_contexts();
            any = true;
        }
        if (o.retired_ssl) {
            o.retired_ssl.reset();
            o.retired_network.reset();
            any = true;
        }
        return any;
    }
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
    if (own_) {
        return eof_ ? std::span<char>() : own_->in.space();
    }
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
    if (own_) {
        own_->in.commit(n);
        return;
    }
    char* buf = nullptr;
    BIO_nwrite(network_.get(), &buf, static_cast<int>(n));
}

void TlsSession::feed_eof() {
    if (own_) {
        eof_ = true;
        return;
    }
    if (!eof_ && ensure_bios()) {
        eof_ = true;
        // The SSL side then reads end-of-file once the buffered ciphertext is consumed.
        BIO_shutdown_wr(network_.get());
    }
}

std::string_view TlsSession::pending_ciphertext() const {
    if (own_) {
        return own_->out.front();
    }
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
    if (own_) {
        OwnRecords& o = *own_;
        o.out.consume(n);
        o.retired_ssl.reset();
        o.retired_network.reset();
        if (o.owe_key_update && !is_final(terminal_)) {
            own_send_key_update();
        }
        if (shutdown_pending_) {
            shutdown_pending_ = false;
            shutdown();
        }
        return;
    }
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
    if (own_) {
        return own_->out.size();
    }
    return network_ ? BIO_ctrl_pending(network_.get()) : 0;
}

TlsIo TlsSession::handshake() {
    if (is_final(terminal_)) {
        return {terminal_, 0};
    }
    if (own_) {
        return {TlsStatus::ok, 0};
    }
    if (!ensure_bios()) {
        return {terminal_, 0};
    }
    if (SSL_is_init_finished(ssl_.get())) {
        return {TlsStatus::ok, 0};
    }
    written_before_step_ = BIO_number_written(SSL_get_wbio(ssl_.get()));
    clear_stale_errors();
    std::optional<CatchFromKdf> catching;
    if (secrets_) catching.emplace(secrets_.get());
    const int ret = SSL_do_handshake(ssl_.get());
    catching.reset();
    if (ret == 1) {
        after_progress();
        take_records();
        return {TlsStatus::ok, 0};
    }
    return {classify(ret), 0};
}

void TlsSession::take_records() {
    const std::unique_ptr<HandshakeSecrets> secrets = std::move(secrets_);
    if (!secrets) {
        return;
    }
    SSL* ssl = ssl_.get();
    attach_traffic_secrets(ssl, nullptr);
    if (ctx_ == nullptr || !network_ || SSL_version(ssl) != TLS1_3_VERSION ||
        secrets->client.size == 0 || secrets->server.size == 0 || SSL_has_pending(ssl) == 1) {
        return;
    }
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    const RecordSuite* suite =
        cipher == nullptr ? nullptr
                          : ctx_->record_algorithms().suite(SSL_CIPHER_get_protocol_id(cipher));
    if (suite == nullptr) {
        return;  // TLS_AES_128_CCM_*: OpenSSL keeps the records
    }
    // The records OpenSSL wrote in this last step, after reading the client's Finished, are
    // the session tickets: already under the server's application key (RFC 8446 §4.6.1).
    // Counting them gives the next record's sequence number. The pending ciphertext may start
    // with older bytes (the server's flight, whose send has not completed yet).
    const std::uint64_t written = BIO_number_written(SSL_get_wbio(ssl));
    const std::string_view pending = pending_ciphertext();
    if (pending.size() != pending_ciphertext_bytes() || written < written_before_step_ ||
        written - written_before_step_ > pending.size()) {
        return;
    }
    std::uint64_t write_sequence = 0;
    for (std::size_t pos = pending.size() - (written - written_before_step_); pos < pending.size();
         ++write_sequence) {
        const auto* h = reinterpret_cast<const unsigned char*>(pending.data() + pos);
        const std::size_t rest = pending.size() - pos;
        if (rest < kRecordHeaderSize ||
            h[0] != static_cast<unsigned char>(ContentType::application_data)) {
            return;
        }
        const std::size_t length = (std::size_t{h[3]} << 8) | h[4];
        if (rest - kRecordHeaderSize < length) {
            return;
        }
        pos += kRecordHeaderSize + length;
    }
    auto layer = RecordLayer::create(ctx_->record_algorithms(), *suite, secrets->client,
                                     secrets->server, 0, write_sequence);
    if (!layer) {
        return;
    }
    auto own = std::make_unique<OwnRecords>(
        std::move(*layer), std::max(input_size_, kRecordHeaderSize + kMaxRecordCiphertext),
        std::max<std::size_t>(output_size_, 1024));
    if (!pending.empty()) {
        const std::span<char> room = own->out.reserve(pending.size(), pending.size());
        if (room.size() < pending.size()) {
            return;
        }
        std::memcpy(room.data(), pending.data(), pending.size());
        own->out.commit(pending.size());
    }
    // Ciphertext the SSL has not read: the client's first records after its Finished.
    BIO* rbio = SSL_get_rbio(ssl);
    while (BIO_ctrl_pending(rbio) > 0) {
        const std::span<char> room = own->in.space();
        const int n = BIO_read(rbio, room.data(), static_cast<int>(room.size()));
        if (n <= 0) {
            break;
        }
        own->in.commit(static_cast<std::size_t>(n));
    }
    own->alpn = std::string(alpn());
    own->sni = std::string(sni());
    own->cipher = SSL_CIPHER_get_name(cipher);
    own->resumed = SSL_session_reused(ssl) == 1;
    if (!pending.empty()) {
        // An in-flight send may still read the pair's memory: kept until the next consume.
        own->retired_ssl = std::move(ssl_);
        own->retired_network = std::move(network_);
    } else {
        ssl_.reset();
        network_.reset();
    }
    certificates_.reset();
    own_ = std::move(own);
}

TlsIo TlsSession::read_plaintext(std::span<char> out) {
    if (is_final(terminal_) || terminal_ == TlsStatus::closed) {
        return {terminal_, 0};
    }
    if (out.empty()) {
        return {TlsStatus::ok, 0};
    }
    if (!own_ && !handshake_done()) {
        const TlsIo hs = handshake();
        if (hs.status != TlsStatus::ok) {
            return hs;
        }
    }
    if (own_) {
        return own_read(out);
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
    if (is_final(terminal_)) {
        return {terminal_, 0};
    }
    if (!own_ && !handshake_done()) {
        const TlsIo hs = handshake();
        if (hs.status != TlsStatus::ok) {
            return hs;
        }
    }
    if (own_) {
        const iovec piece{const_cast<char*>(data.data()), data.size()};
        return own_write(std::span<const iovec>(&piece, 1));
    }
    if (!ensure_bios()) {
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

TlsIo TlsSession::write_plaintext(std::span<const iovec> pieces) {
    if (own_) {
        return is_final(terminal_) ? TlsIo{terminal_, 0} : own_write(pieces);
    }
    std::size_t total = 0;
    for (const iovec& p : pieces) {
        const TlsIo w =
            write_plaintext(std::span<const char>(static_cast<const char*>(p.iov_base), p.iov_len));
        total += w.bytes;
        if (w.status != TlsStatus::ok) {
            return {w.status, total};
        }
        if (own_) {  // the handshake just ended: the rest goes through own records
            const TlsIo rest =
                own_write(pieces.subspan(static_cast<std::size_t>(&p - pieces.data()) + 1));
            return {rest.status, total + rest.bytes};
        }
    }
    return {TlsStatus::ok, total};
}

TlsIo TlsSession::shutdown() {
    if (is_final(terminal_)) {
        return {terminal_, 0};
    }
    if (own_) {
        return own_shutdown();
    }
    if (!ensure_bios()) {
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

bool TlsSession::handshake_done() const {
    return own_ != nullptr || SSL_is_init_finished(ssl_.get()) == 1;
}

bool TlsSession::input_pending() const {
    if (own_) {
        return own_->in.size() > 0;
    }
    // SSL_has_pending() counts a partial record in the SSL's read buffer; the BIO pair may hold
    // bytes the SSL has not pulled yet.
    return SSL_has_pending(ssl_.get()) == 1 ||
           (network_ && BIO_ctrl_pending(SSL_get_rbio(ssl_.get())) > 0);
}

bool TlsSession::resumed() const {
    return own_ ? own_->resumed : SSL_session_reused(ssl_.get()) == 1;
}

std::string_view TlsSession::alpn() const {
    if (own_) {
        return own_->alpn;
    }
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &data, &len);
    return data == nullptr ? std::string_view()
                           : std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view TlsSession::sni() const {
    if (own_) {
        return own_->sni;
    }
    const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? std::string_view() : std::string_view(name);
}

std::string_view TlsSession::protocol() const {
    return own_ ? "TLSv1.3" : SSL_get_version(ssl_.get());
}

std::string_view TlsSession::cipher() const {
    if (own_) {
        return own_->cipher;
    }
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_.get());
    return c == nullptr ? std::string_view() : std::string_view(SSL_CIPHER_get_name(c));
}

// --- own records ---

TlsIo TlsSession::own_read(std::span<char> out) {
    OwnRecords& o = *own_;
    // Each round opens one record or returns; a buffer holds at most a few hundred records.
    for (std::size_t round = 0; round <= o.in.capacity(); ++round) {
        if (o.plain_size > 0) {
            const std::size_t n = std::min(out.size(), o.plain_size);
            std::memcpy(out.data(), o.in.data().data() + o.plain_offset, n);
            o.plain_offset += n;
            o.plain_size -= n;
            if (o.plain_size == 0) {
                o.in.consume(o.record_size);
                o.record_size = 0;
            }
            return {TlsStatus::ok, n};
        }
        const std::span<char> data = o.in.data();
        const auto* h = reinterpret_cast<const unsigned char*>(data.data());
        const std::size_t length =
            data.size() >= kRecordHeaderSize ? (std::size_t{h[3]} << 8) | h[4] : 0;
        if (length > kMaxRecordCiphertext) {
            own_fail(AlertCode::record_overflow, "record too long");
            return {TlsStatus::error, 0};
        }
        if (data.size() < kRecordHeaderSize || data.size() - kRecordHeaderSize < length) {
            if (eof_) {
                terminal_ = TlsStatus::truncated;
                error_reason_ = "unexpected eof while reading";
                return {TlsStatus::truncated, 0};
            }
            return {TlsStatus::want_read, 0};
        }
        const std::size_t record_size = kRecordHeaderSize + length;
        OpenedRecord opened;
        RecordError error;
        if (!o.layer.open(data.first(record_size), opened, error)) {
            own_fail(error.alert, error.reason);
            return {TlsStatus::error, 0};
        }
        const std::span<char> p = opened.plaintext;
        switch (opened.type) {
            case ContentType::application_data:
                if (!p.empty()) {
                    o.plain_offset = static_cast<std::size_t>(p.data() - data.data());
                    o.plain_size = p.size();
                    o.record_size = record_size;
                } else {
                    o.in.consume(record_size);
                }
                continue;
            case ContentType::alert:
                o.in.consume(record_size);
                if (p.size() != 2) {
                    own_fail(AlertCode::decode_error, "malformed alert");
                    return {TlsStatus::error, 0};
                }
                if (p[1] == static_cast<char>(AlertCode::close_notify)) {
                    terminal_ = TlsStatus::closed;  // RFC 8446 §6.1; we may still write
                    return {TlsStatus::closed, 0};
                }
                // Any other alert ends the connection (§6.2); nothing is sent back.
                terminal_ = TlsStatus::error;
                error_reason_ = "alert from the peer";
                return {TlsStatus::error, 0};
            case ContentType::handshake: {
                // After the handshake a client may send only KeyUpdate (§4.6.3): no
                // post-handshake authentication was offered, tickets come from servers.
                if (p.empty() || p.size() % kKeyUpdateSize != 0) {
                    own_fail(AlertCode::unexpected_message, "unexpected post-handshake message");
                    return {TlsStatus::error, 0};
                }
                for (std::size_t i = 0; i < p.size(); i += kKeyUpdateSize) {
                    const auto* m = reinterpret_cast<const unsigned char*>(p.data() + i);
                    if (m[0] != kKeyUpdateType) {
                        own_fail(AlertCode::unexpected_message,
                                 "unexpected post-handshake message");
                        return {TlsStatus::error, 0};
                    }
                    if (m[1] != 0 || m[2] != 0 || m[3] != 1 || m[4] > 1) {
                        own_fail(AlertCode::decode_error, "malformed KeyUpdate");
                        return {TlsStatus::error, 0};
                    }
                    if (!o.layer.update_read()) {
                        own_fail(AlertCode::internal_error, "KeyUpdate failed");
                        return {TlsStatus::error, 0};
                    }
                    o.owe_key_update = o.owe_key_update || m[4] == 1;
                }
                o.in.consume(record_size);
                if (o.owe_key_update) {
                    own_send_key_update();  // else after the next consume_ciphertext()
                }
                continue;
            }
            case ContentType::change_cipher_spec:
                break;
        }
        own_fail(AlertCode::unexpected_message, "unexpected record content type");
        return {TlsStatus::error, 0};
    }
    return {TlsStatus::want_read, 0};
}

bool TlsSession::own_seal(ContentType type, std::span<const iovec> pieces) {
    std::size_t total = 0;
    for (const iovec& p : pieces) {
        total += p.iov_len;
    }
    const std::span<char> room =
        own_->out.reserve(total + kRecordOverhead, total + kRecordOverhead);
    if (room.size() < total + kRecordOverhead) {
        return false;
    }
    auto sealed = own_->layer.seal(type, pieces, room);
    if (!sealed) {
        terminal_ = TlsStatus::error;
        error_reason_ = "record encryption failed";
        return false;
    }
    own_->out.commit(*sealed);
    return true;
}

bool TlsSession::own_send_key_update() {
    static const char kMessage[kKeyUpdateSize] = {kKeyUpdateType, 0, 0, 1, 0};  // not_requested
    const iovec piece{const_cast<char*>(kMessage), sizeof kMessage};
    if (!own_seal(ContentType::handshake, std::span<const iovec>(&piece, 1))) {
        return false;
    }
    own_->owe_key_update = false;
    if (!own_->layer.update_write()) {
        terminal_ = TlsStatus::error;
        error_reason_ = "KeyUpdate failed";
        return false;
    }
    return true;
}

TlsIo TlsSession::own_write(std::span<const iovec> pieces) {
    OwnRecords& o = *own_;
    if (o.close_sent) {
        return {TlsStatus::error, 0};  // nothing follows close_notify (RFC 8446 §6.1)
    }
    if (o.owe_key_update && !own_send_key_update()) {
        return {is_final(terminal_) ? terminal_ : TlsStatus::want_write, 0};
    }
    std::size_t left = 0;
    for (const iovec& p : pieces) {
        left += p.iov_len;
    }
    std::size_t total = 0;
    std::size_t index = 0;   // the piece the next record starts in
    std::size_t offset = 0;  // and where in it
    while (left > 0) {
        const std::size_t want = std::min(kMaxRecordPlaintext, left);
        // A record of fewer than 512 bytes only when that is all there is: tiny records waste
        // 22 bytes and a tag each.
        const std::size_t small = std::min<std::size_t>(want, 512);
        const std::span<char> room = o.out.reserve(small + kRecordOverhead, want + kRecordOverhead);
        if (room.size() < small + kRecordOverhead) {
            return {TlsStatus::want_write, total};
        }
        // The record's plaintext: up to `limit` bytes from the pieces, as they are.
        const std::size_t limit = std::min(want, room.size() - kRecordOverhead);
        iovec parts[32];
        std::size_t count = 0;
        std::size_t n = 0;
        while (n < limit && count < std::size(parts)) {
            const iovec& p = pieces[index];
            const std::size_t take = std::min(p.iov_len - offset, limit - n);
            parts[count++] = iovec{static_cast<char*>(p.iov_base) + offset, take};
            n += take;
            offset += take;
            if (offset == p.iov_len) {
                ++index;
                offset = 0;
            }
        }
        auto sealed =
            o.layer.seal(ContentType::application_data, std::span<const iovec>(parts, count), room);
        if (!sealed) {
            terminal_ = TlsStatus::error;
            error_reason_ = "record encryption failed";
            return {TlsStatus::error, total};
        }
        o.out.commit(*sealed);
        total += n;
        left -= n;
    }
    return {TlsStatus::ok, total};
}

TlsIo TlsSession::own_shutdown() {
    OwnRecords& o = *own_;
    if (o.close_sent) {
        return {TlsStatus::ok, 0};
    }
    static const char kCloseNotify[2] = {1, static_cast<char>(AlertCode::close_notify)};
    const iovec piece{const_cast<char*>(kCloseNotify), sizeof kCloseNotify};
    if ((o.owe_key_update && !own_send_key_update()) ||
        !own_seal(ContentType::alert, std::span<const iovec>(&piece, 1))) {
        if (is_final(terminal_)) {
            return {terminal_, 0};
        }
        shutdown_pending_ = true;
        return {TlsStatus::want_write, 0};
    }
    o.close_sent = true;
    return {TlsStatus::ok, 0};
}

void TlsSession::own_fail(AlertCode alert, std::string_view reason) {
    // A fatal alert (RFC 8446 §6.2) when there is room for it; the connection closes either way.
    const char message[2] = {2, static_cast<char>(alert)};
    const iovec piece{const_cast<char*>(message), sizeof message};
    own_seal(ContentType::alert, std::span<const iovec>(&piece, 1));
    terminal_ = TlsStatus::error;
    error_reason_ = reason;
}

}  // namespace anyedge::tls
