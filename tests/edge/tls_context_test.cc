// TlsContext configuration: loading and validation, SNI name resolution, the cipher policy,
// and the self-signed certificate the run command makes. Handshakes are in tls_session_test.
#include "edge/tls/tls_context.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "edge/tls/self_signed.h"

namespace anyedge::tls {
namespace {

namespace fs = std::filesystem;

class TlsContextTest : public ::testing::Test {
  protected:
    TlsContextTest() {
        char tmpl[] = "/tmp/tls_context_test.XXXXXX";
        dir_ = mkdtemp(tmpl);
    }
    ~TlsContextTest() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    void write(const std::string& name, const std::string& content) {
        std::ofstream(path(name), std::ios::trunc) << content;
    }

    CertificateConfig cert(const std::string& stem, std::vector<std::string> names,
                           KeyType type = KeyType::ecdsa_p256) {
        auto pem = make_self_signed(type, names);
        EXPECT_TRUE(pem) << pem.error();
        write(stem + ".crt", pem->certificate);
        write(stem + ".key", pem->private_key);
        return {path(stem + ".crt"), path(stem + ".key"), {}};
    }

    static std::string error_of(Result<std::unique_ptr<TlsContext>> r) {
        return r ? std::string("(no error)") : r.error();
    }

    std::string dir_;
};

TEST_F(TlsContextTest, RejectsBadConfigurations) {
    const CertificateConfig a = cert("a", {"a.test"});
    const CertificateConfig b = cert("b", {"b.test"});
    const CertificateConfig a2 = cert("a2", {"a.test"});
    const CertificateConfig overlap = cert("overlap", {"a.test", "c.test"});
    write("garbage.crt", "not a certificate\n");
    write("tickets.bad", "1 2 3\n");

    struct Case {
        const char* name;
        TlsConfig config;
        const char* message;
    };
    std::vector<Case> cases;
    cases.push_back({"no certificate", TlsConfig{}, "at least one certificate"});
    {
        TlsConfig c;
        c.certificates = {{path("missing.crt"), a.key_path, {}}};
        cases.push_back({"missing certificate", c, "missing.crt"});
    }
    {
        TlsConfig c;
        c.certificates = {{path("garbage.crt"), a.key_path, {}}};
        cases.push_back({"garbage certificate", c, "garbage.crt"});
    }
    {
        TlsConfig c;
        c.certificates = {{a.cert_path, path("missing.key"), {}}};
        cases.push_back({"missing key", c, "missing.key"});
    }
    {
        TlsConfig c;
        c.certificates = {{a.cert_path, b.key_path, {}}};
        cases.push_back({"key of another certificate", c, "does not match"});
    }
    {
        TlsConfig c;
        c.certificates = {a, a2};
        cases.push_back({"two ECDSA certificates for the same names", c, "same key type"});
    }
    {
        TlsConfig c;
        c.certificates = {a, overlap};
        cases.push_back({"one name in two certificate sets", c, "already served"});
    }
    {
        TlsConfig c;
        c.certificates = {{a.cert_path, a.key_path, {"foo*.test"}}};
        cases.push_back({"partial wildcard", c, "unusable server name"});
    }
    {
        TlsConfig c;
        c.certificates = {{a.cert_path, a.key_path, {"a..test"}}};
        cases.push_back({"empty label", c, "unusable server name"});
    }
    {
        TlsConfig c;
        c.certificates = {a};
        c.alpn = {"http/1.1", ""};
        cases.push_back({"empty ALPN name", c, "ALPN"});
    }
    {
        TlsConfig c;
        c.certificates = {a};
        c.alpn = {std::string(256, 'x')};
        cases.push_back({"long ALPN name", c, "ALPN"});
    }
    {
        TlsConfig c;
        c.certificates = {a};
        c.ticket_key_file = path("tickets.missing");
        cases.push_back({"missing ticket key file", c, "tickets.missing"});
    }
    {
        TlsConfig c;
        c.certificates = {a};
        c.ticket_key_file = path("tickets.bad");
        cases.push_back({"bad ticket key file", c, "tickets.bad"});
    }
    {
        TlsConfig c;
        c.certificates = {a};
        c.session_lifetime_seconds = 8 * 86400;
        cases.push_back({"lifetime over 7 days", c, "lifetime"});
    }
    for (auto& c : cases) {
        auto r = TlsContext::create(c.config);
        ASSERT_FALSE(r) << c.name;
        EXPECT_NE(r.error().find(c.message), std::string::npos) << c.name << ": " << r.error();
    }
}

TEST_F(TlsContextTest, ResolvesServerNames) {
    TlsConfig config;
    config.certificates = {
        cert("default", {"default.test"}), cert("exact", {"www.example.com", "Example.COM."}),
        cert("wild", {"*.example.net"}), cert("both", {"*.both.test", "both.test"})};
    // Names given in the configuration replace the certificate's own.
    CertificateConfig configured = cert("configured", {"ignored.test"});
    configured.names = {"configured.test"};
    config.certificates.push_back(configured);
    auto created = TlsContext::create(config);
    ASSERT_TRUE(created) << created.error();
    TlsContext& ctx = **created;

    SSL_CTX* def = ctx.context_for_name("default.test");
    SSL_CTX* exact = ctx.context_for_name("www.example.com");
    SSL_CTX* wild = ctx.context_for_name("a.example.net");
    SSL_CTX* both = ctx.context_for_name("both.test");
    SSL_CTX* conf = ctx.context_for_name("configured.test");
    EXPECT_EQ(def, ctx.default_context());
    const std::set<SSL_CTX*> distinct = {def, exact, wild, both, conf};
    EXPECT_EQ(distinct.size(), 5u);

    const std::string too_long(300, 'a');  // longer than any host name (RFC 1035 §2.3.4)
    const struct {
        const char* name;
        SSL_CTX* expected;
    } cases[] = {
        {"www.example.com", exact},
        {"WWW.EXAMPLE.COM", exact},
        {"www.example.com.", exact},
        {"example.com", exact},
        {"x.www.example.com", def},
        {"a.example.net", wild},
        {"A-B.Example.Net", wild},
        {"a.b.example.net", def},
        {"example.net", def},
        {".example.net", def},
        {"x.both.test", both},
        {"both.test", both},
        {"configured.test", conf},
        {"ignored.test", def},
        {"", def},
        {".", def},
        {"unknown", def},
        {too_long.c_str(), def},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(ctx.context_for_name(c.name), c.expected) << c.name;
    }
}

TEST_F(TlsContextTest, ProtocolAndCipherPolicy) {
    TlsConfig config;
    config.certificates = {cert("ec", {"policy.test"}),
                           cert("rsa", {"policy.test"}, KeyType::rsa2048)};
    auto created = TlsContext::create(config);
    ASSERT_TRUE(created) << created.error();
    SSL_CTX* ctx = (*created)->default_context();
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    const std::uint64_t options = SSL_CTX_get_options(ctx);
    EXPECT_NE(options & SSL_OP_NO_RENEGOTIATION, 0u);
    EXPECT_NE(options & SSL_OP_NO_COMPRESSION, 0u);
    EXPECT_NE(options & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
    EXPECT_NE(options & SSL_OP_PRIORITIZE_CHACHA, 0u);
    EXPECT_EQ(options & SSL_OP_NO_TICKET, 0u);
    EXPECT_EQ(options & SSL_OP_IGNORE_UNEXPECTED_EOF, 0u);
    EXPECT_EQ(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    EXPECT_EQ(SSL_CTX_get_num_tickets(ctx), 1u);
    EXPECT_EQ(SSL_CTX_get_timeout(ctx), 7200);

    std::set<std::string> names;
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        names.insert(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i)));
    }
    const std::set<std::string> expected = {
        "TLS_AES_128_GCM_SHA256",       "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",  "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",  "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    };
    EXPECT_EQ(names, expected);

    // Both key types are loaded into the one context for the name.
    std::shared_ptr<const CertificateSet> set;
    SslPtr ssl((*created)->new_ssl(set));
    ASSERT_TRUE(ssl);
    EXPECT_TRUE(SSL_is_server(ssl.get()));
    int key_types = 0;
    for (int rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); rc == 1;
         rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT)) {
        if (X509* x = SSL_CTX_get0_certificate(ctx)) {
            key_types |= EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA ? 1 : 2;
        }
    }
    EXPECT_EQ(key_types, 3);

    TlsConfig no_tickets = config;
    no_tickets.tickets_per_handshake = 0;
    auto nt = TlsContext::create(no_tickets);
    ASSERT_TRUE(nt) << nt.error();
    EXPECT_NE(SSL_CTX_get_options((*nt)->default_context()) & SSL_OP_NO_TICKET, 0u);
    EXPECT_EQ(SSL_CTX_get_num_tickets((*nt)->default_context()), 0u);

    TlsConfig client_order = config;
    client_order.server_cipher_preference = false;
    auto co = TlsContext::create(client_order);
    ASSERT_TRUE(co) << co.error();
    const std::uint64_t co_options = SSL_CTX_get_options((*co)->default_context());
    EXPECT_EQ(co_options & (SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA), 0u);
}

TEST_F(TlsContextTest, TicketKeysReloadAndClock) {
    TlsConfig config;
    config.certificates = {cert("a", {"a.test"})};
    auto created = TlsContext::create(config);
    ASSERT_TRUE(created) << created.error();
    // Without a key file there is nothing to reload.
    EXPECT_FALSE((*created)->reload_ticket_keys());
    EXPECT_FALSE((*created)->set_ticket_keys({}));
    auto k = random_ticket_key(0, 10);
    ASSERT_TRUE(k);
    EXPECT_TRUE((*created)->set_ticket_keys({*k}));

    config.clock = [] { return std::int64_t{42}; };
    auto clocked = TlsContext::create(config);
    ASSERT_TRUE(clocked);
    EXPECT_EQ((*clocked)->now(), 42);
    EXPECT_NEAR(static_cast<double>((*created)->now()), static_cast<double>(time(nullptr)), 5);

    // Counters start at zero and count what TlsSession reports.
    TlsContext& ctx = **created;
    EXPECT_EQ(ctx.counters().handshakes, 0u);
    ctx.note_handshake(false);
    ctx.note_handshake(true);
    ctx.note_handshake_failure();
    const TlsCounters c = ctx.counters();
    EXPECT_EQ(c.handshakes, 2u);
    EXPECT_EQ(c.resumed, 1u);
    EXPECT_EQ(c.handshake_failures, 1u);
}

TEST_F(TlsContextTest, GeneratesALoadableSelfSignedCertificate) {
    const std::string crt = path("self.crt");
    const std::string key = path("self.key");
    const std::vector<std::string> extra = {"edge.example", "192.0.2.10"};
    const Status s = generate_self_signed(crt, key, extra);
    ASSERT_TRUE(s) << s.error();

    struct stat st {};
    ASSERT_EQ(stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);  // a private key is for our eyes only

    BioPtr bio(BIO_new_file(crt.c_str(), "r"));
    ASSERT_TRUE(bio);
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(x);
    EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(x.get())), EVP_PKEY_EC);
    EXPECT_EQ(X509_check_host(x.get(), "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(x.get(), "edge.example", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(x.get(), "other.example", 0, 0, nullptr), 0);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "::1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "192.0.2.10", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(x.get(), "192.0.2.11", 0), 0);
    EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(x.get())), 0);
    EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(x.get())), 0);
    EXPECT_EQ(X509_check_purpose(x.get(), X509_PURPOSE_SSL_SERVER, 0), 1);

    // The files load as they are: this is what the run command does.
    TlsConfig config;
    config.certificates = {{crt, key, {}}};
    auto ctx = TlsContext::create(config);
    ASSERT_TRUE(ctx) << ctx.error();
    // Its dNSNames serve SNI; IP addresses never appear in SNI (RFC 6066 §3).
    EXPECT_EQ((*ctx)->context_for_name("edge.example"), (*ctx)->default_context());

    // Regenerating replaces both files with a new key.
    std::ifstream before_in(key);
    const std::string before((std::istreambuf_iterator<char>(before_in)), {});
    ASSERT_TRUE(generate_self_signed(crt, key));
    std::ifstream after_in(key);
    const std::string after((std::istreambuf_iterator<char>(after_in)), {});
    EXPECT_NE(before, after);
    EXPECT_TRUE(TlsContext::create(config));

    // An unwritable place (under a regular file) is an error, not a crash.
    EXPECT_FALSE(generate_self_signed(crt + "/c.crt", crt + "/c.key"));
}

TEST_F(TlsContextTest, MakesRsaAndWildcardCertificates) {
    auto pem = make_self_signed(KeyType::rsa2048, std::vector<std::string>{"*.wild.test"});
    ASSERT_TRUE(pem) << pem.error();
    BioPtr bio(BIO_new_mem_buf(pem->certificate.data(), static_cast<int>(pem->certificate.size())));
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(x);
    EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(x.get())), EVP_PKEY_RSA);
    EXPECT_EQ(X509_check_host(x.get(), "a.wild.test", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(x.get(), "a.b.wild.test", 0, 0, nullptr), 0);
    EXPECT_FALSE(make_self_signed(KeyType::ecdsa_p256, {}));
}

}  // namespace
}  // namespace anyedge::tls
