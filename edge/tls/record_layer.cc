#include "edge/tls/record_layer.h"

#include <cstring>
#include <limits>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "edge/tls/openssl_ptr.h"
#include "edge/tls/provider/tls13_kdf.h"

#include <sodium.h>

namespace anyedge::tls {
namespace {

// HKDF-Expand-Label(secret, label, "", size) (RFC 8446 §7.1).
bool expand_label(EVP_KDF* kdf, const char* digest, const TrafficSecret& secret,
                  std::string_view label, std::uint8_t* out, std::size_t size) {
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == nullptr) {
        return false;
    }
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    static const char kPrefix[] = "tls13 ";
    unsigned char no_context = 0;
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(secret.bytes.data()), secret.size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix),
                                          sizeof kPrefix - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label.data()),
                                          label.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, &no_context, 0),
        OSSL_PARAM_construct_end(),
    };
    const bool ok = EVP_KDF_derive(ctx, out, size, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok;
}

// The same for the SHA-256 suites, whose every output here (key, IV, next secret) is one
// HKDF-Expand block: T(1) = HMAC-SHA256(secret, HkdfLabel || 0x01), by libsodium. A fifth of
// the instructions of a derivation through EVP_KDF, whose parameter passing and context set-up
// dominate such short inputs; four of them run on every new connection.
bool expand_label_sha256(const TrafficSecret& secret, std::string_view label, std::uint8_t* out,
                         std::size_t size) {
    if (size > crypto_auth_hmacsha256_BYTES) {
        return false;
    }
    // HkdfLabel, then the block counter.
    unsigned char info[kMaxHkdfLabelSize + 1];
    std::size_t n = hkdf_label(info, size, "tls13 ", label, {});
    if (n == 0) {
        return false;
    }
    info[n++] = 1;
    crypto_auth_hmacsha256_state state;
    std::uint8_t block[crypto_auth_hmacsha256_BYTES];
    const bool ok = crypto_auth_hmacsha256_init(&state, secret.bytes.data(), secret.size) == 0 &&
                    crypto_auth_hmacsha256_update(&state, info, n) == 0 &&
                    crypto_auth_hmacsha256_final(&state, block) == 0;
    std::memcpy(out, block, size);
    sodium_memzero(&state, sizeof state);
    sodium_memzero(block, sizeof block);
    return ok;
}

}  // namespace

// --- RecordAlgorithms ---

Result<std::unique_ptr<RecordAlgorithms>> RecordAlgorithms::fetch(OSSL_LIB_CTX* libctx,
                                                                  const char* property_query) {
    if (sodium_init() < 0) {
        return make_error("libsodium failed to initialise");
    }
    if (!RecordAead::initialise()) {
        return make_error(
            "libgcrypt cannot seal TLS records (older than the version built against, or in "
            "FIPS mode)");
    }
    std::unique_ptr<RecordAlgorithms> a(new RecordAlgorithms());
    struct Spec {
        std::uint16_t id;
        AeadAlgorithm aead;
        std::size_t key_size;
        const char* digest;
        std::size_t secret_size;
    };
    static constexpr Spec kSpecs[] = {
        {0x1301, AeadAlgorithm::aes_128_gcm, 16, "SHA256", 32},
        {0x1302, AeadAlgorithm::aes_256_gcm, 32, "SHA384", 48},
        {0x1303, AeadAlgorithm::chacha20_poly1305, 32, "SHA256", 32},
    };
    for (std::size_t i = 0; i < a->suites_.size(); ++i) {
        RecordSuite& s = a->suites_[i];
        s.id = kSpecs[i].id;
        s.key_size = kSpecs[i].key_size;
        s.digest = kSpecs[i].digest;
        s.secret_size = kSpecs[i].secret_size;
        s.aead = kSpecs[i].aead;
    }
    a->kdf_ = EVP_KDF_fetch(libctx, "TLS13-KDF", property_query);
    if (a->kdf_ == nullptr) {
        return make_error(openssl_error("fetching TLS13-KDF"));
    }
    return a;
}

RecordAlgorithms::~RecordAlgorithms() { EVP_KDF_free(kdf_); }

const RecordSuite* RecordAlgorithms::suite(std::uint16_t id) const {
    for (const RecordSuite& s : suites_) {
        if (s.id == id) {
            return &s;
        }
    }
    return nullptr;
}

// --- RecordLayer ---

RecordLayer::RecordLayer(const RecordAlgorithms& algorithms, const RecordSuite& suite)
    : algorithms_(&algorithms), suite_(&suite) {}

Result<RecordLayer> RecordLayer::create(const RecordAlgorithms& algorithms,
                                        const RecordSuite& suite, const TrafficSecret& read,
                                        const TrafficSecret& write, std::uint64_t read_sequence,
                                        std::uint64_t write_sequence) {
    if (read.size != suite.secret_size || write.size != suite.secret_size) {
        return make_error("traffic secret size does not match the cipher suite");
    }
    RecordLayer layer(algorithms, suite);
    const bool ok = layer.derive(layer.read_, read) && layer.derive(layer.write_, write);
    tls13_kdf_forget_keys();
    if (!ok) {
        return make_error(openssl_error("deriving TLS 1.3 record keys"));
    }
    layer.read_.sequence = read_sequence;
    layer.write_.sequence = write_sequence;
    return layer;
}

RecordLayer::RecordLayer(RecordLayer&& o) noexcept
    : algorithms_(o.algorithms_),
      suite_(o.suite_),
      read_(std::move(o.read_)),
      write_(std::move(o.write_)) {
    wipe(o.read_);
    wipe(o.write_);
}

RecordLayer& RecordLayer::operator=(RecordLayer&& o) noexcept {
    if (this != &o) {
        wipe(read_);
        wipe(write_);
        algorithms_ = o.algorithms_;
        suite_ = o.suite_;
        read_ = std::move(o.read_);
        write_ = std::move(o.write_);
        wipe(o.read_);
        wipe(o.write_);
    }
    return *this;
}

RecordLayer::~RecordLayer() {
    wipe(read_);
    wipe(write_);
}

void RecordLayer::wipe(Direction& d) {
    d.aead.release();  // wipes the key schedule
    OPENSSL_cleanse(&d.secret, sizeof d.secret);
    OPENSSL_cleanse(d.key.data(), d.key.size());
    OPENSSL_cleanse(d.iv.data(), d.iv.size());
}

std::uint16_t RecordLayer::suite_id() const { return suite_->id; }

bool RecordLayer::expand(const TrafficSecret& secret, std::string_view label, std::uint8_t* out,
                         std::size_t size) const {
    if (suite_->secret_size == 32) {
        return expand_label_sha256(secret, label, out, size);
    }
    return expand_label(algorithms_->kdf(), suite_->digest, secret, label, out, size);
}

bool RecordLayer::derive(Direction& d, const TrafficSecret& secret) {
    d.secret = secret;
    return expand(secret, "key", d.key.data(), suite_->key_size) &&
           expand(secret, "iv", d.iv.data(), d.iv.size());
}

bool RecordLayer::update(Direction& d) {
    TrafficSecret next;
    next.size = d.secret.size;
    bool ok = expand(d.secret, "traffic upd", next.bytes.data(), next.size);
    if (ok) {
        d.aead.release();
        ok = derive(d, next);
        d.sequence = 0;
    }
    OPENSSL_cleanse(&next, sizeof next);
    tls13_kdf_forget_keys();
    return ok;
}

bool RecordLayer::update_read() { return update(read_); }
bool RecordLayer::update_write() { return update(write_); }

bool RecordLayer::ensure_context(Direction& d) {
    return d.aead.holds() ||
           d.aead.open(suite_->aead, std::span<const std::uint8_t>(d.key.data(), suite_->key_size));
}

void RecordLayer::release_contexts() {
    read_.aead.release();
    write_.aead.release();
}

bool RecordLayer::holds_contexts() const { return read_.aead.holds() || write_.aead.holds(); }

void RecordLayer::nonce(const Direction& d, std::uint8_t (&out)[kAeadNonceSize]) const {
    // RFC 8446 §5.3: the 64-bit sequence number, big-endian and left-padded to the IV's length,
    // XORed with the IV.
    std::memcpy(out, d.iv.data(), kAeadNonceSize);
    for (int i = 0; i < 8; ++i) {
        out[kAeadNonceSize - 1 - i] ^= static_cast<std::uint8_t>(d.sequence >> (8 * i));
    }
}

Result<std::size_t> RecordLayer::seal(ContentType type, std::span<const iovec> pieces,
                                      std::span<char> out) {
    std::size_t total = 0;
    for (const iovec& p : pieces) {
        total += p.iov_len;
    }
    if (total > kMaxRecordPlaintext || out.size() < total + kRecordOverhead) {
        return make_error("record does not fit");
    }
    if (write_.sequence == std::numeric_limits<std::uint64_t>::max()) {
        return make_error("record sequence number exhausted");
    }
    if (!ensure_context(write_)) {
        return make_error("record cipher context");
    }
    const std::size_t length = total + 1 + kRecordTagSize;
    auto* header = reinterpret_cast<unsigned char*>(out.data());
    header[0] = static_cast<unsigned char>(ContentType::application_data);  // opaque_type
    header[1] = 0x03;  // legacy_record_version 0x0303
    header[2] = 0x03;
    header[3] = static_cast<unsigned char>(length >> 8);
    header[4] = static_cast<unsigned char>(length);
    std::uint8_t iv[kAeadNonceSize];
    nonce(write_, iv);
    RecordAead& aead = write_.aead;
    unsigned char* body = header + kRecordHeaderSize;
    std::size_t done = 0;
    bool ok = aead.start(iv, std::span<const std::uint8_t>(header, kRecordHeaderSize));
    for (const iovec& p : pieces) {
        if (!ok || p.iov_len == 0) {
            continue;
        }
        ok = aead.encrypt(p.iov_base, p.iov_len, body + done);
        done += p.iov_len;
    }
    const unsigned char inner_type = static_cast<unsigned char>(type);
    ok = ok && aead.encrypt(&inner_type, 1, body + done);
    ++done;
    ok = ok && aead.tag(body + done);
    if (!ok) {
        return make_error("record encryption failed");
    }
    ++write_.sequence;
    return kRecordHeaderSize + length;
}

bool RecordLayer::open(std::span<char> record, OpenedRecord& opened, RecordError& error) {
    auto* header = reinterpret_cast<unsigned char*>(record.data());
    if (record.size() < kRecordHeaderSize) {
        error = {AlertCode::decode_error, "short record"};
        return false;
    }
    const std::size_t length = (std::size_t{header[3]} << 8) | header[4];
    if (length != record.size() - kRecordHeaderSize) {
        error = {AlertCode::decode_error, "record length mismatch"};
        return false;
    }
    // After the handshake every record is protected (RFC 8446 §5): a plaintext alert or
    // change_cipher_spec here is unexpected.
    if (header[0] != static_cast<unsigned char>(ContentType::application_data)) {
        error = {AlertCode::unexpected_message, "unprotected record after the handshake"};
        return false;
    }
    if (length > kMaxRecordCiphertext) {
        error = {AlertCode::record_overflow, "record too long"};
        return false;
    }
    if (length < kRecordTagSize + 1) {
        error = {AlertCode::bad_record_mac, "decryption failed"};
        return false;
    }
    if (read_.sequence == std::numeric_limits<std::uint64_t>::max()) {
        error = {AlertCode::internal_error, "record sequence number exhausted"};
        return false;
    }
    if (!ensure_context(read_)) {
        error = {AlertCode::internal_error, "record cipher context"};
        return false;
    }
    std::uint8_t iv[kAeadNonceSize];
    nonce(read_, iv);
    RecordAead& aead = read_.aead;
    unsigned char* body = header + kRecordHeaderSize;
    const std::size_t sealed = length - kRecordTagSize;
    const bool ok = aead.start(iv, std::span<const std::uint8_t>(header, kRecordHeaderSize)) &&
                    aead.decrypt_in_place(body, sealed) && aead.check_tag(body + sealed);
    if (!ok) {
        error = {AlertCode::bad_record_mac, "decryption failed"};
        return false;
    }
    ++read_.sequence;
    // TLSInnerPlaintext: content, then its type, then zero padding (RFC 8446 §5.2).
    std::size_t end = sealed;
    while (end > 0 && body[end - 1] == 0) {
        --end;
    }
    if (end == 0) {
        error = {AlertCode::unexpected_message, "record without a content type"};
        return false;
    }
    const unsigned char type = body[end - 1];
    if (end - 1 > kMaxRecordPlaintext) {
        error = {AlertCode::record_overflow, "record plaintext too long"};
        return false;
    }
    if (type != static_cast<unsigned char>(ContentType::application_data) &&
        type != static_cast<unsigned char>(ContentType::handshake) &&
        type != static_cast<unsigned char>(ContentType::alert)) {
        error = {AlertCode::unexpected_message, "unexpected record content type"};
        return false;
    }
    opened.type = static_cast<ContentType>(type);
    opened.plaintext = std::span<char>(reinterpret_cast<char*>(body), end - 1);
    return true;
}

}  // namespace anyedge::tls
