// tls_session: one TLS connection without I/O. The owner moves ciphertext between the socket
// and this object and plaintext between this object and HTTP; OpenSSL never touches a socket.
//
//     recv -> feed_ciphertext()  -> read_plaintext()  -> HTTP parser
//     send <- pending_ciphertext()/consume_ciphertext() <- write_plaintext() <- responses
//
// After every call, send whatever pending_ciphertext() holds (handshake messages, tickets,
// alerts, key updates, close_notify appear there as well as records of written plaintext).
//
// Buffers: the SSL reads ciphertext from a bounded input buffer and writes into a bounded
// output buffer (a BIO pair), so memory per connection is fixed and a large response is pushed
// through in pieces: write_plaintext() accepts what fits, returns want_write, and continues
// once the owner has drained pending ciphertext.
// Own records: once a TLS 1.3 handshake of a server session is complete, the session takes the
// traffic secrets (traffic_secrets.h), frees the SSL and protects records itself
// (record_layer.h) in buffers of its own (record_buffers.h), the same interface on top. An idle
// connection then holds a few hundred bytes instead of an SSL object. TLS 1.2, and suites the
// record layer does not run, stay with OpenSSL.
// Invariants: never throws; after an error or a clean close every operation returns the same
// final result without calling into OpenSSL again; OpenSSL's error queue is cleared before
// every SSL_* call so that one connection's errors never leak into another's.
// Threads: a session is used by one thread at a time (its worker).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "edge/tls/openssl_ptr.h"
#include "edge/tls/record_layer.h"
#include "origin-sync/base/result.h"

namespace anyedge::tls {

class TlsContext;
struct CertificateSet;
struct HandshakeSecrets;

enum class TlsStatus : std::uint8_t {
    ok,          // progress: bytes moved, or the handshake/shutdown step is complete
    want_read,   // OpenSSL needs more ciphertext from the peer
    want_write,  // the output buffer is full: send and consume pending ciphertext, then retry
    closed,      // the peer sent close_notify: a clean end of its data (RFC 8446 §6.1)
    truncated,   // the transport ended without close_notify: the data may be cut short
    error,       // protocol or internal failure (see error_reason()); send pending ciphertext
                 // (it may hold an alert) and close
};

struct TlsIo {
    TlsStatus status = TlsStatus::ok;
    std::size_t bytes = 0;  // plaintext bytes read or accepted; may be > 0 with want_*
};

// The most ciphertext one send carries. Just under 64 KiB: TCP cuts a send into segments of
// at most 65,483 bytes on loopback (under the 64 KiB GSO limit elsewhere), so a 64 KiB send
// left a 53-byte runt that went out as a packet of its own (`net:net_dev_xmit`: 0.26 packets
// per h2_8k response at 64 KiB, 0.19 at this size).
constexpr std::size_t kSendChunkBytes = 64000;

struct TlsSessionOptions {
    // Ciphertext the session can hold before the owner must read plaintext. One full record
    // (RFC 8446 §5.2: 2^14 + 256 bytes plus a 5-byte header) avoids partial-record round trips.
    std::size_t input_buffer = 16 * 1024 + 256 + 5 + 251;
    // Ciphertext the session can queue before write_plaintext() says want_write; the largest
    // chunk a single send() gets.
    std::size_t output_buffer = kSendChunkBytes;
    // Free OpenSSL's own record buffers while idle (SSL_MODE_RELEASE_BUFFERS): ~34 KiB less per
    // idle keep-alive connection, an allocation per record more.
    bool release_buffers = false;
    // After a TLS 1.3 handshake, protect records here and free the SSL (accept() only).
    bool own_records = true;
};

// RFC 8446 §5.1: a client's first byte opens a handshake record (22); the high bit set is an
// SSLv2-compatible ClientHello, which OpenSSL refuses with an alert of its own. Anything else,
// such as a letter, is not TLS at all: most likely a plain HTTP request sent to a TLS port.
constexpr bool can_start_tls(char first_byte) {
    return first_byte == 0x16 || (static_cast<unsigned char>(first_byte) & 0x80) != 0;
}

class TlsSession {
  public:
    // A server session for one accepted connection. ctx must outlive the session. Counts the
    // handshake in ctx's counters when it completes or fails.
    static Result<TlsSession> accept(TlsContext& ctx, const TlsSessionOptions& options = {});

    // Wraps an SSL the caller configured (client or server state already set), for tests and
    // for outgoing connections. No counters.
    static Result<TlsSession> adopt(SslPtr ssl, const TlsSessionOptions& options = {});

    TlsSession(TlsSession&&) noexcept;
    TlsSession& operator=(TlsSession&&) noexcept;
    ~TlsSession();

    // --- ciphertext side (the socket) ---

    // Copies ciphertext received from the peer; returns how much fit (0 when the input buffer
    // is full: call read_plaintext() first). Never blocks, never fails.
    std::size_t feed_ciphertext(std::span<const char> data);
    // Zero-copy variant: space to receive into, then commit what was written there.
    std::span<char> input_space();
    void commit_input(std::size_t n);
    // The peer's transport is finished (recv returned 0). A later read reports closed if
    // close_notify came before, truncated otherwise.
    void feed_eof();

    // Ciphertext waiting to be sent: a contiguous view into the output buffer, valid until the
    // next consume_ciphertext() or the session's destruction (writing more plaintext only
    // appends elsewhere, so the view may stay in flight while write_plaintext() runs). When the
    // buffer wraps, the rest appears after consume_ciphertext().
    std::string_view pending_ciphertext() const;
    // Marks n bytes of pending_ciphertext() as sent.
    void consume_ciphertext(std::size_t n);
    std::size_t pending_ciphertext_bytes() const;

    // --- plaintext side (HTTP) ---

    // Advances the handshake: ok when complete, else want_read/want_write/truncated/error.
    // read_plaintext() and write_plaintext() also advance it; this is for the owner that wants
    // to answer a ClientHello before any application data exists.
    TlsIo handshake();

    // Reads decrypted application data into out: ok with bytes > 0, or want_read (need
    // ciphertext), want_write (a reply, e.g. to a KeyUpdate, needs room), closed, truncated,
    // error.
    TlsIo read_plaintext(std::span<char> out);

    // Encrypts as much of data as fits into the output buffer. Returns ok when all of it was
    // accepted, want_write with the bytes accepted so far when the buffer is full. Contract
    // (OpenSSL's write-retry rule): after want_write, the next call must start with the first
    // byte not yet accepted (the buffer may move and grow, its bytes may not change).
    TlsIo write_plaintext(std::span<const char> data);
    // The same for a gather list: with own records the pieces fill records of up to 16 KB
    // without being copied (OpenSSL's SSL_write makes a record of each piece). Returns the
    // bytes accepted from the front of the list.
    TlsIo write_plaintext(std::span<const iovec> pieces);

    // Queues close_notify (RFC 8446 §6.1) after everything written so far. ok when queued (or
    // when both directions are closed); want_write when the output buffer is full, in which
    // case close_notify is queued by consume_ciphertext() as soon as there is room (calling
    // shutdown() again is harmless). Before the handshake is complete there is no clean close:
    // returns ok and queues nothing.
    TlsIo shutdown();

    // Gives back what an idle connection does not need (OpenSSL's record buffers, the BIO
    // pair's rings: tens of KiB) when nothing is buffered in either direction; the next
    // operation makes the pair again. Returns whether it did. Call it when the connection has
    // been idle for a while, not after every exchange (it costs allocations to undo).
    bool shed_buffers();

    // --- state ---

    bool handshake_done() const;
    // A fatal error ended the session (an alert may wait in pending_ciphertext()): after it
    // the connection must close (RFC 8446 §6.2).
    bool failed() const { return terminal_ == TlsStatus::error; }
    // Received bytes not yet turned into plaintext: part of a record, or whole records the SSL
    // has not read yet. A client dribbling a record in is mid-request.
    bool input_pending() const;
    // shutdown() found no room: close_notify is not in the output yet.
    bool shutdown_pending() const { return shutdown_pending_; }
    bool resumed() const;
    std::string_view alpn() const;      // "" when none was negotiated
    std::string_view sni() const;       // "" when the client sent none
    std::string_view protocol() const;  // "TLSv1.3", "TLSv1.2"
    std::string_view cipher() const;    // OpenSSL's name of the negotiated suite
    // Why the session failed ("unsupported protocol", "unexpected eof while reading", ...);
    // a static string, empty while nothing failed.
    std::string_view error_reason() const { return error_reason_; }

    // The SSL; null once the session protects its records itself.
    SSL* native_handle() const { return ssl_.get(); }
    // Records are protected here, not by OpenSSL (see "Own records" above).
    bool owns_records() const { return own_ != nullptr; }

  private:
    struct OwnRecords;

    TlsSession(SslPtr ssl, BioPtr network, TlsContext* ctx);
    // At the end of the handshake: move to own records when the session can.
    void take_records();
    TlsIo own_read(std::span<char> out);
    TlsIo own_write(std::span<const iovec> pieces);
    TlsIo own_shutdown();
    // Seals one record from `pieces` into the send ring; false when there is no room.
    bool own_seal(ContentType type, std::span<const iovec> pieces);
    bool own_send_key_update();
    void own_fail(AlertCode alert, std::string_view reason);

    // Makes the BIO pair if shed_buffers() gave it back; false (and a terminal error) when
    // there is no memory for it.
    bool ensure_bios();
    // Maps the result of an SSL_* call to a status, recording terminal states.
    TlsStatus classify(int ret);
    void after_progress();

    // Declared before ssl_ so it outlives it: the SNI callback reads this set's names.
    std::shared_ptr<const CertificateSet> certificates_;
    BioPtr network_;  // our end of the BIO pair (null while shed); the SSL owns the other end
    std::size_t input_size_ = 0;  // the pair's sizes, for making it again
    std::size_t output_size_ = 0;
    SslPtr ssl_;
    TlsContext* ctx_ = nullptr;                  // for counters; null for adopted sessions
    std::unique_ptr<HandshakeSecrets> secrets_;  // during the handshake (own_records only)
    std::uint64_t written_before_step_ = 0;      // ciphertext out before this handshake step
    std::unique_ptr<OwnRecords> own_;
    bool counted_ = false;  // the handshake's outcome is in ctx_'s counters
    bool eof_ = false;
    bool shutdown_pending_ = false;       // close_notify waits for room in the output buffer
    TlsStatus terminal_ = TlsStatus::ok;  // closed, truncated or error once final
    std::string_view error_reason_;
};

}  // namespace anyedge::tls
