// RecordAead (libgcrypt) against OpenSSL's EVP AEADs: the same key, nonce and additional data
// give the same ciphertext and tag for every suite, whatever pieces the plaintext comes in, and a
// changed byte anywhere fails the tag.
#include "edge/tls/record_aead.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace anyedge::tls {
namespace {

struct Case {
    AeadAlgorithm algorithm;
    const EVP_CIPHER* (*evp)();
    std::size_t key_size;
};

const Case kCases[] = {
    {AeadAlgorithm::aes_128_gcm, EVP_aes_128_gcm, 16},
    {AeadAlgorithm::aes_256_gcm, EVP_aes_256_gcm, 32},
    {AeadAlgorithm::chacha20_poly1305, EVP_chacha20_poly1305, 32},
};

// OpenSSL's answer: ciphertext followed by the tag.
std::vector<std::uint8_t> evp_seal(const Case& c, const std::uint8_t* key,
                                   const std::uint8_t* nonce, const std::uint8_t* aad,
                                   std::size_t aad_size, const std::vector<std::uint8_t>& plain) {
    std::vector<std::uint8_t> out(plain.size() + kAeadTagSize);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    int m = 0;
    EXPECT_EQ(EVP_EncryptInit_ex(ctx, c.evp(), nullptr, key, nonce), 1);
    EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, aad, static_cast<int>(aad_size)), 1);
    EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &n, plain.data(), static_cast<int>(plain.size())),
              1);
    EXPECT_EQ(EVP_EncryptFinal_ex(ctx, out.data() + n, &m), 1);
    EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, out.data() + n + m), 1);
    EVP_CIPHER_CTX_free(ctx);
    return out;
}

TEST(RecordAead, AgreesWithOpensslForEverySuiteInAnyPieces) {
    std::mt19937 rng(7);
    for (const Case& c : kCases) {
        RecordAead aead;
        std::uint8_t key[32];
        for (int trial = 0; trial < 60; ++trial) {
            // One key for three records in turn, as a connection's handle seals many; a new one
            // as after a KeyUpdate or an idle release.
            if (trial % 3 == 0) {
                ASSERT_EQ(RAND_bytes(key, sizeof key), 1);
                ASSERT_TRUE(aead.open(c.algorithm, {key, c.key_size}));
            }
            std::uint8_t nonce[kAeadNonceSize];
            std::uint8_t aad[5];
            ASSERT_EQ(RAND_bytes(nonce, sizeof nonce), 1);
            ASSERT_EQ(RAND_bytes(aad, sizeof aad), 1);
            std::vector<std::uint8_t> plain(rng() % 16386);
            ASSERT_EQ(RAND_bytes(plain.data(), static_cast<int>(plain.size())), 1);
            const auto expected = evp_seal(c, key, nonce, aad, sizeof aad, plain);

            std::vector<std::uint8_t> sealed(plain.size() + kAeadTagSize);
            ASSERT_TRUE(aead.start(nonce, {aad, sizeof aad}));
            std::size_t done = 0;
            while (done < plain.size()) {
                // Pieces of any length: a response head, a body, one inner type byte.
                std::size_t piece = rng() % 3 == 0 ? rng() % 40 : rng() % 6000;
                piece = std::min(piece, plain.size() - done);
                ASSERT_TRUE(aead.encrypt(plain.data() + done, piece, sealed.data() + done));
                done += piece;
            }
            ASSERT_TRUE(aead.tag(sealed.data() + plain.size()));
            ASSERT_EQ(sealed, expected) << "algorithm " << static_cast<int>(c.algorithm) << ", "
                                        << plain.size() << " bytes";

            std::vector<std::uint8_t> opened = sealed;
            ASSERT_TRUE(aead.start(nonce, {aad, sizeof aad}));
            ASSERT_TRUE(aead.decrypt_in_place(opened.data(), plain.size()));
            EXPECT_TRUE(aead.check_tag(opened.data() + plain.size()));
            opened.resize(plain.size());
            EXPECT_EQ(opened, plain);
        }
    }
}

TEST(RecordAead, AChangedByteFailsTheTag) {
    for (const Case& c : kCases) {
        std::uint8_t key[32] = {1, 2, 3};
        std::uint8_t nonce[kAeadNonceSize] = {9};
        std::uint8_t aad[5] = {0x17, 0x03, 0x03, 0x00, 0x31};
        const std::vector<std::uint8_t> plain(32, 'x');
        RecordAead aead;
        ASSERT_TRUE(aead.open(c.algorithm, {key, c.key_size}));
        std::vector<std::uint8_t> sealed(plain.size() + kAeadTagSize);
        ASSERT_TRUE(aead.start(nonce, {aad, sizeof aad}));
        ASSERT_TRUE(aead.encrypt(plain.data(), plain.size(), sealed.data()));
        ASSERT_TRUE(aead.tag(sealed.data() + plain.size()));

        // Every byte of ciphertext and tag, then every byte of the additional data.
        for (std::size_t at = 0; at < sealed.size() + sizeof aad; ++at) {
            std::vector<std::uint8_t> bad = sealed;
            std::uint8_t bad_aad[5];
            std::memcpy(bad_aad, aad, sizeof aad);
            if (at < bad.size()) {
                bad[at] ^= 0x01;
            } else {
                bad_aad[at - bad.size()] ^= 0x80;
            }
            ASSERT_TRUE(aead.start(nonce, {bad_aad, sizeof bad_aad}));
            ASSERT_TRUE(aead.decrypt_in_place(bad.data(), plain.size()));
            EXPECT_FALSE(aead.check_tag(bad.data() + plain.size())) << "byte " << at;
        }
        // The untouched record still opens with the same handle.
        std::vector<std::uint8_t> good = sealed;
        ASSERT_TRUE(aead.start(nonce, {aad, sizeof aad}));
        ASSERT_TRUE(aead.decrypt_in_place(good.data(), plain.size()));
        EXPECT_TRUE(aead.check_tag(good.data() + plain.size()));
    }
}

TEST(RecordAead, ReleasedOrUnopenedHandleRefusesToStart) {
    RecordAead aead;
    std::uint8_t nonce[kAeadNonceSize] = {};
    EXPECT_FALSE(aead.start(nonce, {}));
    std::uint8_t key[16] = {};
    ASSERT_TRUE(aead.open(AeadAlgorithm::aes_128_gcm, key));
    EXPECT_TRUE(aead.holds());
    aead.release();
    EXPECT_FALSE(aead.holds());
    EXPECT_FALSE(aead.start(nonce, {}));
    // A key of the wrong size is refused, not truncated or padded.
    EXPECT_FALSE(aead.open(AeadAlgorithm::aes_256_gcm, key));
    EXPECT_FALSE(aead.holds());
}

}  // namespace
}  // namespace anyedge::tls
