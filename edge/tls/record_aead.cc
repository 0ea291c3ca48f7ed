#include "edge/tls/record_aead.h"

#include <gcrypt.h>

namespace anyedge::tls {

namespace {

// The library's one-time set-up; open() needs it before its first handle.
bool library_ready() {
    static const bool ready = [] {
        if (gcry_check_version(GCRYPT_VERSION) == nullptr) {
            return false;
        }
        // Another library in the process may have finished the set-up already.
        if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P) == 0) {
            gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
            gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
        }
        return true;
    }();
    return ready;
}

}  // namespace

bool RecordAead::initialise() {
    // One record through the same calls every record makes, so that a library that refuses
    // them (in FIPS mode it refuses GCM with a caller's nonce) fails the start-up, not every
    // connection.
    static const bool works = [] {
        const std::uint8_t key[16] = {};
        const std::uint8_t nonce[kAeadNonceSize] = {};
        std::uint8_t block[16] = {};
        std::uint8_t tag[kAeadTagSize];
        RecordAead aead;
        return aead.open(AeadAlgorithm::aes_128_gcm, key) && aead.start(nonce, {}) &&
               aead.encrypt(block, sizeof block, block) && aead.tag(tag);
    }();
    return works;
}

RecordAead& RecordAead::operator=(RecordAead&& o) noexcept {
    if (this != &o) {
        release();
        handle_ = o.handle_;
        o.handle_ = nullptr;
    }
    return *this;
}

bool RecordAead::open(AeadAlgorithm algorithm, std::span<const std::uint8_t> key) {
    release();
    int cipher = GCRY_CIPHER_AES128;
    int mode = GCRY_CIPHER_MODE_GCM;
    std::size_t key_size = 16;
    switch (algorithm) {
        case AeadAlgorithm::aes_128_gcm:
            break;
        case AeadAlgorithm::aes_256_gcm:
            cipher = GCRY_CIPHER_AES256;
            key_size = 32;
            break;
        case AeadAlgorithm::chacha20_poly1305:
            cipher = GCRY_CIPHER_CHACHA20;
            mode = GCRY_CIPHER_MODE_POLY1305;
            key_size = 32;
            break;
    }
    // libgcrypt keys its AES by the key's length, whatever the algorithm named: a 16-byte key
    // under GCRY_CIPHER_AES256 would quietly run AES-128.
    if (key.size() != key_size) {
        return false;
    }
    if (!library_ready() || gcry_cipher_open(&handle_, cipher, mode, 0) != 0) {
        handle_ = nullptr;
        return false;
    }
    if (gcry_cipher_setkey(handle_, key.data(), key.size()) != 0) {
        release();
        return false;
    }
    return true;
}

void RecordAead::release() {
    gcry_cipher_close(handle_);  // wipes the key schedule; accepts null
    handle_ = nullptr;
}

bool RecordAead::start(const std::uint8_t (&nonce)[kAeadNonceSize],
                       std::span<const std::uint8_t> aad) {
    return handle_ != nullptr && gcry_cipher_setiv(handle_, nonce, kAeadNonceSize) == 0 &&
           gcry_cipher_authenticate(handle_, aad.data(), aad.size()) == 0;
}

bool RecordAead::encrypt(const void* in, std::size_t size, void* out) {
    return gcry_cipher_encrypt(handle_, out, size, in, size) == 0;
}

bool RecordAead::decrypt_in_place(void* data, std::size_t size) {
    return gcry_cipher_decrypt(handle_, data, size, nullptr, 0) == 0;
}

bool RecordAead::tag(std::uint8_t* out) {
    return gcry_cipher_gettag(handle_, out, kAeadTagSize) == 0;
}

bool RecordAead::check_tag(const std::uint8_t* received) {
    return gcry_cipher_checktag(handle_, received, kAeadTagSize) == 0;
}

}  // namespace anyedge::tls
