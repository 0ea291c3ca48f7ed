// The ACME issuer's pure parts and its files: the account key, JWS, node sealing keys, the
// certificate key and CSR, the bundle, the renewal rule and the issuer's config and backoff.
// The protocol against a real CA (pebble) runs in the lab (tests/lab/acme.sh).
#include "origin-sync/content/acme.h"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "origin-sync/acme/account_key.h"
#include "origin-sync/acme/acme_client.h"
#include "origin-sync/acme/cert_bundle.h"
#include "origin-sync/acme/certificate_key.h"
#include "origin-sync/acme/issuer.h"
#include "origin-sync/acme/node_key.h"
#include "origin-sync/base/base64.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/publish/origin.h"
#include "tests/origin_sync/test_certificate.h"
#include "tests/origin_sync/test_util.h"

namespace anyedge::acme {
namespace {

namespace fs = std::filesystem;

using testing_util::certificate_for;
using testing_util::read_private_key;

TEST(Base64, RoundTripsBothAlphabets) {
    const std::string bytes("\xfb\xff\x00\x10 any", 8);
    EXPECT_EQ(base64_encode(bytes), "+/8AECBhbnk=");
    EXPECT_EQ(base64url_encode(bytes), "-_8AECBhbnk");
    EXPECT_EQ(base64_decode("+/8AECBhbnk="), bytes);
    EXPECT_EQ(base64url_decode("-_8AECBhbnk"), bytes);
    EXPECT_FALSE(base64url_decode("+/8AECBhbnk="));
    EXPECT_FALSE(base64_decode("not base64!"));
    EXPECT_EQ(base64url_encode(""), "");
}

TEST(AccountKey, ThumbprintIsSha256OfTheCanonicalJwk) {
    auto key = AccountKey::generate();
    ASSERT_TRUE(key) << key.error();
    const nlohmann::json jwk = key->jwk();
    // RFC 7638 §3.2: required members only, lexicographic order, no white space.
    const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" +
                                  jwk["x"].get<std::string>() + R"(","y":")" +
                                  jwk["y"].get<std::string>() + R"("})";
    const Sha256 d = sha256(canonical);
    EXPECT_EQ(key->thumbprint(),
              base64url_encode(std::string(reinterpret_cast<const char*>(d.data()), d.size())));
    EXPECT_TRUE(is_sha256_thumbprint(key->thumbprint()));
    EXPECT_EQ(base64url_decode(jwk["x"].get<std::string>())->size(), 32u);
    EXPECT_EQ(base64url_decode(jwk["y"].get<std::string>())->size(), 32u);
}

TEST(AccountKey, IsMadeOnceWithMode0600AndReloaded) {
    testing_util::TempDir dir;
    const fs::path file = dir.path() / "account.pem";
    auto made = AccountKey::load_or_create(file);
    ASSERT_TRUE(made) << made.error();
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = AccountKey::load_or_create(file);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->thumbprint(), made->thumbprint());
}

TEST(AccountKey, RefusesAKeyThatCannotSignEs256) {
    auto ed = SigningKey::generate();
    ASSERT_TRUE(ed);
    auto k = AccountKey::from_pem(ed->private_pem());
    ASSERT_FALSE(k);
    EXPECT_NE(k.error().find("P-256"), std::string::npos) << k.error();
    EXPECT_FALSE(AccountKey::from_pem("not a key"));
}

TEST(Jws, FlattenedSerializationVerifiesWithTheAccountKey) {
    auto key = AccountKey::generate();
    ASSERT_TRUE(key);
    auto jws = sign_jws(*key, "https://ca.example/new-order", "nonce-1", "", R"({"a":1})");
    ASSERT_TRUE(jws) << jws.error();
    const auto j = nlohmann::json::parse(*jws);
    const auto header = nlohmann::json::parse(*base64url_decode(j["protected"].get<std::string>()));
    EXPECT_EQ(header["alg"], "ES256");
    EXPECT_EQ(header["nonce"], "nonce-1");
    EXPECT_EQ(header["url"], "https://ca.example/new-order");
    EXPECT_EQ(header["jwk"], key->jwk());  // before the account exists
    EXPECT_FALSE(header.contains("kid"));
    EXPECT_EQ(*base64url_decode(j["payload"].get<std::string>()), R"({"a":1})");

    // R || S, 32 bytes each, over "protected.payload" (RFC 7515 §5.1, RFC 7518 §3.4).
    const std::string sig = *base64url_decode(j["signature"].get<std::string>());
    ASSERT_EQ(sig.size(), 64u);
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    const std::string signing_input =
        j["protected"].get<std::string>() + "." + j["payload"].get<std::string>();
    EVP_PKEY* pk = read_private_key(key->private_pem());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pk), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                               reinterpret_cast<const unsigned char*>(signing_input.data()),
                               signing_input.size()),
              1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    OPENSSL_free(der);
}

TEST(Jws, UsesTheAccountUrlOnceKnownAndAnEmptyPayloadForPostAsGet) {
    auto key = AccountKey::generate();
    ASSERT_TRUE(key);
    auto jws = sign_jws(*key, "https://ca.example/order/1", "n", "https://ca.example/acct/7", "");
    ASSERT_TRUE(jws);
    const auto j = nlohmann::json::parse(*jws);
    const auto header = nlohmann::json::parse(*base64url_decode(j["protected"].get<std::string>()));
    EXPECT_EQ(header["kid"], "https://ca.example/acct/7");
    EXPECT_FALSE(header.contains("jwk"));
    EXPECT_EQ(j["payload"], "");
}

TEST(AcmeProblem, NamesTypeDetailAndSubproblems) {
    AcmeResponse r;
    r.status = 400;
    r.json = {{"type", "urn:ietf:params:acme:error:rejectedIdentifier"},
              {"detail", "policy forbids"},
              {"subproblems", {{{"detail", "bad.example is forbidden"}}}}};
    EXPECT_EQ(describe_problem(r),
              "HTTP 400: urn:ietf:params:acme:error:rejectedIdentifier: policy forbids; "
              "bad.example is forbidden");
    AcmeResponse plain;
    plain.status = 502;
    plain.body = "Bad Gateway";
    EXPECT_EQ(describe_problem(plain), "HTTP 502: Bad Gateway");
}

TEST(NodeKey, OnlyTheNodeOpensWhatIsSealedToIt) {
    testing_util::TempDir dir;
    auto node = NodeKey::load_or_create(dir.path() / "node.key");
    ASSERT_TRUE(node) << node.error();
    auto other = NodeKey::generate();
    ASSERT_TRUE(other);
    EXPECT_TRUE(is_node_public_key(node->public_base64()));
    auto sealed = seal_to_node(node->public_base64(), "-----BEGIN PRIVATE KEY-----");
    ASSERT_TRUE(sealed) << sealed.error();
    EXPECT_EQ(sealed->find("PRIVATE"), std::string::npos);
    EXPECT_EQ(node->open(*sealed).value(), "-----BEGIN PRIVATE KEY-----");
    EXPECT_FALSE(other->open(*sealed));
    std::string tampered = *sealed;
    tampered.back() ^= 1;
    EXPECT_FALSE(node->open(tampered));
    EXPECT_FALSE(node->open("short"));
    EXPECT_FALSE(seal_to_node("AAAA", "x"));
}

TEST(NodeKey, SecretFileIsPrivateAndGivesTheSamePublicKey) {
    testing_util::TempDir dir;
    const fs::path file = dir.path() / "node.key";
    auto made = NodeKey::load_or_create(file);
    ASSERT_TRUE(made);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto loaded = NodeKey::load(file);
    ASSERT_TRUE(loaded) << loaded.error();
    EXPECT_EQ(loaded->public_base64(), made->public_base64());
    ASSERT_TRUE(atomic_write_file(dir.path() / "bad.key", "c2hvcnQ=\n", 0600));
    auto bad = NodeKey::load(dir.path() / "bad.key");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("not a node key"), std::string::npos) << bad.error();
}

TEST(CertificateKey, CsrNamesEveryNameAndIsSignedByTheKey) {
    auto key = CertificateKey::generate({"blog.example", "www.blog.example"});
    ASSERT_TRUE(key) << key.error();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(key->csr_der().data());
    X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(key->csr_der().size()));
    ASSERT_NE(req, nullptr);
    EXPECT_EQ(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
    STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
    std::string sans;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
        X509_EXTENSION* e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name) continue;
        BIO* b = BIO_new(BIO_s_mem());
        X509V3_EXT_print(b, e, 0, 0);
        char* data = nullptr;
        const long len = BIO_get_mem_data(b, &data);
        sans.assign(data, static_cast<size_t>(len));
        BIO_free(b);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    EXPECT_EQ(sans, "DNS:blog.example, DNS:www.blog.example");
    EXPECT_FALSE(CertificateKey::generate({}));
}

TEST(CertificateKey, ForgetsThePrivateKeyAndKeepsTheCsr) {
    auto key = CertificateKey::generate({"blog.example"});
    ASSERT_TRUE(key);
    EXPECT_NE(key->private_pem().find("PRIVATE KEY"), std::string::npos);
    key->forget_private_key();
    EXPECT_TRUE(key->private_pem().empty());
    EXPECT_FALSE(key->csr_der().empty());
    EXPECT_FALSE(key->public_pem().empty());
}

TEST(CertificateKey, LeafFactsAndKeyMatch) {
    auto key = CertificateKey::generate({"blog.example"});
    auto other = CertificateKey::generate({"blog.example"});
    ASSERT_TRUE(key && other);
    const std::string chain = certificate_for(key->private_pem(), "blog.example", 0x1234, 90);
    auto leaf = read_leaf(chain);
    ASSERT_TRUE(leaf) << leaf.error();
    EXPECT_EQ(leaf->serial_hex, "1234");
    EXPECT_EQ(leaf->dns_names, std::vector<std::string>{"blog.example"});
    EXPECT_NEAR(static_cast<double>(leaf->not_after - leaf->not_before), 90.0 * 86400, 2);
    EXPECT_EQ(leaf->public_pem, key->public_pem());
    EXPECT_TRUE(check_key_matches(chain, key->private_pem()));
    EXPECT_FALSE(check_key_matches(chain, other->private_pem()));
    EXPECT_FALSE(read_leaf("no certificate here"));
}

CertBundle sample_bundle() {
    CertBundle b;
    b.names = {"blog.example"};
    b.serial = "ABCD";
    b.not_before = 1000;
    b.not_after = 1000 + 90 * 86400;
    b.issued = 1001;
    b.chain_pem = "-----BEGIN CERTIFICATE-----\n...\n";
    b.sealed_keys = {{"e1", std::string("\x01\x02\xff", 3)}, {"e2", "sealed"}};
    return b;
}

TEST(CertBundle, RoundTripsAndRefusesOtherFormats) {
    const CertBundle b = sample_bundle();
    auto back = decode_bundle(encode_bundle(b));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->names, b.names);
    EXPECT_EQ(back->serial, b.serial);
    EXPECT_EQ(back->not_after, b.not_after);
    EXPECT_EQ(back->chain_pem, b.chain_pem);
    EXPECT_EQ(back->sealed_keys, b.sealed_keys);
    auto j = nlohmann::json::parse(encode_bundle(b));
    j["format"] = "something-else/2";
    EXPECT_FALSE(decode_bundle(j.dump()));
    j = nlohmann::json::parse(encode_bundle(b));
    j["keys"]["e2"] = "not base64!";
    auto bad = decode_bundle(j.dump());
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("keys.e2"), std::string::npos) << bad.error();
}

TEST(CertBundle, IssuerStatusRoundTrips) {
    IssuerStatus s;
    s.state = "error";
    s.error = "HTTP 429: urn:ietf:params:acme:error:rateLimited";
    s.failures = 3;
    s.next_attempt = 42;
    auto back = decode_issuer_status(encode_issuer_status(s));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->error, s.error);
    EXPECT_EQ(back->failures, 3);
    EXPECT_EQ(back->next_attempt, 42);
}

IssuerConfig two_node_config() {
    IssuerConfig c;
    c.names = {"blog.example"};
    c.nodes = {{"e1", "pub1"}, {"e2", "pub2"}};
    return c;
}

TEST(Renewal, DueWithoutACertificateOnNewNamesAndForANodeWithoutAKey) {
    IssuerConfig c = two_node_config();
    EXPECT_TRUE(renewal_decision(c, nullptr, 0).due);
    CertBundle b = sample_bundle();
    EXPECT_FALSE(renewal_decision(c, &b, 2000).due);
    c.nodes["e3"] = "pub3";
    const Decision joined = renewal_decision(c, &b, 2000);
    EXPECT_TRUE(joined.due);
    EXPECT_NE(joined.why.find("e3"), std::string::npos) << joined.why;
    c = two_node_config();
    c.names.push_back("www.blog.example");
    EXPECT_TRUE(renewal_decision(c, &b, 2000).due);
}

TEST(Renewal, DueAtTwoThirdsOfTheLifetime) {
    const IssuerConfig c = two_node_config();
    const CertBundle b = sample_bundle();  // 90 days from t=1000: renews at day 60
    const int64_t renew = 1000 + 60 * 86400;
    EXPECT_EQ(renewal_decision(c, &b, 0).renew_time, renew);
    EXPECT_FALSE(renewal_decision(c, &b, renew - 1).due);
    EXPECT_TRUE(renewal_decision(c, &b, renew).due);
}

TEST(Renewal, BackoffDoublesUpToTheMaximum) {
    IssuerConfig c;
    c.retry_min_s = 60;
    c.retry_max_s = 300;
    EXPECT_EQ(retry_delay_s(c, 1), 60);
    EXPECT_EQ(retry_delay_s(c, 2), 120);
    EXPECT_EQ(retry_delay_s(c, 3), 240);
    EXPECT_EQ(retry_delay_s(c, 4), 300);
    EXPECT_EQ(retry_delay_s(c, 40), 300);
}

class IssuerFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(write_keypair(dir_.path() / "keys"));
        auto node = NodeKey::load_or_create(dir_.path() / "e1.key");
        ASSERT_TRUE(node);
        node_pub_ = node->public_base64();
        fs::create_directories(dir_.path() / "origin");
    }
    nlohmann::json config_json() const {
        return {{"directory", "http://127.0.0.1:1/directory"},  // nothing listens on port 1
                {"account_key", (dir_.path() / "account.pem").string()},
                {"names", {"blog.example"}},
                {"nodes", {{"e1", node_pub_}}},
                {"origin", (dir_.path() / "origin").string()},
                {"signing_key", (dir_.path() / "keys/private.pem").string()},
                {"retry_min_s", 60},
                {"timeout_ms", 2000}};
    }
    Result<IssuerConfig> load(const nlohmann::json& j) {
        const fs::path file = dir_.path() / "issuer.json";
        EXPECT_TRUE(atomic_write_file(file, j.dump()));
        return load_issuer_config(file);
    }
    testing_util::TempDir dir_;
    std::string node_pub_;
};

TEST_F(IssuerFiles, ConfigErrorsNameTheKey) {
    ASSERT_TRUE(load(config_json()));
    auto j = config_json();
    j["nodes"]["e2"] = "not-a-key";
    auto bad = load(j);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("nodes.e2"), std::string::npos) << bad.error();
    j = config_json();
    j["names"] = nlohmann::json::array();
    EXPECT_FALSE(load(j));
    j = config_json();
    j["renew_at"] = 0.5;  // a typo of renew_at_permille
    bad = load(j);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("unknown key"), std::string::npos) << bad.error();
}

TEST_F(IssuerFiles, AnUnreachableCaIsPublishedAsAnErrorAndBacksOff) {
    auto cfg = load(config_json());
    ASSERT_TRUE(cfg) << cfg.error();
    publish::LocalOrigin origin(dir_.path() / "origin");
    auto first = issue_once(*cfg, origin, false, {});
    ASSERT_FALSE(first);
    EXPECT_NE(first.error().find("127.0.0.1:1"), std::string::npos) << first.error();
    // Nothing was published but the signed status with the error.
    EXPECT_FALSE(fs::exists(dir_.path() / "origin" / kBundlePath));
    auto status_text = read_file(dir_.path() / "origin" / kIssuerStatusPath);
    ASSERT_TRUE(status_text);
    auto sig = read_file(dir_.path() / "origin" / (std::string(kIssuerStatusPath) + ".sig"));
    ASSERT_TRUE(sig);
    auto verify = VerifyKey::load(dir_.path() / "keys/public.pem");
    ASSERT_TRUE(verify);
    EXPECT_TRUE(verify->verify(*status_text, *sig));
    auto status = decode_issuer_status(*status_text);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->state, "error");
    EXPECT_EQ(status->failures, 1);
    EXPECT_EQ(status->error, first.error());
    EXPECT_GE(status->next_attempt, status->last_attempt + 60);

    // Within the backoff an unforced check does not contact the CA.
    auto second = issue_once(*cfg, origin, false, {});
    ASSERT_TRUE(second) << second.error();
    EXPECT_FALSE(second->issued);
    EXPECT_NE(second->why.find("backing off"), std::string::npos) << second->why;
    EXPECT_EQ(second->next_check, status->next_attempt);
    // Forced, it tries again and counts a second failure.
    EXPECT_FALSE(issue_once(*cfg, origin, true, {}));
    status = decode_issuer_status(*read_file(dir_.path() / "origin" / kIssuerStatusPath));
    ASSERT_TRUE(status);
    EXPECT_EQ(status->failures, 2);
}

TEST_F(IssuerFiles, ABundleWithABadSignatureStopsTheIssuer) {
    auto cfg = load(config_json());
    ASSERT_TRUE(cfg);
    ASSERT_TRUE(
        atomic_write_file(dir_.path() / "origin" / kBundlePath, encode_bundle(sample_bundle())));
    ASSERT_TRUE(atomic_write_file(dir_.path() / "origin" / (std::string(kBundlePath) + ".sig"),
                                  std::string(64, 'x')));
    publish::LocalOrigin origin(dir_.path() / "origin");
    auto r = issue_once(*cfg, origin, false, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("bundle"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace anyedge::acme
