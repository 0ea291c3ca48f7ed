// cdn-sync's certificate install (replicate/cert_follower.h), fed documents from memory the
// way the origin would serve them: only a signed bundle with this node's key, a key that
// matches the leaf and a certificate newer than the installed one is ever written.
#include "origin-sync/replicate/cert_follower.h"

#include <sys/stat.h>

#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "origin-sync/acme/cert_bundle.h"
#include "origin-sync/acme/certificate_key.h"
#include "origin-sync/acme/node_key.h"
#include "origin-sync/base/clock.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/content/signing.h"
#include "tests/origin_sync/test_certificate.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge::replicate {
namespace {

namespace fs = std::filesystem;

using testing_util::certificate_for;

class CertFollowerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto signer = SigningKey::generate();
        ASSERT_TRUE(signer);
        signer_.emplace(std::move(*signer));
        auto node = acme::NodeKey::load_or_create(dir_.path() / "node.key");
        ASSERT_TRUE(node);
        node_pub_ = node->public_base64();
        ASSERT_TRUE(atomic_write_file(cert_file(), "old certificate"));
        ASSERT_TRUE(atomic_write_file(key_file(), "old key", 0600));
        follower_ = open_follower();
    }
    std::optional<CertFollower> open_follower() {
        CertFollowOptions o;
        o.node_name = "e1";
        o.node_key_file = dir_.path() / "node.key";
        o.cert_file = cert_file();
        o.key_file = key_file();
        o.state_dir = dir_.path();
        auto f = CertFollower::open(o, signer_->public_key(),
                                    [this](const std::string& line) { log_ += line + "\n"; });
        EXPECT_TRUE(f) << f.error();
        if (!f) return std::nullopt;
        return std::move(*f);
    }
    fs::path cert_file() const { return dir_.path() / "cert.pem"; }
    fs::path key_file() const { return dir_.path() / "key.pem"; }

    // A bundle for a fresh key; `nodes` get the key sealed to them (wrong_key: another key).
    acme::CertBundle make_bundle(long serial, int64_t issued, bool for_e1 = true,
                                 bool wrong_key = false) {
        auto key = acme::CertificateKey::generate({"blog.example"});
        auto other = acme::CertificateKey::generate({"blog.example"});
        EXPECT_TRUE(key && other);
        acme::CertBundle b;
        b.names = {"blog.example"};
        b.chain_pem = certificate_for(key->private_pem(), "blog.example", serial, 30);
        auto leaf = acme::read_leaf(b.chain_pem);
        EXPECT_TRUE(leaf);
        b.serial = leaf->serial_hex;
        b.not_before = leaf->not_before;
        b.not_after = leaf->not_after;
        b.issued = issued;
        if (for_e1) {
            auto sealed = acme::seal_to_node(node_pub_,
                                             wrong_key ? other->private_pem() : key->private_pem());
            EXPECT_TRUE(sealed);
            b.sealed_keys["e1"] = *sealed;
            expected_key_ = key->private_pem();
        }
        auto elsewhere = acme::NodeKey::generate();
        b.sealed_keys["e2"] = *acme::seal_to_node(elsewhere->public_base64(), key->private_pem());
        return b;
    }
    void serve(const acme::CertBundle& b, const SigningKey* by = nullptr) {
        const std::string text = acme::encode_bundle(b);
        docs_[acme::kBundlePath] = text;
        docs_[std::string(acme::kBundlePath) + ".sig"] = *(by ? by : &*signer_)->sign(text);
    }
    CertFollower::Fetch fetch() {
        return [this](const std::string& rel) -> Result<std::optional<std::string>> {
            auto it = docs_.find(rel);
            if (it == docs_.end()) return std::optional<std::string>();
            return std::optional<std::string>(it->second);
        };
    }
    std::string cert_now() { return *read_file(cert_file()); }

    testing_util::TempDir dir_;
    std::optional<SigningKey> signer_;
    std::string node_pub_, expected_key_, log_;
    std::map<std::string, std::string> docs_;
    std::optional<CertFollower> follower_;
};

TEST_F(CertFollowerTest, NoBundleYetKeepsTheConfiguredCertificate) {
    auto r = follower_->poll(fetch(), true);
    ASSERT_TRUE(r) << r.error();
    EXPECT_FALSE(*r);
    EXPECT_EQ(follower_->status()["state"], "none");
    EXPECT_EQ(cert_now(), "old certificate");
}

TEST_F(CertFollowerTest, InstallsItsOwnKeyAndTheChainOnceAndLogsIt) {
    const acme::CertBundle b = make_bundle(7, unix_now());
    serve(b);
    auto r = follower_->poll(fetch(), true);
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(*r);
    EXPECT_EQ(cert_now(), b.chain_pem);
    EXPECT_EQ(*read_file(key_file()), expected_key_);
    struct stat st {};
    ASSERT_EQ(::stat(key_file().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(follower_->status()["state"], "ok");
    EXPECT_EQ(follower_->status()["serial"], "07");
    EXPECT_NE(log_.find("certificate 07 installed"), std::string::npos) << log_;
    // The same bundle again: nothing to do, also after a restart (certificate.json).
    EXPECT_FALSE(*follower_->poll(fetch(), true));
    auto restarted = open_follower();
    ASSERT_TRUE(restarted);
    EXPECT_FALSE(*restarted->poll(fetch(), true));
}

TEST_F(CertFollowerTest, RefusesABundleSignedByAnotherKey) {
    auto intruder = SigningKey::generate();
    ASSERT_TRUE(intruder);
    serve(make_bundle(8, unix_now()), &*intruder);
    auto r = follower_->poll(fetch(), true);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("signature"), std::string::npos) << r.error();
    EXPECT_EQ(cert_now(), "old certificate");
    EXPECT_EQ(follower_->status()["state"], "error");
}

TEST_F(CertFollowerTest, RefusesAKeyThatIsNotTheLeafs) {
    serve(make_bundle(9, unix_now(), true, /*wrong_key=*/true));
    auto r = follower_->poll(fetch(), true);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("does not belong"), std::string::npos) << r.error();
    EXPECT_EQ(cert_now(), "old certificate");
    EXPECT_EQ(*read_file(key_file()), "old key");
}

TEST_F(CertFollowerTest, SaysWhenTheBundleHasNoKeyForThisNode) {
    serve(make_bundle(10, unix_now(), /*for_e1=*/false));
    auto r = follower_->poll(fetch(), true);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("no key sealed to node e1"), std::string::npos) << r.error();
    EXPECT_EQ(cert_now(), "old certificate");
}

TEST_F(CertFollowerTest, RefusesAnOlderBundleReplayedAfterANewerOne) {
    const acme::CertBundle old_bundle = make_bundle(11, unix_now() - 100);
    const acme::CertBundle new_bundle = make_bundle(12, unix_now());
    serve(new_bundle);
    ASSERT_TRUE(*follower_->poll(fetch(), true));
    serve(old_bundle);
    auto r = follower_->poll(fetch(), true);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("replayed"), std::string::npos) << r.error();
    EXPECT_EQ(cert_now(), new_bundle.chain_pem);
}

TEST_F(CertFollowerTest, ReportsTheIssuersLastError) {
    acme::IssuerStatus s;
    s.state = "error";
    s.error = "ACME directory: connection refused";
    s.failures = 2;
    const std::string text = acme::encode_issuer_status(s);
    docs_[acme::kIssuerStatusPath] = text;
    docs_[std::string(acme::kIssuerStatusPath) + ".sig"] = *signer_->sign(text);
    ASSERT_TRUE(follower_->poll(fetch(), true));
    const auto st = follower_->status();
    ASSERT_TRUE(st.contains("issuer"));
    EXPECT_EQ(st["issuer"]["state"], "error");
    EXPECT_EQ(st["issuer"]["error"], s.error);
    EXPECT_EQ(st["issuer"]["failures"], 2);
}

TEST_F(CertFollowerTest, WaitsForTheIntervalUnlessForced) {
    serve(make_bundle(13, unix_now()));
    ASSERT_TRUE(*follower_->poll(fetch(), true));
    serve(make_bundle(14, unix_now() + 1));
    // interval is 10 s by default: an unforced poll right after does nothing.
    EXPECT_FALSE(*follower_->poll(fetch()));
    EXPECT_TRUE(*follower_->poll(fetch(), true));
}

}  // namespace
}  // namespace anyedge::replicate
