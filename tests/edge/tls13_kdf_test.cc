// anyedge's TLS13-KDF (crypto_provider.h, tls13_kdf.h) against RFC 8448's key schedule and
// against OpenSSL's own TLS13-KDF (the default provider), through the EVP_KDF calls libssl makes.
#include "edge/tls/provider/tls13_kdf.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>

#include "edge/tls/provider/crypto_provider.h"
#include "tests/edge/hex_bytes.h"

namespace anyedge::tls {
namespace {

using tests::Bytes;
using tests::from_hex;

Bytes bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

// Mandatory properties: these tests must not fall back to another implementation.
constexpr const char* kOurs = "anyedge.tls13_kdf=yes";
constexpr const char* kOpenssl = "provider=default";

// One derivation as libssl asks for it (ssl/tls13_enc.c): absent fields are not passed.
struct Request {
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    std::string digest = "SHA2-256";
    const Bytes* key = nullptr;
    const Bytes* salt = nullptr;
    Bytes prefix = bytes("tls13 ");
    Bytes label = {};
    const Bytes* data = nullptr;
    std::size_t out_len = 32;
};

struct KdfFree {
    void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, KdfFree>;

// Both implementations, from the provider's library context (which holds the default one too).
KdfCtx new_kdf(const char* properties) {
    auto library = crypto_library({.x25519_by_libsodium = false});
    EVP_KDF* kdf = library ? EVP_KDF_fetch(library->libctx, "TLS13-KDF", properties) : nullptr;
    KdfCtx ctx(kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr);
    EVP_KDF_free(kdf);
    return ctx;
}

std::vector<OSSL_PARAM> params_of(Request& r) {
    auto octets = [](const char* name, const Bytes& b) {
        return OSSL_PARAM_construct_octet_string(name, const_cast<unsigned char*>(b.data()),
                                                 b.size());
    };
    std::vector<OSSL_PARAM> p;
    p.push_back(OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &r.mode));
    p.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, r.digest.data(), 0));
    if (r.key != nullptr) p.push_back(octets(OSSL_KDF_PARAM_KEY, *r.key));
    if (r.salt != nullptr) p.push_back(octets(OSSL_KDF_PARAM_SALT, *r.salt));
    p.push_back(octets(OSSL_KDF_PARAM_PREFIX, r.prefix));
    p.push_back(octets(OSSL_KDF_PARAM_LABEL, r.label));
    if (r.data != nullptr) p.push_back(octets(OSSL_KDF_PARAM_DATA, *r.data));
    p.push_back(OSSL_PARAM_construct_end());
    return p;
}

// The derived bytes, or empty if the KDF refused.
Bytes derive(const char* properties, Request r) {
    KdfCtx ctx = new_kdf(properties);
    if (ctx == nullptr) {
        ADD_FAILURE() << "no TLS13-KDF for " << properties;
        return {};
    }
    std::vector<OSSL_PARAM> params = params_of(r);
    Bytes out(r.out_len);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
        return {};
    }
    return out;
}

class Tls13Kdf : public ::testing::Test {
  protected:
    void SetUp() override {
        auto library = crypto_library({.x25519_by_libsodium = false});
        ASSERT_TRUE(library) << library.error();
        EXPECT_EQ(library->property_query, "?anyedge.tls13_kdf=yes");
    }
};

TEST_F(Tls13Kdf, IsOffered) {
    auto library = crypto_library({.x25519_by_libsodium = false});
    ASSERT_TRUE(library);
    EVP_KDF* ours = EVP_KDF_fetch(library->libctx, "TLS13-KDF", kOurs);
    ASSERT_NE(ours, nullptr);
    EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_KDF_get0_provider(ours)), kCryptoProviderName);
    EVP_KDF_free(ours);
    EVP_KDF* preferred =
        EVP_KDF_fetch(library->libctx, "TLS13-KDF", library->property_query.c_str());
    ASSERT_NE(preferred, nullptr);
    EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_KDF_get0_provider(preferred)), kCryptoProviderName);
    EVP_KDF_free(preferred);
}

// RFC 8448 §3 (a simple 1-RTT handshake): early secret, the "derived" salt folded into the
// handshake secret, and the server's handshake traffic secret over the transcript hash.
TEST_F(Tls13Kdf, Rfc8448KeySchedule) {
    const Bytes early =
        derive(kOurs, {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .label = bytes("derived")});
    EXPECT_EQ(early, from_hex("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"));
    const Bytes ecdhe =
        from_hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
    const Bytes handshake = derive(kOurs, {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY,
                                           .key = &ecdhe,
                                           .salt = &early,
                                           .label = bytes("derived")});
    EXPECT_EQ(handshake,
              from_hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"));
    const Bytes hello_hash =
        from_hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
    const Bytes server_hs =
        derive(kOurs, {.key = &handshake, .label = bytes("s hs traffic"), .data = &hello_hash});
    EXPECT_EQ(server_hs,
              from_hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"));
}

// Every shape of request libssl makes, for both TLS 1.3 hashes, and a few it does not
// (multi-block output, no context, SHA-512): byte for byte what OpenSSL derives.
TEST_F(Tls13Kdf, AgreesWithOpenssl) {
    const Bytes secret32 =
        from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    const Bytes secret48(48, 0x5a);
    const Bytes secret64(64, 0xa5);
    const Bytes hash = from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const Bytes psk(32, 0x42);
    Bytes empty_key;
    empty_key.reserve(1);  // a pointer to no bytes, as a caller passing a zero-length key has
    for (const auto& [digest, size, secret] :
         {std::tuple{"SHA2-256", std::size_t{32}, &secret32},
          std::tuple{"SHA256", std::size_t{32}, &secret32},
          std::tuple{"SHA2-384", std::size_t{48}, &secret48},
          std::tuple{"SHA2-512", std::size_t{64}, &secret64}}) {
        std::vector<Request> requests;
        // Extraction: early secret (no salt, no key), with a PSK, and the handshake and master
        // secrets (a previous secret as salt; with and without new key material).
        requests.push_back({.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .label = bytes("derived")});
        requests.push_back(
            {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .key = &psk, .label = bytes("derived")});
        requests.push_back({.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY,
                            .key = &psk,
                            .salt = secret,
                            .label = bytes("derived")});
        requests.push_back(
            {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .salt = secret, .label = bytes("derived")});
        // Expansion: traffic secrets over a hash, keys and IVs with no context, long outputs.
        for (std::size_t out :
             {std::size_t{12}, std::size_t{16}, size, std::size_t{100}, std::size_t{255}}) {
            requests.push_back(
                {.key = secret, .label = bytes("c hs traffic"), .data = &hash, .out_len = out});
            requests.push_back({.key = secret, .label = bytes("key"), .out_len = out});
            requests.push_back({.key = secret, .label = bytes("finished"), .out_len = out});
        }
        requests.push_back({.key = secret, .label = bytes("exp master"), .data = &hash});
        requests.push_back({.key = secret, .label = Bytes(249, 'x'), .data = &hash});
        // An empty key is a key, not "the previous one" (each thread's HMAC context is reused).
        requests.push_back({.key = &empty_key, .label = bytes("key")});
        requests.push_back(
            {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .key = &empty_key, .label = bytes("derived")});
        for (Request& r : requests) {
            r.digest = digest;
            if (r.mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) r.out_len = size;
            SCOPED_TRACE(std::string(digest) + " mode " + std::to_string(r.mode) + " label " +
                         std::string(r.label.begin(), r.label.end()).substr(0, 16) + " out " +
                         std::to_string(r.out_len));
            const Bytes theirs = derive(kOpenssl, r);
            ASSERT_EQ(theirs.size(), r.out_len);
            EXPECT_EQ(derive(kOurs, r), theirs);
        }
    }
}

TEST_F(Tls13Kdf, RefusesWhatOpensslRefuses) {
    const Bytes secret(32, 1);
    const Bytes long_context(256, 2);
    // Extract-and-expand is not a TLS 1.3 step.
    EXPECT_TRUE(
        derive(kOurs, {.mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, .key = &secret}).empty());
    // No digest by that name; an extendable-output one.
    EXPECT_TRUE(derive(kOurs, {.digest = "NO-SUCH-DIGEST", .key = &secret}).empty());
    EXPECT_TRUE(derive(kOurs, {.digest = "SHAKE-256", .key = &secret}).empty());
    // Expansion without a key; a label or context longer than HkdfLabel can carry; more
    // output than 255 blocks.
    EXPECT_TRUE(derive(kOurs, {.label = bytes("key")}).empty());
    EXPECT_TRUE(derive(kOurs, {.key = &secret, .label = Bytes(250, 'x')}).empty());
    EXPECT_TRUE(derive(kOurs, {.key = &secret, .data = &long_context}).empty());
    EXPECT_TRUE(derive(kOurs, {.key = &secret, .out_len = 255 * 32 + 1}).empty());
    // Extraction makes exactly one digest's worth.
    EXPECT_TRUE(derive(kOurs, {.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY, .out_len = 16}).empty());
    // A parameter that claims bytes it does not point to is refused, not read.
    KdfCtx bad_key = new_kdf(kOurs);
    ASSERT_NE(bad_key, nullptr);
    OSSL_PARAM dangling[] = {OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, nullptr, 32),
                             OSSL_PARAM_construct_end()};
    EXPECT_EQ(EVP_KDF_CTX_set_params(bad_key.get(), dangling), 0);
    // The mode by name, as EVP_KDF users may give it.
    KdfCtx ctx = new_kdf(kOurs);
    ASSERT_NE(ctx, nullptr);
    char bad_mode[] = "EXTRACT_AND_EXPAND";
    char good_mode[] = "EXPAND_ONLY";
    OSSL_PARAM bad[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, bad_mode, 0),
                        OSSL_PARAM_construct_end()};
    OSSL_PARAM good[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, good_mode, 0),
                         OSSL_PARAM_construct_end()};
    EXPECT_EQ(EVP_KDF_CTX_set_params(ctx.get(), bad), 0);
    EXPECT_EQ(EVP_KDF_CTX_set_params(ctx.get(), good), 1);
}

// A context set up once, then duplicated, reset and reused: the same answers as fresh ones.
TEST_F(Tls13Kdf, DupResetAndSize) {
    const Bytes secret(32, 7);
    const Bytes hash(32, 9);
    Request r{.key = &secret, .label = bytes("s ap traffic"), .data = &hash};
    const Bytes expected = derive(kOpenssl, r);
    KdfCtx ctx = new_kdf(kOurs);
    ASSERT_NE(ctx, nullptr);
    std::vector<OSSL_PARAM> params = params_of(r);
    ASSERT_EQ(EVP_KDF_CTX_set_params(ctx.get(), params.data()), 1);
    EXPECT_EQ(EVP_KDF_CTX_get_kdf_size(ctx.get()), SIZE_MAX);  // expansion: any length
    KdfCtx copy(EVP_KDF_CTX_dup(ctx.get()));
    ASSERT_NE(copy, nullptr);
    Bytes out(32);
    // The context data belongs to the call that gave it, so it is given again.
    OSSL_PARAM data[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA,
                                          const_cast<unsigned char*>(hash.data()), hash.size()),
        OSSL_PARAM_construct_end()};
    ASSERT_EQ(EVP_KDF_derive(copy.get(), out.data(), out.size(), data), 1);
    EXPECT_EQ(out, expected);
    EVP_KDF_CTX_reset(ctx.get());
    EXPECT_EQ(EVP_KDF_derive(ctx.get(), out.data(), out.size(), nullptr), 0);  // nothing set
    ASSERT_EQ(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()), 1);
    EXPECT_EQ(out, expected);
    int extract = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
    OSSL_PARAM mode[] = {OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &extract),
                         OSSL_PARAM_construct_end()};
    ASSERT_EQ(EVP_KDF_CTX_set_params(ctx.get(), mode), 1);
    EXPECT_EQ(EVP_KDF_CTX_get_kdf_size(ctx.get()), 32u);
}

// Forgetting the keys leaves the contexts usable, and derivations right after give the same.
TEST_F(Tls13Kdf, ForgettingKeysKeepsResults) {
    const Bytes secret(32, 5);
    Request r{.key = &secret, .label = bytes("res master")};
    const Bytes expected = derive(kOpenssl, r);
    EXPECT_EQ(derive(kOurs, r), expected);
    EXPECT_TRUE(tls13_kdf_holds_keys_on_this_thread());
    tls13_kdf_forget_keys();
    EXPECT_FALSE(tls13_kdf_holds_keys_on_this_thread());
    tls13_kdf_forget_keys();  // nothing to do
    EXPECT_EQ(derive(kOurs, r), expected);
}

// Each thread keeps its own HMAC contexts: threads deriving at once get the right bytes.
TEST_F(Tls13Kdf, ThreadsDeriveAtOnce) {
    const Bytes secret(48, 3);
    const Bytes hash(48, 4);
    Request r{.digest = "SHA2-384",
              .key = &secret,
              .label = bytes("c ap traffic"),
              .data = &hash,
              .out_len = 48};
    const Bytes expected = derive(kOpenssl, r);
    std::vector<int> wrong(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const unsigned long before = tls13_kdf_derivations_on_this_thread();
            for (int i = 0; i < 200; ++i) {
                wrong[t] += derive(kOurs, r) != expected;
            }
            wrong[t] += tls13_kdf_derivations_on_this_thread() - before != 200;
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace anyedge::tls
