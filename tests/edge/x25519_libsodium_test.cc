// The libsodium X25519 algorithms (crypto_provider.h) against RFC 7748's test vectors and against
// OpenSSL's own implementation (the default provider), through the same EVP calls libssl makes.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "edge/tls/provider/crypto_provider.h"
#include "tests/edge/hex_bytes.h"

namespace anyedge::tls {
namespace {

using tests::Bytes;
using tests::from_hex;

// "provider=..." (not "?provider=..."): these tests must not fall back to the default one.
std::string ours() { return std::string("provider=") + kCryptoProviderName; }
constexpr const char* kDefaultProvider = "provider=default";

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The provider's own library context (it also holds an instance of the default provider).
OSSL_LIB_CTX* libctx() {
    auto library = crypto_library({.x25519_by_libsodium = true, .tls13_kdf_by_anyedge = false});
    return library ? library->libctx : nullptr;
}

class X25519Libsodium : public ::testing::Test {
  protected:
    void SetUp() override {
        auto library = crypto_library({.x25519_by_libsodium = true, .tls13_kdf_by_anyedge = false});
        ASSERT_TRUE(library) << library.error();
        ASSERT_NE(library->libctx, nullptr);
        EXPECT_EQ(library->property_query, "?anyedge.x25519=yes");
    }
};

// Nothing outside the provider's library context can fetch its algorithms, even by asking.
TEST_F(X25519Libsodium, StaysInItsOwnLibraryContext) {
    EVP_KEYMGMT* in_default = EVP_KEYMGMT_fetch(nullptr, "X25519", ours().c_str());
    EXPECT_EQ(in_default, nullptr);
    EVP_KEYMGMT_free(in_default);
    ERR_clear_error();
    EVP_KEYMGMT* plain = EVP_KEYMGMT_fetch(nullptr, "X25519", nullptr);
    ASSERT_NE(plain, nullptr);
    EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(plain)), "default");
    EVP_KEYMGMT_free(plain);
    EVP_KEYMGMT* ours_there = EVP_KEYMGMT_fetch(libctx(), "X25519", ours().c_str());
    ASSERT_NE(ours_there, nullptr);
    EVP_KEYMGMT_free(ours_there);
}

std::string provider_of(const EVP_PKEY* key) {
    const OSSL_PROVIDER* p = EVP_PKEY_get0_provider(key);
    return p == nullptr ? "" : OSSL_PROVIDER_get0_name(p);
}

Pkey private_key(const Bytes& priv, const std::string& propq) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(libctx(), "X25519", propq.c_str());
    EVP_PKEY* key = nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY,
                                          const_cast<unsigned char*>(priv.data()), priv.size()),
        OSSL_PARAM_construct_end()};
    if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1) {
        key = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    return Pkey(key);
}

// The way libssl makes a peer's key share: an empty key of the group, then its encoding.
Pkey peer_key(const Bytes& pub, const std::string& propq) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(libctx(), "X25519", propq.c_str());
    EVP_PKEY* key = nullptr;
    if (ctx == nullptr || EVP_PKEY_paramgen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx, "x25519") != 1 || EVP_PKEY_paramgen(ctx, &key) != 1) {
        key = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    if (key != nullptr && EVP_PKEY_set1_encoded_public_key(key, pub.data(), pub.size()) != 1) {
        EVP_PKEY_free(key);
        key = nullptr;
    }
    return Pkey(key);
}

// The way libssl makes its own key share: a key pair generated from the peer's (template) key.
Pkey generated_key(const std::string& propq) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(libctx(), "X25519", propq.c_str());
    EVP_PKEY* key = nullptr;
    if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx, "x25519") != 1 || EVP_PKEY_keygen(ctx, &key) != 1) {
        key = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    return Pkey(key);
}

Bytes public_of(EVP_PKEY* key) {
    unsigned char* encoded = nullptr;
    const std::size_t n = EVP_PKEY_get1_encoded_public_key(key, &encoded);
    Bytes out(encoded, encoded + n);
    OPENSSL_free(encoded);
    return out;
}

// The shared secret, or empty when the derivation fails.
Bytes derive(EVP_PKEY* self, EVP_PKEY* peer, const std::string& propq) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(libctx(), self, propq.c_str());
    Bytes out(64);
    std::size_t n = 0;
    const bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
                    EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
                    EVP_PKEY_derive(ctx, nullptr, &n) == 1 && n == 32 &&
                    EVP_PKEY_derive(ctx, out.data(), &n) == 1;
    EVP_PKEY_CTX_free(ctx);
    out.resize(ok ? n : 0);
    return out;
}

// RFC 7748 §6.1.
const Bytes kAlicePriv =
    from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const Bytes kAlicePub =
    from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
const Bytes kBobPriv = from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
const Bytes kBobPub = from_hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
const Bytes kShared = from_hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

TEST_F(X25519Libsodium, Rfc7748Vectors) {
    Pkey alice = private_key(kAlicePriv, ours());
    Pkey bob = private_key(kBobPriv, ours());
    ASSERT_TRUE(alice && bob);
    EXPECT_EQ(provider_of(alice.get()), kCryptoProviderName);
    EXPECT_EQ(public_of(alice.get()), kAlicePub);
    EXPECT_EQ(public_of(bob.get()), kBobPub);
    Pkey bob_pub = peer_key(kBobPub, ours());
    Pkey alice_pub = peer_key(kAlicePub, ours());
    ASSERT_TRUE(bob_pub && alice_pub);
    EXPECT_EQ(derive(alice.get(), bob_pub.get(), ours()), kShared);
    EXPECT_EQ(derive(bob.get(), alice_pub.get(), ours()), kShared);
    EXPECT_EQ(EVP_PKEY_get_bits(alice.get()), 253);
    EXPECT_EQ(EVP_PKEY_get_security_bits(alice.get()), 128);
    EXPECT_EQ(EVP_PKEY_get_size(alice.get()), 32);
}

// Keys made on each side agree with OpenSSL's implementation, both ways, as a TLS client using
// OpenSSL and a server using this provider must.
TEST_F(X25519Libsodium, AgreesWithOpenssl) {
    for (int i = 0; i < 20; ++i) {
        Pkey mine = generated_key(ours());
        Pkey theirs = generated_key(kDefaultProvider);
        ASSERT_TRUE(mine && theirs);
        EXPECT_EQ(provider_of(mine.get()), kCryptoProviderName);
        EXPECT_EQ(provider_of(theirs.get()), "default");
        Pkey theirs_pub = peer_key(public_of(theirs.get()), ours());
        Pkey mine_pub = peer_key(public_of(mine.get()), kDefaultProvider);
        ASSERT_TRUE(theirs_pub && mine_pub);
        const Bytes a = derive(mine.get(), theirs_pub.get(), ours());
        const Bytes b = derive(theirs.get(), mine_pub.get(), kDefaultProvider);
        ASSERT_EQ(a.size(), 32u);
        EXPECT_EQ(a, b);
    }
    // Two key pairs are not the same key.
    EXPECT_NE(public_of(generated_key(ours()).get()), public_of(generated_key(ours()).get()));
}

// Generated key pairs (made when asked for): each public key is the one OpenSSL computes from the
// private key, the private key is clamped as OpenSSL's generator leaves it, and no key repeats, on
// this thread or another.
TEST_F(X25519Libsodium, GeneratedPublicKeysAreWhatOpensslComputes) {
    auto check = [](int count, std::vector<Bytes>& seen) {
        for (int i = 0; i < count; ++i) {
            Pkey mine = generated_key(ours());
            ASSERT_TRUE(mine);
            Bytes priv(32);
            std::size_t len = priv.size();
            ASSERT_EQ(EVP_PKEY_get_raw_private_key(mine.get(), priv.data(), &len), 1);
            EXPECT_EQ(priv[0] & 7, 0);
            EXPECT_EQ(priv[31] & 0xc0, 0x40);
            Pkey theirs = private_key(priv, kDefaultProvider);
            ASSERT_TRUE(theirs);
            EXPECT_EQ(public_of(mine.get()), public_of(theirs.get())) << i;
            seen.push_back(public_of(mine.get()));
        }
    };
    std::vector<Bytes> seen;
    check(100, seen);
    std::vector<Bytes> other;
    std::thread worker([&] { check(40, other); });
    worker.join();
    seen.insert(seen.end(), other.begin(), other.end());
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

// A child made by fork() makes other keys than its parent (nothing made in advance is shared,
// and the random generator is reseeded in the child).
TEST_F(X25519Libsodium, AForkedChildMakesOtherKeys) {
    ASSERT_TRUE(generated_key(ours()));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        alarm(10);  // never outlive the test
        Pkey key = generated_key(ours());
        const Bytes pub = key ? public_of(key.get()) : Bytes{};
        const bool sent = write(fds[1], pub.data(), pub.size()) == static_cast<ssize_t>(pub.size());
        _exit(sent ? 0 : 1);
    }
    close(fds[1]);
    Bytes childs(32);
    std::size_t got = 0;
    for (ssize_t n = 1; n > 0 && got < childs.size(); got += static_cast<std::size_t>(n)) {
        n = read(fds[0], childs.data() + got, childs.size() - got);
        if (n <= 0) break;
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(got, 32u);
    Pkey mine = generated_key(ours());
    ASSERT_TRUE(mine);
    EXPECT_NE(public_of(mine.get()), childs);
}

// RFC 7748 §6.1: a peer key of small order gives an all-zero secret, which must be refused.
TEST_F(X25519Libsodium, RefusesSmallOrderPeerKeys) {
    Pkey mine = generated_key(ours());
    ASSERT_TRUE(mine);
    const Bytes zero(32, 0);
    Bytes one(32, 0);
    one[0] = 1;
    for (const Bytes& bad : {zero, one}) {
        Pkey peer = peer_key(bad, ours());
        ASSERT_TRUE(peer);
        EXPECT_TRUE(derive(mine.get(), peer.get(), ours()).empty());
    }
    // An encoding of the wrong length is refused when it is set.
    EXPECT_FALSE(peer_key(Bytes(31, 9), ours()));
    // A key with no private half cannot start a derivation.
    Pkey peer = peer_key(kBobPub, ours());
    EXPECT_TRUE(derive(peer.get(), peer.get(), ours()).empty());
}

// Copies, comparisons and moves between providers keep the key (EVP_PKEY_dup, EVP_PKEY_eq,
// export to the default provider for an operation only it has).
TEST_F(X25519Libsodium, KeysCopyCompareAndExport) {
    Pkey alice = private_key(kAlicePriv, ours());
    ASSERT_TRUE(alice);
    Pkey copy(EVP_PKEY_dup(alice.get()));
    ASSERT_TRUE(copy);
    EXPECT_EQ(public_of(copy.get()), kAlicePub);
    EXPECT_EQ(EVP_PKEY_eq(alice.get(), copy.get()), 1);
    Pkey bob = private_key(kBobPriv, ours());
    EXPECT_EQ(EVP_PKEY_eq(alice.get(), bob.get()), 0);

    unsigned char raw[32];
    std::size_t n = sizeof raw;
    ASSERT_EQ(EVP_PKEY_get_raw_private_key(alice.get(), raw, &n), 1);
    EXPECT_EQ(Bytes(raw, raw + n), kAlicePriv);

    // A public key alone has no private half to give.
    Pkey bob_share = peer_key(kBobPub, ours());
    n = sizeof raw;
    EXPECT_NE(EVP_PKEY_get_raw_private_key(bob_share.get(), raw, &n), 1);
    n = sizeof raw;
    ASSERT_EQ(EVP_PKEY_get_raw_public_key(bob_share.get(), raw, &n), 1);
    EXPECT_EQ(Bytes(raw, raw + n), kBobPub);

    // Derive with OpenSSL's key exchange from our key: EVP exports it to the default provider.
    Pkey bob_pub = peer_key(kBobPub, kDefaultProvider);
    EXPECT_EQ(derive(alice.get(), bob_pub.get(), kDefaultProvider), kShared);

    // The key pair checks: a public key that does not match the private one fails.
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, alice.get(), ours().c_str());
    EXPECT_EQ(EVP_PKEY_pairwise_check(check), 1);
    EVP_PKEY_CTX_free(check);
}

}  // namespace
}  // namespace anyedge::tls
