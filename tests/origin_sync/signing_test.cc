#include "origin-sync/content/signing.h"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "origin-sync/content/store.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge {
namespace {

using testing_util::TempDir;

TEST(Signing, SignVerifyRoundTrip) {
    auto key = SigningKey::generate();
    ASSERT_TRUE(key.ok()) << key.error();
    auto sig = key->sign("hello");
    ASSERT_TRUE(sig.ok()) << sig.error();
    EXPECT_EQ(sig->size(), kSignatureSize);
    EXPECT_TRUE(key->public_key().verify("hello", *sig).ok());
}

TEST(Signing, RejectsTamperedMessageSignatureAndOtherKey) {
    auto key = SigningKey::generate();
    auto other = SigningKey::generate();
    ASSERT_TRUE(key.ok() && other.ok());
    std::string sig = *key->sign("message");
    VerifyKey pub = key->public_key();
    EXPECT_FALSE(pub.verify("messagf", sig).ok());
    for (size_t i = 0; i < sig.size(); ++i) {
        std::string bad = sig;
        bad[i] = static_cast<char>(bad[i] ^ 1);
        EXPECT_FALSE(pub.verify("message", bad).ok()) << i;
    }
    EXPECT_FALSE(pub.verify("message", sig.substr(1)).ok());
    EXPECT_FALSE(pub.verify("message", "").ok());
    EXPECT_FALSE(other->public_key().verify("message", sig).ok());
}

TEST(Signing, PemRoundTripKeepsTheKey) {
    auto key = SigningKey::generate();
    ASSERT_TRUE(key.ok());
    auto again = SigningKey::from_pem(key->private_pem());
    ASSERT_TRUE(again.ok()) << again.error();
    auto pub = VerifyKey::from_pem(key->public_key().pem());
    ASSERT_TRUE(pub.ok()) << pub.error();
    EXPECT_EQ(pub->raw(), key->public_key().raw());
    EXPECT_EQ(pub->raw().size(), 32u);
    EXPECT_TRUE(pub->verify("x", *again->sign("x")).ok());
}

TEST(Signing, RejectsGarbageAndNonEd25519Keys) {
    EXPECT_FALSE(SigningKey::from_pem("not a key").ok());
    EXPECT_FALSE(VerifyKey::from_pem("").ok());
    // A P-256 key is a valid PEM but the wrong algorithm.
    EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ASSERT_NE(ec, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, ec);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string p256(data, static_cast<size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(ec);
    auto k = VerifyKey::from_pem(p256);
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().find("Ed25519"), std::string::npos) << k.error();
}

TEST(Signing, WriteKeypairMakesPrivateFile0600AndRefusesOverwrite) {
    TempDir dir;
    ASSERT_TRUE(write_keypair(dir.path() / "keys").ok());
    struct stat st;
    ASSERT_EQ(::stat((dir.path() / "keys/private.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto priv = SigningKey::load(dir.path() / "keys/private.pem");
    auto pub = VerifyKey::load(dir.path() / "keys/public.pem");
    ASSERT_TRUE(priv.ok() && pub.ok());
    EXPECT_EQ(priv->public_key().raw(), pub->raw());
    Status again = write_keypair(dir.path() / "keys");
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().find("already exists"), std::string::npos);
    // The existing key is untouched.
    auto after = SigningKey::load(dir.path() / "keys/private.pem");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->public_key().raw(), pub->raw());
}

TEST(Signing, LoadMissingFileNamesIt) {
    auto k = VerifyKey::load("/nonexistent/anyedge.pem");
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().find("/nonexistent/anyedge.pem"), std::string::npos);
}

}  // namespace
}  // namespace anyedge
