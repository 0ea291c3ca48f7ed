// record_layer: TLS 1.3 record protection for application traffic (RFC 8446 §5.2-§5.3), with
// the key schedule's "traffic upd" step for KeyUpdate (§7.2) and keys from secrets (§7.3).
//
// Why: OpenSSL runs the handshake, then TlsSession moves the connection's traffic secrets here
// and frees the SSL. An idle connection then holds two secrets and their keys (a few hundred
// bytes) instead of an SSL object (about 15 KB), and records are sealed straight from the
// response's buffers into the send buffer, and opened in place, without OpenSSL's record
// buffers and BIO copies between them. The same move the kernel's kTLS makes; this kernel has
// no TLS ULP. The cryptography stays in libraries: libgcrypt's AEADs (record_aead.h), OpenSSL's
// TLS13-KDF and libsodium's HMAC-SHA256.
// Invariants: secrets, keys and cipher contexts are cleansed when replaced or released;
// sequence numbers never repeat under one key (a record past 2^64 - 1 is refused).
// Threads: one connection's object, one thread at a time.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "edge/tls/record_aead.h"
#include "origin-sync/base/result.h"

namespace anyedge::tls {

constexpr std::size_t kRecordHeaderSize = 5;
constexpr std::size_t kRecordTagSize = 16;
constexpr std::size_t kMaxRecordPlaintext = 16384;                       // RFC 8446 §5.1
constexpr std::size_t kMaxRecordCiphertext = kMaxRecordPlaintext + 256;  // §5.2
// Header, inner content type and tag: a record's size is its plaintext plus this.
constexpr std::size_t kRecordOverhead = kRecordHeaderSize + 1 + kRecordTagSize;

enum class ContentType : std::uint8_t {
    change_cipher_spec = 20,
    alert = 21,
    handshake = 22,
    application_data = 23,
};

// RFC 8446 §6.2 alerts this layer sends.
enum class AlertCode : std::uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    record_overflow = 22,
    decode_error = 50,
    internal_error = 80,
};

// The algorithms of one TLS 1.3 cipher suite, fetched once per library context (the fetch walks
// name maps and takes locks: not per connection). Owned by TlsContext.
struct RecordSuite {
    std::uint16_t id = 0;  // 0x1301, 0x1302, 0x1303
    AeadAlgorithm aead = AeadAlgorithm::aes_128_gcm;
    std::size_t key_size = 0;
    const char* digest = nullptr;  // "SHA256", "SHA384": the suite's hash (secret size)
    std::size_t secret_size = 0;
};

class RecordAlgorithms {
  public:
    // Fetches the TLS13-KDF from libctx (null: OpenSSL's default) and readies the AEADs.
    static Result<std::unique_ptr<RecordAlgorithms>> fetch(OSSL_LIB_CTX* libctx,
                                                           const char* property_query);
    ~RecordAlgorithms();
    RecordAlgorithms(const RecordAlgorithms&) = delete;
    RecordAlgorithms& operator=(const RecordAlgorithms&) = delete;

    // The suite by its IANA id; null for one this layer does not run (TLS_AES_128_CCM_*).
    const RecordSuite* suite(std::uint16_t id) const;
    EVP_KDF* kdf() const { return kdf_; }

  private:
    RecordAlgorithms() = default;
    std::array<RecordSuite, 3> suites_{};
    EVP_KDF* kdf_ = nullptr;
};

struct TrafficSecret {
    std::array<std::uint8_t, 48> bytes{};
    std::size_t size = 0;  // 0: not known
};

// What open() found in a record.
struct OpenedRecord {
    ContentType type = ContentType::application_data;
    std::span<char> plaintext;  // inside the record passed to open()
};

// A failure that ends the connection, with the alert the peer gets (RFC 8446 §6.2).
struct RecordError {
    AlertCode alert = AlertCode::internal_error;
    std::string_view reason;  // static text
};

class RecordLayer {
  public:
    // Keys from the two application traffic secrets (RFC 8446 §7.3); sequence numbers start at
    // the given values (records already protected by OpenSSL under these secrets).
    static Result<RecordLayer> create(const RecordAlgorithms& algorithms, const RecordSuite& suite,
                                      const TrafficSecret& read, const TrafficSecret& write,
                                      std::uint64_t read_sequence, std::uint64_t write_sequence);

    RecordLayer(RecordLayer&&) noexcept;
    RecordLayer& operator=(RecordLayer&&) noexcept;
    ~RecordLayer();

    // Seals one record of `type` holding the bytes of `pieces` (at most kMaxRecordPlaintext in
    // all) into out, which has room for them plus kRecordOverhead. Returns the record's size.
    Result<std::size_t> seal(ContentType type, std::span<const iovec> pieces, std::span<char> out);
    // Opens one whole record (header and ciphertext) in place.
    bool open(std::span<char> record, OpenedRecord& opened, RecordError& error);

    // KeyUpdate (RFC 8446 §4.6.3, §7.2): the next generation of one direction's secret and keys.
    bool update_read();
    bool update_write();

    // Frees the two cipher handles (about 2 KB each) while the connection is idle; the next seal
    // or open makes them again from the keys kept here.
    void release_contexts();
    bool holds_contexts() const;

    std::uint16_t suite_id() const;

  private:
    // One direction's keys (RFC 8446 §5.3): its secret (for the next KeyUpdate), the AEAD key
    // and IV derived from it, and the next record's sequence number.
    struct Direction {
        TrafficSecret secret;
        std::array<std::uint8_t, 32> key{};
        std::array<std::uint8_t, kAeadNonceSize> iv{};
        std::uint64_t sequence = 0;
        RecordAead aead;  // made on demand, keyed with `key`
    };

    RecordLayer(const RecordAlgorithms& algorithms, const RecordSuite& suite);
    // HKDF-Expand-Label(secret, label, "", size) with the suite's hash.
    bool expand(const TrafficSecret& secret, std::string_view label, std::uint8_t* out,
                std::size_t size) const;
    bool derive(Direction& d, const TrafficSecret& secret);
    bool update(Direction& d);
    bool ensure_context(Direction& d);
    void nonce(const Direction& d, std::uint8_t (&out)[kAeadNonceSize]) const;
    static void wipe(Direction& d);

    const RecordAlgorithms* algorithms_ = nullptr;
    const RecordSuite* suite_ = nullptr;
    Direction read_;
    Direction write_;
};

}  // namespace anyedge::tls
