// Two TlsSessions wired memory to memory: a server made by TlsContext and a client SSL built
// here. No sockets, but for one loopback connection that measures TCP's segment size;
// certificates and ticket keys are made on the fly in a temporary directory.
#include "edge/tls/tls_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include "edge/tls/provider/crypto_provider.h"
#include "edge/tls/provider/tls13_kdf.h"
#include "edge/tls/self_signed.h"
#include "edge/tls/ticket_keys.h"
#include "edge/tls/tls_context.h"

namespace anyedge::tls {
namespace {

namespace fs = std::filesystem;

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/tls_session_test.XXXXXX";
        path_ = mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::trunc);
    out << content;
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Certificates shared by every test of the suite: RSA generation is slow.
struct Pki {
    TempDir dir;
    CertificateConfig default_cert, exact, wildcard, dual_ec, dual_rsa;

    CertificateConfig make(const std::string& stem, KeyType type, std::vector<std::string> names) {
        auto pem = make_self_signed(type, names);
        EXPECT_TRUE(pem) << pem.error();
        CertificateConfig c{dir.file(stem + ".crt"), dir.file(stem + ".key"), {}};
        write_file(c.cert_path, pem->certificate);
        write_file(c.key_path, pem->private_key);
        return c;
    }

    Pki() {
        default_cert = make("default", KeyType::ecdsa_p256, {"default.test"});
        exact = make("exact", KeyType::ecdsa_p256, {"www.example.com", "example.com"});
        wildcard = make("wildcard", KeyType::ecdsa_p256, {"*.example.net"});
        dual_ec = make("dual-ec", KeyType::ecdsa_p256, {"dual.example.org"});
        dual_rsa = make("dual-rsa", KeyType::rsa2048, {"dual.example.org"});
    }
};

Pki& pki() {
    static Pki instance;
    return instance;
}

TlsConfig base_config() {
    TlsConfig config;
    config.certificates = {pki().default_cert, pki().exact, pki().wildcard, pki().dual_ec,
                           pki().dual_rsa};
    return config;
}

std::unique_ptr<TlsContext> make_context(TlsConfig config) {
    auto ctx = TlsContext::create(std::move(config));
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error());
    return ctx ? std::move(*ctx) : nullptr;
}

struct ClientOptions {
    int min_version = TLS1_2_VERSION;
    int max_version = TLS1_3_VERSION;
    std::string sni = {};
    std::vector<std::string> alpn = {};
    std::string tls12_ciphers = {};  // empty: OpenSSL's default
    std::string tls13_suites = {};   // empty: OpenSSL's default (AES-256-GCM first)
    std::string sigalgs = {};        // empty: OpenSSL's default
    SSL_SESSION* resume = nullptr;
    bool insecure = false;  // allow protocols below TLS 1.2 (seclevel 0)
};

SslCtxPtr client_context(const ClientOptions& o) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (o.insecure) {
        SSL_CTX_set_security_level(ctx.get(), 0);
        SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
    }
    SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
    if (!o.tls12_ciphers.empty()) {
        SSL_CTX_set_cipher_list(ctx.get(), o.tls12_ciphers.c_str());
    }
    if (!o.tls13_suites.empty()) {
        SSL_CTX_set_ciphersuites(ctx.get(), o.tls13_suites.c_str());
    }
    if (!o.sigalgs.empty()) {
        SSL_CTX_set1_sigalgs_list(ctx.get(), o.sigalgs.c_str());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    // The client must keep sessions for the test to reuse them.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
    return ctx;
}

TlsSession make_client(SSL_CTX* ctx, const ClientOptions& o, TlsSessionOptions so = {}) {
    SslPtr ssl(SSL_new(ctx));
    SSL_set_connect_state(ssl.get());
    if (!o.sni.empty()) {
        SSL_set_tlsext_host_name(ssl.get(), o.sni.c_str());
    }
    if (!o.alpn.empty()) {
        std::string wire;
        for (const auto& p : o.alpn) {
            wire += static_cast<char>(p.size());
            wire += p;
        }
        SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }
    if (o.resume != nullptr) {
        SSL_set_session(ssl.get(), o.resume);
    }
    auto session = TlsSession::adopt(std::move(ssl), so);
    EXPECT_TRUE(session);
    return std::move(*session);
}

TlsSession make_server(TlsContext& ctx, TlsSessionOptions so = {}) {
    auto session = TlsSession::accept(ctx, so);
    EXPECT_TRUE(session);
    return std::move(*session);
}

// Moves pending ciphertext from `from` into `to`; true if anything moved.
bool transfer(TlsSession& from, TlsSession& to) {
    bool moved = false;
    for (;;) {
        const std::string_view pending = from.pending_ciphertext();
        if (pending.empty()) {
            return moved;
        }
        // Exercise both input paths: the zero-copy one and the copying one.
        std::size_t n;
        const std::span<char> space = to.input_space();
        if (pending.size() % 2 == 0 && !space.empty()) {
            n = std::min(space.size(), pending.size());
            std::memcpy(space.data(), pending.data(), n);
            to.commit_input(n);
        } else {
            n = to.feed_ciphertext({pending.data(), pending.size()});
        }
        if (n == 0) {
            return moved;
        }
        from.consume_ciphertext(n);
        moved = true;
    }
}

struct HandshakeResult {
    TlsStatus client;
    TlsStatus server;
};

HandshakeResult handshake(TlsSession& client, TlsSession& server) {
    TlsIo c{}, s{};
    for (int i = 0; i < 50; ++i) {
        c = client.handshake();
        const bool a = transfer(client, server);
        s = server.handshake();
        const bool b = transfer(server, client);
        const bool done = c.status == TlsStatus::ok && s.status == TlsStatus::ok;
        const bool dead = c.status == TlsStatus::error || s.status == TlsStatus::error;
        if ((done || dead) && !a && !b) {
            break;
        }
    }
    return {c.status, s.status};
}

// After the handshake: lets the client process what the server sent after its Finished
// (TLS 1.3 NewSessionTicket).
void settle(TlsSession& client, TlsSession& server) {
    char buf[256];
    for (int i = 0; i < 4; ++i) {
        transfer(server, client);
        client.read_plaintext(buf);
        transfer(client, server);
        server.read_plaintext(buf);
    }
}

std::string peer_common_name(const TlsSession& client) {
    X509* cert = SSL_get0_peer_certificate(client.native_handle());
    if (cert == nullptr) {
        return "";
    }
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
}

int peer_key_type(const TlsSession& client) {
    X509* cert = SSL_get0_peer_certificate(client.native_handle());
    return cert == nullptr ? 0 : EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
}

TEST(TlsSession, HandshakeTls13) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {.sni = "www.example.com", .alpn = {"http/1.1"}});
    TlsSession server = make_server(*ctx);
    EXPECT_FALSE(server.handshake_done());
    const HandshakeResult r = handshake(client, server);
    ASSERT_EQ(r.client, TlsStatus::ok) << client.error_reason();
    ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
    EXPECT_TRUE(server.handshake_done());
    EXPECT_EQ(server.protocol(), "TLSv1.3");
    EXPECT_EQ(client.protocol(), "TLSv1.3");
    EXPECT_EQ(server.alpn(), "http/1.1");
    EXPECT_EQ(server.sni(), "www.example.com");
    EXPECT_FALSE(server.resumed());
    EXPECT_TRUE(server.error_reason().empty());
    const std::string cipher(server.cipher());
    EXPECT_TRUE(cipher == "TLS_AES_128_GCM_SHA256" || cipher == "TLS_AES_256_GCM_SHA384" ||
                cipher == "TLS_CHACHA20_POLY1305_SHA256")
        << cipher;
    const TlsCounters counters = ctx->counters();
    EXPECT_EQ(counters.handshakes, 1u);
    EXPECT_EQ(counters.resumed, 0u);
    EXPECT_EQ(counters.handshake_failures, 0u);

    // Application data both ways.
    ASSERT_EQ(client.write_plaintext(std::string_view("GET / HTTP/1.1\r\n\r\n")).status,
              TlsStatus::ok);
    transfer(client, server);
    char buf[64];
    TlsIo io = server.read_plaintext(buf);
    ASSERT_EQ(io.status, TlsStatus::ok);
    EXPECT_EQ(std::string(buf, io.bytes), "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::want_read);
    ASSERT_EQ(server.write_plaintext(std::string_view("HTTP/1.1 200 OK\r\n")).status,
              TlsStatus::ok);
    transfer(server, client);
    std::string got;
    while ((io = client.read_plaintext(buf)).status == TlsStatus::ok) {
        got.append(buf, io.bytes);
    }
    EXPECT_EQ(io.status, TlsStatus::want_read);
    EXPECT_EQ(got, "HTTP/1.1 200 OK\r\n");
}

// Which suite a client gets, by who orders them (TlsConfig::server_cipher_preference).
TEST(TlsSession, CipherSuiteOrder) {
    struct Case {
        bool server_order;
        int max_version;
        std::string client_tls13, client_tls12;  // empty: OpenSSL's default order
        std::string expected;
    };
    const std::string chacha_first =
        "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";
    const std::string chacha12_first =
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    const std::vector<Case> cases = {
        // OpenSSL clients list AES-256 first; ours is AES-128 (SHA-256 key schedule).
        {true, TLS1_3_VERSION, "", "", "TLS_AES_128_GCM_SHA256"},
        {true, TLS1_2_VERSION, "", "", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        // A client that puts ChaCha20 first (no AES hardware) gets it.
        {true, TLS1_3_VERSION, chacha_first, "", "TLS_CHACHA20_POLY1305_SHA256"},
        {true, TLS1_2_VERSION, "", chacha12_first, "ECDHE-ECDSA-CHACHA20-POLY1305"},
        // ChaCha20 anywhere but first: our order.
        {true, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", "",
         "TLS_AES_256_GCM_SHA384"},
        // Client order.
        {false, TLS1_3_VERSION, "", "", "TLS_AES_256_GCM_SHA384"},
        {false, TLS1_2_VERSION, "", "", "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {false, TLS1_3_VERSION, chacha_first, "", "TLS_CHACHA20_POLY1305_SHA256"},
    };
    for (const Case& c : cases) {
        TlsConfig config = base_config();
        config.server_cipher_preference = c.server_order;
        auto ctx = make_context(config);
        ASSERT_TRUE(ctx);
        auto cctx = client_context({.max_version = c.max_version,
                                    .tls12_ciphers = c.client_tls12,
                                    .tls13_suites = c.client_tls13});
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        const HandshakeResult r = handshake(client, server);
        ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
        EXPECT_EQ(server.cipher(), c.expected)
            << "server order " << c.server_order << ", client " << c.client_tls13 << c.client_tls12;
    }
}

TEST(TlsSession, HandshakeTls12) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({.max_version = TLS1_2_VERSION});
    TlsSession client = make_client(cctx.get(), {.alpn = {"http/1.1"}});
    TlsSession server = make_server(*ctx);
    const HandshakeResult r = handshake(client, server);
    ASSERT_EQ(r.client, TlsStatus::ok) << client.error_reason();
    ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
    EXPECT_EQ(server.protocol(), "TLSv1.2");
    EXPECT_EQ(server.alpn(), "http/1.1");
    const std::string cipher(server.cipher());
    // An ECDHE suite with an AEAD cipher (Mozilla intermediate), never CBC or static RSA.
    EXPECT_EQ(cipher.rfind("ECDHE-ECDSA-", 0), 0u) << cipher;
    EXPECT_TRUE(cipher.find("GCM") != std::string::npos ||
                cipher.find("CHACHA20") != std::string::npos)
        << cipher;
    EXPECT_EQ(ctx->counters().handshakes, 1u);
}

// Who computes the key exchange (TlsConfig::x25519_by_libsodium), for each group a client may
// offer and both protocol versions. In TLS 1.3 the server keeps the client's key share, made
// by the implementation libssl fetched; under TLS 1.2 it is freed once used. (A TLS 1.2 client
// must also list P-256, the curve of the ECDSA certificate, RFC 8422 §5.1.)
TEST(TlsSession, KeyExchangeByGroupAndImplementation) {
    struct Case {
        bool libsodium;
        int version;
        const char* client_groups;
        const char* group;     // the key exchange the client sees
        const char* provider;  // of the client's key share as the server holds it (TLS 1.3)
    };
    const Case cases[] = {
        {true, TLS1_3_VERSION, "X25519:P-256", "X25519", kCryptoProviderName},
        {true, TLS1_3_VERSION, "P-256", "EC", "default"},
        {true, TLS1_3_VERSION, "P-384", "EC", "default"},
        {true, TLS1_2_VERSION, "X25519:P-256", "X25519", ""},
        {true, TLS1_2_VERSION, "P-256", "EC", ""},
        {false, TLS1_3_VERSION, "X25519", "X25519", "default"},
        {false, TLS1_2_VERSION, "X25519:P-256", "X25519", ""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.client_groups) + (c.libsodium ? " libsodium " : " openssl ") +
                     std::to_string(c.version));
        TlsConfig config = base_config();
        config.x25519_by_libsodium = c.libsodium;
        auto ctx = make_context(config);
        ASSERT_TRUE(ctx);
        auto cctx = client_context({.min_version = c.version, .max_version = c.version});
        ASSERT_EQ(SSL_CTX_set1_groups_list(cctx.get(), c.client_groups), 1);
        TlsSession client = make_client(cctx.get(), {});
        // The SSL stays (no own records) for SSL_get_peer_tmp_key below.
        TlsSession server = make_server(*ctx, {.own_records = false});
        const HandshakeResult r = handshake(client, server);
        ASSERT_EQ(r.client, TlsStatus::ok) << client.error_reason();
        ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
        // Both sides derived the same keys: application data decrypts.
        ASSERT_EQ(client.write_plaintext(std::string_view("ping")).status, TlsStatus::ok);
        transfer(client, server);
        char buf[16];
        const TlsIo io = server.read_plaintext(buf);
        ASSERT_EQ(io.status, TlsStatus::ok);
        EXPECT_EQ(std::string(buf, io.bytes), "ping");
        EVP_PKEY* server_share = nullptr;
        ASSERT_EQ(SSL_get_peer_tmp_key(client.native_handle(), &server_share), 1);
        EXPECT_TRUE(EVP_PKEY_is_a(server_share, c.group));
        EVP_PKEY_free(server_share);
        if (*c.provider != '\0') {
            EVP_PKEY* client_share = nullptr;
            ASSERT_EQ(SSL_get_peer_tmp_key(server.native_handle(), &client_share), 1);
            EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(client_share)), c.provider);
            EVP_PKEY_free(client_share);
        }
    }
}

TEST(TlsSession, SniChoosesTheCertificate) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    const struct {
        const char* sni;
        const char* cn;
    } cases[] = {
        {"www.example.com", "www.example.com"},
        {"example.com", "www.example.com"},
        {"WWW.Example.COM", "www.example.com"},  // DNS names are case-insensitive
        {"a.example.net", "*.example.net"},
        {"Some-Host.EXAMPLE.net", "*.example.net"},
        {"a.b.example.net", "default.test"},  // a wildcard covers one label only
        {"example.net", "default.test"},
        {"unknown.test", "default.test"},
        {"", "default.test"},  // no SNI at all
        {"dual.example.org", "dual.example.org"},
    };
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        auto cctx = client_context({.max_version = version});
        for (const auto& c : cases) {
            TlsSession client = make_client(cctx.get(), {.sni = c.sni});
            TlsSession server = make_server(*ctx);
            const HandshakeResult r = handshake(client, server);
            ASSERT_EQ(r.server, TlsStatus::ok) << c.sni << ": " << server.error_reason();
            ASSERT_EQ(r.client, TlsStatus::ok) << c.sni << ": " << client.error_reason();
            EXPECT_EQ(peer_common_name(client), c.cn) << c.sni << " version " << version;
            EXPECT_EQ(server.sni(), c.sni);
        }
    }
}

bool peer_certificate_is(const TlsSession& client, const std::string& pem) {
    X509* peer = SSL_get0_peer_certificate(client.native_handle());
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr want(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    return peer != nullptr && want && X509_cmp(peer, want.get()) == 0;
}

// A certificate renewed in place (new files at the same paths): connections made after
// reload_certificates() get the new one. A connection made before finishes its handshake with
// the old one, SNI switch included: it keeps its certificate set alive. Files that do not load
// change nothing.
TEST(TlsSession, CertificateReloadServesNewConnectionsOnly) {
    TempDir dir;
    const CertificateConfig live{dir.file("live.crt"), dir.file("live.key"), {}};
    const std::vector<std::string> names = {"renew.test"};
    auto first = make_self_signed(KeyType::ecdsa_p256, names);
    auto second = make_self_signed(KeyType::ecdsa_p256, names);
    ASSERT_TRUE(first && second);
    write_file(live.cert_path, first->certificate);
    write_file(live.key_path, first->private_key);
    TlsConfig config;
    config.certificates = {live, pki().exact};
    auto ctx = make_context(config);
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});

    TlsSession before = make_server(*ctx);
    TlsSession before_sni = make_server(*ctx);
    write_file(live.cert_path, second->certificate);
    write_file(live.key_path, second->private_key);
    const Status reloaded = ctx->reload_certificates();
    ASSERT_TRUE(reloaded) << reloaded.error();
    TlsSession after = make_server(*ctx);

    auto serve = [&](TlsSession& server, const std::string& sni) {
        TlsSession client = make_client(cctx.get(), {.sni = sni});
        const HandshakeResult r = handshake(client, server);
        EXPECT_EQ(r.server, TlsStatus::ok) << sni << ": " << server.error_reason();
        EXPECT_EQ(r.client, TlsStatus::ok) << sni << ": " << client.error_reason();
        return client;
    };
    EXPECT_TRUE(peer_certificate_is(serve(before, "renew.test"), first->certificate));
    EXPECT_EQ(peer_common_name(serve(before_sni, "www.example.com")), "www.example.com");
    EXPECT_TRUE(peer_certificate_is(serve(after, "renew.test"), second->certificate));

    // A half-written certificate, then a certificate whose key is not there yet.
    write_file(live.cert_path, "-----BEGIN CERTIFICATE-----\nMIIB\n");
    Status broken = ctx->reload_certificates();
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().find("live.crt"), std::string::npos) << broken.error();
    write_file(live.cert_path, first->certificate);
    broken = ctx->reload_certificates();
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().find("does not match"), std::string::npos) << broken.error();
    TlsSession later = make_server(*ctx);
    EXPECT_TRUE(peer_certificate_is(serve(later, "renew.test"), second->certificate));
}

TEST(TlsSession, EcdsaAndRsaCertificatesForTheSameName) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    const struct {
        ClientOptions options;
        int key_type;
    } cases[] = {
        {{.max_version = TLS1_2_VERSION,
          .sni = "dual.example.org",
          .tls12_ciphers = "ECDHE-RSA-AES128-GCM-SHA256"},
         EVP_PKEY_RSA},
        {{.max_version = TLS1_2_VERSION,
          .sni = "dual.example.org",
          .tls12_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"},
         EVP_PKEY_EC},
        {{.sni = "dual.example.org", .sigalgs = "rsa_pss_rsae_sha256"}, EVP_PKEY_RSA},
        {{.sni = "dual.example.org", .sigalgs = "ecdsa_secp256r1_sha256"}, EVP_PKEY_EC},
    };
    for (const auto& c : cases) {
        auto cctx = client_context(c.options);
        TlsSession client = make_client(cctx.get(), c.options);
        TlsSession server = make_server(*ctx);
        const HandshakeResult r = handshake(client, server);
        ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
        ASSERT_EQ(r.client, TlsStatus::ok) << client.error_reason();
        EXPECT_EQ(peer_key_type(client), c.key_type)
            << c.options.tls12_ciphers << c.options.sigalgs;
        EXPECT_EQ(peer_common_name(client), "dual.example.org");
    }
    // A certificate that only has an ECDSA key cannot serve an RSA-only TLS 1.2 client.
    ClientOptions rsa_only{.max_version = TLS1_2_VERSION,
                           .sni = "www.example.com",
                           .tls12_ciphers = "ECDHE-RSA-AES128-GCM-SHA256"};
    auto cctx = client_context(rsa_only);
    TlsSession client = make_client(cctx.get(), rsa_only);
    TlsSession server = make_server(*ctx);
    EXPECT_EQ(handshake(client, server).server, TlsStatus::error);
}

TEST(TlsSession, Alpn) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    {
        TlsSession client = make_client(cctx.get(), {.alpn = {"h2", "http/1.1"}});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        EXPECT_EQ(server.alpn(), "http/1.1");
        EXPECT_EQ(client.alpn(), "http/1.1");
    }
    {
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        EXPECT_EQ(server.alpn(), "");
    }
    {
        // RFC 7301 §3.2: nothing in common is a fatal no_application_protocol alert.
        TlsSession client = make_client(cctx.get(), {.alpn = {"h2"}});
        TlsSession server = make_server(*ctx);
        const HandshakeResult r = handshake(client, server);
        EXPECT_EQ(r.server, TlsStatus::error);
        EXPECT_EQ(r.client, TlsStatus::error);
        EXPECT_NE(client.error_reason().find("no application protocol"), std::string_view::npos)
            << client.error_reason();
    }
    // Server preference order wins when the list is configurable.
    TlsConfig both = base_config();
    both.alpn = {"h2", "http/1.1"};
    auto ctx2 = make_context(both);
    ASSERT_TRUE(ctx2);
    TlsSession client = make_client(cctx.get(), {.alpn = {"http/1.1", "h2"}});
    TlsSession server = make_server(*ctx2);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    EXPECT_EQ(server.alpn(), "h2");
}

// Sends `size` bytes from writer to reader through small buffers, draining in between, and
// checks every byte.
void big_transfer(TlsSession& writer, TlsSession& reader, std::size_t size) {
    std::string payload(size, '\0');
    std::uint32_t x = 12345;
    for (char& c : payload) {
        x = x * 1103515245 + 12345;
        c = static_cast<char>(x >> 24);
    }
    std::string received;
    received.reserve(size);
    std::size_t sent = 0;
    std::vector<char> buf(7000);
    int blocked = 0;
    for (int rounds = 0; received.size() < size && rounds < 100000; ++rounds) {
        if (sent < size) {
            // Chunks the size a sender would use for a mapped file.
            const std::size_t chunk = std::min<std::size_t>(1 << 20, size - sent);
            const TlsIo io = writer.write_plaintext({payload.data() + sent, chunk});
            ASSERT_TRUE(io.status == TlsStatus::ok || io.status == TlsStatus::want_write)
                << writer.error_reason();
            blocked += io.status == TlsStatus::want_write;
            sent += io.bytes;
        }
        transfer(writer, reader);
        for (;;) {
            const TlsIo io = reader.read_plaintext(buf);
            if (io.status != TlsStatus::ok) {
                ASSERT_EQ(io.status, TlsStatus::want_read) << reader.error_reason();
                break;
            }
            received.append(buf.data(), io.bytes);
        }
        transfer(reader, writer);
    }
    ASSERT_EQ(received.size(), size);
    EXPECT_TRUE(received == payload);
    EXPECT_GT(blocked, 0);  // the bounded output buffer really pushed back
}

TEST(TlsSession, BigTransfersThroughSmallBuffers) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        auto cctx = client_context({.max_version = version});
        const TlsSessionOptions small{.input_buffer = 4096, .output_buffer = 16 * 1024};
        TlsSession client = make_client(cctx.get(), {}, small);
        TlsSession server = make_server(*ctx, small);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok) << server.error_reason();
        big_transfer(server, client, 20u << 20);
        big_transfer(client, server, 1u << 20);
    }
}

// An idle connection gives its buffers back and the next exchange makes them again: shedding
// between every exchange, in both directions, with a KeyUpdate in between, loses no byte.
// While anything is buffered, or before the handshake is done, nothing is shed.
TEST(TlsSession, ShedBuffersWhileIdleAndCarryOn) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        auto cctx = client_context({.max_version = version});
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        EXPECT_FALSE(server.shed_buffers()) << "shed before the handshake";
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok) << server.error_reason();
        settle(client, server);
        for (int round = 0; round < 4; ++round) {
            EXPECT_TRUE(server.shed_buffers()) << round;
            EXPECT_FALSE(server.shed_buffers()) << "shed twice";
            EXPECT_EQ(server.pending_ciphertext_bytes(), 0u);
            EXPECT_FALSE(server.input_pending());
            if (round == 2 && version == TLS1_3_VERSION) {
                ASSERT_EQ(SSL_key_update(client.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
            }
            big_transfer(client, server, 200000 + round);
            EXPECT_TRUE(server.shed_buffers()) << round;
            big_transfer(server, client, 300000 + round);
        }
        // Ciphertext waiting on either side keeps the buffers.
        ASSERT_EQ(client.write_plaintext(std::string_view("GET / HTTP/1.1\r\n\r\n")).status,
                  TlsStatus::ok);
        transfer(client, server);
        EXPECT_FALSE(server.shed_buffers()) << "unread input";
        char buf[64];
        ASSERT_EQ(server.read_plaintext(buf).status, TlsStatus::ok);
        ASSERT_EQ(server.write_plaintext(std::string_view("HTTP/1.1 200 OK\r\n")).status,
                  TlsStatus::ok);
        EXPECT_FALSE(server.shed_buffers()) << "unsent output";
        transfer(server, client);
        EXPECT_TRUE(server.shed_buffers());
        // A clean close after shedding still works.
        ASSERT_EQ(server.shutdown().status, TlsStatus::ok);
        transfer(server, client);
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::ok);  // the response
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::closed);
    }
}

TEST(TlsSession, WriteRetryKeepsTheSameBytes) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx, {.output_buffer = 8192});
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    std::string data(100000, 'x');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>('a' + i % 26);
    }
    TlsIo io = server.write_plaintext(data);
    EXPECT_EQ(io.status, TlsStatus::want_write);
    EXPECT_LT(io.bytes, data.size());
    EXPECT_LE(server.pending_ciphertext_bytes(), 8192u);
    std::size_t accepted = io.bytes;
    // Retrying from a copy at a different address is allowed (moving write buffer).
    std::string copy = data;
    std::string received;
    char buf[16384];
    while (received.size() < data.size()) {
        transfer(server, client);
        for (TlsIo r; (r = client.read_plaintext(buf)).status == TlsStatus::ok;) {
            received.append(buf, r.bytes);
        }
        if (accepted < data.size()) {
            io = server.write_plaintext({copy.data() + accepted, copy.size() - accepted});
            ASSERT_NE(io.status, TlsStatus::error) << server.error_reason();
            accepted += io.bytes;
        }
    }
    EXPECT_EQ(received, data);
}

// The largest segment TCP sends on a loopback connection (TCP_MAXSEG), once data has flowed:
// a new connection reports half that until the peer's window has grown.
int loopback_segment_size() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int mss = 0;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(listener, 1) == 0 &&
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const int server = ::accept(listener, nullptr, nullptr);
        const timeval bound{10, 0};  // neither side waits for ever on a broken peer
        ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
        ::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
        constexpr std::size_t kFlow = 8 << 20;
        std::thread reader([server] {
            std::vector<char> buf(1 << 20);
            for (std::size_t got = 0; got < kFlow;) {
                const ssize_t n = ::recv(server, buf.data(), buf.size(), 0);
                if (n <= 0) break;
                got += std::size_t(n);
            }
        });
        const std::vector<char> chunk(1 << 20, 'x');
        for (std::size_t sent = 0; sent < kFlow; sent += chunk.size()) {
            if (::send(client, chunk.data(), chunk.size(), MSG_NOSIGNAL) != ssize_t(chunk.size())) {
                break;
            }
        }
        ::shutdown(client, SHUT_WR);
        reader.join();
        socklen_t n = sizeof mss;
        if (::getsockopt(client, IPPROTO_TCP, TCP_MAXSEG, &mss, &n) != 0) mss = 0;
        ::close(server);
    }
    ::close(client);
    ::close(listener);
    return mss;
}

// With the default options, no send the session offers is larger than one loopback segment:
// a send a little over it went out as a full packet and a runt of its own.
TEST(TlsSession, EachSendFitsOneLoopbackSegment) {
    const int segment = loopback_segment_size();
    ASSERT_GT(segment, 0);
    if (std::size_t(segment) < kSendChunkBytes) {
        GTEST_SKIP() << "loopback segments are " << segment
                     << " bytes here: lo's MTU is below Linux's default of 65,536";
    }
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    std::string data(1 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 7 + i / 4096);
    }
    std::size_t accepted = 0;
    std::size_t largest = 0;
    std::string received;
    char buf[16384];
    for (int round = 0; round < 1000 && received.size() < data.size(); ++round) {
        if (accepted < data.size()) {
            const TlsIo io = server.write_plaintext(
                std::string_view(data.data() + accepted, data.size() - accepted));
            ASSERT_NE(io.status, TlsStatus::error) << server.error_reason();
            accepted += io.bytes;
        }
        // One send's worth: what the server offers before any of it is consumed.
        largest = std::max(largest, server.pending_ciphertext().size());
        transfer(server, client);
        for (TlsIo r; (r = client.read_plaintext(buf)).status == TlsStatus::ok;) {
            received.append(buf, r.bytes);
        }
    }
    EXPECT_EQ(received, data);
    EXPECT_GT(largest, std::size_t(segment) / 2);  // sends are not needlessly small either
    EXPECT_LE(largest, std::size_t(segment));
}

TEST(TlsSession, CloseNotifyBothWays) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    char buf[64];
    {
        // Server closes: data written before close_notify arrives, then a clean close.
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        ASSERT_EQ(server.write_plaintext(std::string_view("bye")).status, TlsStatus::ok);
        ASSERT_EQ(server.shutdown().status, TlsStatus::ok);
        transfer(server, client);
        TlsIo io = client.read_plaintext(buf);
        ASSERT_EQ(io.status, TlsStatus::ok) << client.error_reason();
        EXPECT_EQ(std::string(buf, io.bytes), "bye");
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::closed);
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::closed);  // stays closed
        // The client answers with its own close_notify; the server sees a clean close.
        ASSERT_EQ(client.shutdown().status, TlsStatus::ok);
        transfer(client, server);
        client.feed_eof();
        server.feed_eof();
        EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::closed);
        EXPECT_TRUE(server.error_reason().empty());
    }
    {
        // Client closes first; the server may still answer, then closes too.
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        settle(client, server);
        ASSERT_EQ(client.write_plaintext(std::string_view("last")).status, TlsStatus::ok);
        ASSERT_EQ(client.shutdown().status, TlsStatus::ok);
        transfer(client, server);
        TlsIo io = server.read_plaintext(buf);
        ASSERT_EQ(io.status, TlsStatus::ok);
        EXPECT_EQ(std::string(buf, io.bytes), "last");
        EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::closed);
        ASSERT_EQ(server.write_plaintext(std::string_view("ok")).status, TlsStatus::ok);
        ASSERT_EQ(server.shutdown().status, TlsStatus::ok);
        EXPECT_EQ(server.shutdown().status, TlsStatus::ok);  // idempotent
        transfer(server, client);
        io = client.read_plaintext(buf);
        ASSERT_EQ(io.status, TlsStatus::ok) << client.error_reason();
        EXPECT_EQ(std::string(buf, io.bytes), "ok");
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::closed);
    }
    {
        // Shutdown before the handshake completes queues nothing and fails nothing.
        TlsSession server = make_server(*ctx);
        EXPECT_EQ(server.shutdown().status, TlsStatus::ok);
        EXPECT_EQ(server.pending_ciphertext_bytes(), 0u);
    }
}

TEST(TlsSession, CloseNotifyWaitsForRoomInTheOutputBuffer) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx, {.output_buffer = 4096});
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    ASSERT_EQ(server.pending_ciphertext_bytes(), 0u);
    // One TLS 1.3 record of 4064 bytes is 4086 on the wire (RFC 8446 §5.2: 5-byte header,
    // content type, 16-byte tag): the 24-byte close_notify record no longer fits.
    const std::string body(4064, 'z');
    ASSERT_EQ(server.write_plaintext(body).status, TlsStatus::ok);
    EXPECT_EQ(server.pending_ciphertext_bytes(), 4086u);
    ASSERT_EQ(server.shutdown().status, TlsStatus::want_write);
    // From here on only draining, no further shutdown() call.
    std::string received;
    char buf[8192];
    for (int i = 0; i < 4; ++i) {
        transfer(server, client);
        for (TlsIo r; (r = client.read_plaintext(buf)).status == TlsStatus::ok;) {
            received.append(buf, r.bytes);
        }
    }
    EXPECT_EQ(received, body);
    EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::closed);
}

TEST(TlsSession, TruncationIsDetected) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    char buf[64];
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        auto cctx = client_context({.max_version = version});
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        settle(client, server);
        // Data, then the TCP connection ends without close_notify.
        ASSERT_EQ(client.write_plaintext(std::string_view("partial")).status, TlsStatus::ok);
        transfer(client, server);
        server.feed_eof();
        TlsIo io = server.read_plaintext(buf);
        ASSERT_EQ(io.status, TlsStatus::ok);
        EXPECT_EQ(std::string(buf, io.bytes), "partial");
        io = server.read_plaintext(buf);
        EXPECT_EQ(io.status, TlsStatus::truncated) << server.error_reason();
        EXPECT_FALSE(server.error_reason().empty());
        // Final: nothing more is attempted.
        EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::truncated);
        EXPECT_EQ(server.write_plaintext(std::string_view("x")).status, TlsStatus::truncated);
        EXPECT_EQ(server.feed_ciphertext(std::string_view("more")), 0u);
    }
    // Half a record, then EOF.
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    ASSERT_EQ(client.write_plaintext(std::string_view("0123456789")).status, TlsStatus::ok);
    const std::string_view pending = client.pending_ciphertext();
    ASSERT_GT(pending.size(), 10u);
    ASSERT_EQ(server.feed_ciphertext(pending.substr(0, 8)), 8u);
    EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::want_read);
    server.feed_eof();
    EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::truncated);
    // In the middle of a handshake.
    TlsSession client2 = make_client(cctx.get(), {});
    TlsSession server2 = make_server(*ctx);
    client2.handshake();
    const std::string_view hello = client2.pending_ciphertext();
    ASSERT_GT(hello.size(), 20u);
    server2.feed_ciphertext(hello.substr(0, 20));
    EXPECT_EQ(server2.handshake().status, TlsStatus::want_read);
    server2.feed_eof();
    EXPECT_EQ(server2.handshake().status, TlsStatus::truncated);
    EXPECT_EQ(ctx->counters().handshake_failures, 1u);
}

TEST(TlsSession, OldProtocolsAreRefused) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    for (int version : {TLS1_1_VERSION, TLS1_VERSION}) {
        ClientOptions old{.min_version = version, .max_version = version, .insecure = true};
        auto cctx = client_context(old);
        TlsSession client = make_client(cctx.get(), old);
        TlsSession server = make_server(*ctx);
        const HandshakeResult r = handshake(client, server);
        EXPECT_EQ(r.server, TlsStatus::error);
        EXPECT_EQ(r.client, TlsStatus::error);
        EXPECT_NE(server.error_reason().find("unsupported protocol"), std::string_view::npos)
            << server.error_reason();
        EXPECT_FALSE(server.handshake_done());
    }
    EXPECT_EQ(ctx->counters().handshake_failures, 2u);
    EXPECT_EQ(ctx->counters().handshakes, 0u);
}

TEST(TlsSession, GarbageIsAProtocolError) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    TlsSession server = make_server(*ctx);
    server.feed_ciphertext(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const TlsIo io = server.handshake();
    EXPECT_EQ(io.status, TlsStatus::error);
    EXPECT_FALSE(server.error_reason().empty());
    // An alert may be queued for the peer; the session stays dead.
    char buf[16];
    EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::error);
    EXPECT_EQ(server.shutdown().status, TlsStatus::error);
}

// A TLS 1.3 KeyUpdate (RFC 8446 §4.6.3) asked for by the client: the server derives the next
// traffic secrets with the provider's KDF inside the read, the client (OpenSSL's KDF)
// reads what the server sends under its new keys, and no secret stays in the thread's HMAC
// contexts after either call. (The SHA-384 suite: the record layer derives the SHA-256 suites'
// keys with libsodium's HMAC, the others through the provider.)
TEST(TlsSession, KeyUpdateDerivesWithTheProviderAndForgets) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx =
        client_context({.min_version = TLS1_3_VERSION, .tls13_suites = "TLS_AES_256_GCM_SHA384"});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    const HandshakeResult r = handshake(client, server);
    ASSERT_EQ(r.server, TlsStatus::ok) << server.error_reason();
    settle(client, server);
    ASSERT_EQ(SSL_key_update(client.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
    ASSERT_EQ(client.write_plaintext(std::string_view("after update")).status, TlsStatus::ok);
    transfer(client, server);
    const unsigned long before = tls13_kdf_derivations_on_this_thread();
    char buf[64];
    TlsIo io = server.read_plaintext(buf);
    ASSERT_EQ(io.status, TlsStatus::ok);
    EXPECT_EQ(std::string(buf, io.bytes), "after update");
    // The client's next secret, key and IV, and the server's own (its KeyUpdate answers at
    // once, RFC 8446 §4.6.3: it must precede the server's next application data).
    EXPECT_GE(tls13_kdf_derivations_on_this_thread() - before, 6u);
    EXPECT_FALSE(tls13_kdf_holds_keys_on_this_thread());
    ASSERT_EQ(server.write_plaintext(std::string_view("pong")).status, TlsStatus::ok);
    EXPECT_FALSE(tls13_kdf_holds_keys_on_this_thread());
    transfer(server, client);
    io = client.read_plaintext(buf);
    ASSERT_EQ(io.status, TlsStatus::ok);
    EXPECT_EQ(std::string(buf, io.bytes), "pong");
}

TEST(TlsSession, RenegotiationIsRefused) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({.max_version = TLS1_2_VERSION});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    ASSERT_EQ(SSL_renegotiate(client.native_handle()), 1);
    ERR_clear_error();
    EXPECT_LE(SSL_do_handshake(client.native_handle()), 0);  // sends a new ClientHello
    ERR_clear_error();
    transfer(client, server);
    char buf[16];
    // The server does not start a new handshake (it answers no_renegotiation).
    TlsIo io = server.read_plaintext(buf);
    EXPECT_NE(io.status, TlsStatus::ok);
    transfer(server, client);
    io = client.read_plaintext(buf);
    EXPECT_EQ(io.status, TlsStatus::error);
    EXPECT_NE(client.error_reason().find("no renegotiation"), std::string_view::npos)
        << client.error_reason();
    EXPECT_EQ(ctx->counters().handshakes, 1u);
}

// Multishot recv with small buffers delivers ciphertext in arbitrary pieces: a handshake and a
// record split into single bytes must work the same.
TEST(TlsSession, OneByteAtATime) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        auto cctx = client_context({.max_version = version});
        TlsSession client = make_client(cctx.get(), {.sni = "a.example.net", .alpn = {"http/1.1"}});
        TlsSession server = make_server(*ctx, {.input_buffer = 1, .output_buffer = 1});
        auto trickle = [](TlsSession& from, TlsSession& to) {
            bool moved = false;
            for (std::string_view p; !(p = from.pending_ciphertext()).empty();) {
                if (to.feed_ciphertext(p.substr(0, 1)) != 1) {
                    break;
                }
                from.consume_ciphertext(1);
                moved = true;
            }
            return moved;
        };
        TlsIo c{}, s{};
        for (int i = 0; i < 100000; ++i) {
            c = client.handshake();
            const bool a = trickle(client, server);
            s = server.handshake();
            const bool b = trickle(server, client);
            if (c.status == TlsStatus::ok && s.status == TlsStatus::ok && !a && !b) {
                break;
            }
            ASSERT_NE(s.status, TlsStatus::error) << server.error_reason();
        }
        ASSERT_EQ(s.status, TlsStatus::ok);
        ASSERT_EQ(c.status, TlsStatus::ok);
        EXPECT_EQ(peer_common_name(client), "*.example.net");
        ASSERT_EQ(client.write_plaintext(std::string_view("hello, byte by byte")).status,
                  TlsStatus::ok);
        std::string got;
        char buf[64];
        for (int i = 0; i < 100000 && got.size() < 19; ++i) {
            trickle(client, server);
            const TlsIo io = server.read_plaintext(buf);
            ASSERT_NE(io.status, TlsStatus::error) << server.error_reason();
            got.append(buf, io.bytes);
            trickle(server, client);
        }
        EXPECT_EQ(got, "hello, byte by byte");
    }
}

// Corrupting any byte of the client's first flight ends in a clean error (or, for a byte the
// server cannot check yet, in waiting for more, then truncation), never in a crash or a hang.
TEST(TlsSession, CorruptedClientHelloAtEveryOffset) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession probe = make_client(cctx.get(), {.sni = "www.example.com"});
    probe.handshake();
    const std::string hello(probe.pending_ciphertext());
    ASSERT_GT(hello.size(), 100u);
    int errors = 0;
    for (std::size_t i = 0; i < hello.size(); ++i) {
        std::string bad = hello;
        bad[i] = static_cast<char>(bad[i] ^ 0x5a);
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(server.feed_ciphertext(bad), bad.size());
        const TlsIo io = server.handshake();
        EXPECT_TRUE(io.status == TlsStatus::error || io.status == TlsStatus::want_read) << i;
        if (io.status == TlsStatus::error) {
            ++errors;
            EXPECT_FALSE(server.error_reason().empty());
        }
        server.feed_eof();
        const TlsIo end = server.handshake();
        EXPECT_TRUE(end.status == TlsStatus::error || end.status == TlsStatus::truncated) << i;
    }
    EXPECT_GT(errors, 0);
}

// --- session resumption with a shared ticket key file ---

struct ResumptionTest : ::testing::Test {
    TempDir dir;
    std::string key_file = dir.file("tickets.keys");

    TlsConfig config() {
        TlsConfig c = base_config();
        c.ticket_key_file = key_file;
        return c;
    }

    static TicketKey key(std::int64_t nb, std::int64_t na) {
        auto k = random_ticket_key(nb, na);
        EXPECT_TRUE(k);
        return *k;
    }

    void write_keys(const std::vector<TicketKey>& keys) {
        std::string text = "# test keys\n";
        for (const auto& k : keys) {
            text += format_ticket_key(k) + "\n";
        }
        write_file(key_file, text);
    }

    // A full connection that ends with the client holding a session (with a ticket if one
    // was issued). Returns nullptr if the handshake failed.
    struct Outcome {
        bool ok = false;
        bool resumed = false;
        SSL_SESSION* session = nullptr;  // owned by the caller
    };
    Outcome connect(TlsContext& ctx, SSL_CTX* cctx, SSL_SESSION* resume) {
        TlsSession client = make_client(cctx, {.sni = "www.example.com", .resume = resume});
        TlsSession server = make_server(ctx);
        const HandshakeResult r = handshake(client, server);
        Outcome out;
        out.ok = r.client == TlsStatus::ok && r.server == TlsStatus::ok;
        settle(client, server);
        out.resumed = client.resumed();
        EXPECT_EQ(client.resumed(), server.resumed());
        out.session = SSL_get1_session(client.native_handle());
        // A client SSL freed without close_notify marks its session not resumable
        // (ssl_clear_bad_session), as a browser's would be after a broken connection.
        client.shutdown();
        return out;
    }

    static std::array<unsigned char, 16> ticket_name(SSL_SESSION* s) {
        std::array<unsigned char, 16> name{};
        const unsigned char* tick = nullptr;
        std::size_t len = 0;
        SSL_SESSION_get0_ticket(s, &tick, &len);
        // RFC 5077 §4 layout (OpenSSL's): key_name(16) || IV(16) || ciphertext || MAC(32).
        if (tick != nullptr && len >= 16) {
            std::memcpy(name.data(), tick, 16);
        }
        return name;
    }
};

TEST_F(ResumptionTest, TicketFromOneProcessResumesOnAnother) {
    write_keys({key(now() - 100, now() + 3600)});
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        // Two contexts loading the same file stand for two cdn-edge processes.
        auto node_a = make_context(config());
        auto node_b = make_context(config());
        ASSERT_TRUE(node_a && node_b);
        auto cctx = client_context({.max_version = version});
        Outcome first = connect(*node_a, cctx.get(), nullptr);
        ASSERT_TRUE(first.ok);
        EXPECT_FALSE(first.resumed);
        ASSERT_TRUE(first.session != nullptr);
        ASSERT_TRUE(SSL_SESSION_has_ticket(first.session)) << version;

        Outcome second = connect(*node_b, cctx.get(), first.session);
        ASSERT_TRUE(second.ok);
        EXPECT_TRUE(second.resumed) << version;
        EXPECT_EQ(node_b->counters().handshakes, 1u);
        EXPECT_EQ(node_b->counters().resumed, 1u);
        EXPECT_EQ(node_a->counters().resumed, 0u);

        // A node with other keys cannot read the ticket: full handshake, not a failure.
        TempDir other_dir;
        TlsConfig other = base_config();
        other.ticket_key_file = other_dir.file("other.keys");
        write_file(other.ticket_key_file, format_ticket_key(key(now() - 100, now() + 3600)));
        auto node_c = make_context(other);
        ASSERT_TRUE(node_c);
        Outcome third = connect(*node_c, cctx.get(), first.session);
        ASSERT_TRUE(third.ok);
        EXPECT_FALSE(third.resumed);

        // Without a key file every process has its own random key.
        auto lonely_a = make_context(base_config());
        auto lonely_b = make_context(base_config());
        Outcome la = connect(*lonely_a, cctx.get(), nullptr);
        Outcome lb = connect(*lonely_b, cctx.get(), la.session);
        EXPECT_FALSE(lb.resumed);
        Outcome la2 = connect(*lonely_a, cctx.get(), la.session);
        EXPECT_TRUE(la2.resumed);

        for (SSL_SESSION* s :
             {first.session, second.session, third.session, la.session, lb.session, la2.session}) {
            SSL_SESSION_free(s);
        }
    }
}

// TLS 1.3's key schedule by either implementation (TlsConfig::tls13_kdf_by_anyedge) against
// OpenSSL's on the client, for each suite's hash: handshake and Finished, the ticket sent under
// the application keys, and a ticket made by one resumed on the other (resumption secret and
// PSK binder). Which one the server used is counted, as derivations on this thread.
TEST_F(ResumptionTest, KeyScheduleByEitherImplementation) {
    write_keys({key(now() - 100, now() + 3600)});
    TlsConfig by_anyedge = config();
    TlsConfig by_openssl = config();
    by_openssl.tls13_kdf_by_anyedge = false;
    auto ours = make_context(by_anyedge);
    auto theirs = make_context(by_openssl);
    ASSERT_TRUE(ours && theirs);
    for (const char* suite :
         {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
        SCOPED_TRACE(suite);
        auto cctx = client_context({.min_version = TLS1_3_VERSION, .tls13_suites = suite});
        for (auto [issuer, resumer] :
             {std::pair{ours.get(), theirs.get()}, std::pair{theirs.get(), ours.get()}}) {
            const unsigned long before = tls13_kdf_derivations_on_this_thread();
            Outcome first = connect(*issuer, cctx.get(), nullptr);
            const unsigned long issued = tls13_kdf_derivations_on_this_thread() - before;
            ASSERT_TRUE(first.ok);
            ASSERT_TRUE(first.session != nullptr && SSL_SESSION_has_ticket(first.session));
            EXPECT_STREQ(SSL_CIPHER_get_name(SSL_SESSION_get0_cipher(first.session)), suite);
            Outcome second = connect(*resumer, cctx.get(), first.session);
            const unsigned long resumed = tls13_kdf_derivations_on_this_thread() - before - issued;
            EXPECT_TRUE(second.ok);
            EXPECT_TRUE(second.resumed);
            EXPECT_EQ(issued > 0, issuer == ours.get());
            EXPECT_EQ(resumed > 0, resumer == ours.get());
            // Each handshake's end re-keyed this thread's HMAC contexts empty.
            EXPECT_FALSE(tls13_kdf_holds_keys_on_this_thread());
            SSL_SESSION_free(first.session);
            SSL_SESSION_free(second.session);
        }
    }
}

TEST_F(ResumptionTest, EveryTls13ResumptionYieldsAFreshTicket) {
    write_keys({key(now() - 100, now() + 3600)});
    auto ctx = make_context(config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    Outcome prev = connect(*ctx, cctx.get(), nullptr);
    ASSERT_TRUE(prev.ok);
    for (int i = 0; i < 4; ++i) {
        Outcome next = connect(*ctx, cctx.get(), prev.session);
        ASSERT_TRUE(next.ok);
        EXPECT_TRUE(next.resumed) << i;
        EXPECT_NE(next.session, prev.session) << i;  // a new ticket, not the used one
        SSL_SESSION_free(prev.session);
        prev = next;
    }
    SSL_SESSION_free(prev.session);
    EXPECT_EQ(ctx->counters().handshakes, 5u);
    EXPECT_EQ(ctx->counters().resumed, 4u);
}

TEST_F(ResumptionTest, KeyOutsideItsWindowDoesNotEncrypt) {
    const TicketKey expired = key(now() - 1000, now() - 10);
    const TicketKey current = key(now() - 100, now() + 3600);
    const TicketKey future = key(now() + 600, now() + 7200);
    write_keys({expired, current, future});
    auto ctx = make_context(config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    Outcome out = connect(*ctx, cctx.get(), nullptr);
    ASSERT_TRUE(out.ok);
    ASSERT_TRUE(SSL_SESSION_has_ticket(out.session));
    EXPECT_EQ(ticket_name(out.session), current.name);
    SSL_SESSION_free(out.session);

    // Only an expired key: the handshake works, but no ticket is issued.
    write_keys({expired});
    auto stale = make_context(config());
    ASSERT_TRUE(stale);
    Outcome none = connect(*stale, cctx.get(), nullptr);
    ASSERT_TRUE(none.ok);
    EXPECT_FALSE(SSL_SESSION_has_ticket(none.session));
    SSL_SESSION_free(none.session);
}

TEST_F(ResumptionTest, ReloadRotatesKeysWithoutRestart) {
    const TicketKey a = key(now() - 100, now() + 3600);
    write_keys({a});
    auto ctx = make_context(config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    Outcome first = connect(*ctx, cctx.get(), nullptr);
    ASSERT_TRUE(first.ok);
    EXPECT_EQ(ticket_name(first.session), a.name);

    // A newer key starts: it encrypts, A still decrypts and its tickets get replaced.
    TicketKey b = key(now() - 10, now() + 7200);
    write_keys({a, b});
    ASSERT_TRUE(ctx->reload_ticket_keys());
    Outcome second = connect(*ctx, cctx.get(), first.session);
    ASSERT_TRUE(second.ok);
    EXPECT_TRUE(second.resumed);
    EXPECT_EQ(ticket_name(second.session), b.name);

    // A's window ends: its tickets are refused (full handshake), B's still resume.
    TicketKey a_expired = a;
    a_expired.not_before = now() - 100;
    a_expired.not_after = now() - 1;
    write_keys({a_expired, b});
    ASSERT_TRUE(ctx->reload_ticket_keys());
    Outcome third = connect(*ctx, cctx.get(), first.session);
    ASSERT_TRUE(third.ok);
    EXPECT_FALSE(third.resumed);
    Outcome fourth = connect(*ctx, cctx.get(), second.session);
    ASSERT_TRUE(fourth.ok);
    EXPECT_TRUE(fourth.resumed);

    // A broken file is reported and changes nothing.
    write_file(key_file, "garbage\n");
    const Status bad = ctx->reload_ticket_keys();
    EXPECT_FALSE(bad);
    EXPECT_NE(bad.error().find(key_file), std::string::npos);
    Outcome fifth = connect(*ctx, cctx.get(), fourth.session);
    EXPECT_TRUE(fifth.resumed);

    for (SSL_SESSION* s :
         {first.session, second.session, third.session, fourth.session, fifth.session}) {
        SSL_SESSION_free(s);
    }
}

TEST_F(ResumptionTest, ClockDrivesKeyWindows) {
    // The same key file, read by a context whose clock moves: the key stops decrypting at its
    // not_after without any reload.
    std::int64_t fake_now = 1'000'000;
    write_keys({key(999'000, 1'001'000)});
    TlsConfig c = config();
    c.clock = [&fake_now] { return fake_now; };
    auto ctx = make_context(c);
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    Outcome first = connect(*ctx, cctx.get(), nullptr);
    ASSERT_TRUE(first.ok);
    ASSERT_TRUE(SSL_SESSION_has_ticket(first.session));
    fake_now = 1'000'500;
    Outcome second = connect(*ctx, cctx.get(), first.session);
    EXPECT_TRUE(second.resumed);
    fake_now = 1'001'000;
    Outcome third = connect(*ctx, cctx.get(), first.session);
    EXPECT_TRUE(third.ok);
    EXPECT_FALSE(third.resumed);
    for (SSL_SESSION* s : {first.session, second.session, third.session}) {
        SSL_SESSION_free(s);
    }
}

// --- own records: after a TLS 1.3 handshake the session protects records itself ---

// Every TLS 1.3 suite: the SSL is gone, data of every size flows both ways (the client is
// OpenSSL's record layer, so both implementations agree on keys, nonces and padding).
TEST(TlsOwnRecords, EverySuiteBothWaysWithoutTheSsl) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    for (const char* suite :
         {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
        SCOPED_TRACE(suite);
        auto cctx = client_context({.min_version = TLS1_3_VERSION, .tls13_suites = suite});
        TlsSession client =
            make_client(cctx.get(), {.sni = "www.example.com", .alpn = {"http/1.1"}});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok) << server.error_reason();
        EXPECT_TRUE(server.owns_records());
        EXPECT_EQ(server.native_handle(), nullptr);
        EXPECT_EQ(server.cipher(), suite);
        EXPECT_EQ(server.alpn(), "http/1.1");
        EXPECT_EQ(server.sni(), "www.example.com");
        EXPECT_EQ(server.protocol(), "TLSv1.3");
        settle(client, server);
        for (std::size_t size :
             {std::size_t{1}, std::size_t{16384}, std::size_t{16385}, std::size_t{70000}}) {
            std::string data(size, '\0');
            for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 7 + size);
            // Server to client, as a gather list of uneven pieces.
            std::vector<iovec> pieces;
            for (std::size_t off = 0; off < size;) {
                const std::size_t n = std::min<std::size_t>(size - off, 1 + off % 5000);
                pieces.push_back({data.data() + off, n});
                off += n;
            }
            std::string got;
            std::size_t sent = 0;
            char buf[4096];
            for (int round = 0; round < 1000 && got.size() < size; ++round) {
                std::size_t skip = sent;
                std::vector<iovec> rest;
                for (const iovec& p : pieces) {
                    if (skip >= p.iov_len) {
                        skip -= p.iov_len;
                        continue;
                    }
                    rest.push_back({static_cast<char*>(p.iov_base) + skip, p.iov_len - skip});
                    skip = 0;
                }
                if (!rest.empty()) {
                    const TlsIo w = server.write_plaintext(std::span<const iovec>(rest));
                    ASSERT_NE(w.status, TlsStatus::error) << server.error_reason();
                    sent += w.bytes;
                }
                transfer(server, client);
                for (TlsIo r; (r = client.read_plaintext(buf)).status == TlsStatus::ok;) {
                    got.append(buf, r.bytes);
                }
            }
            EXPECT_EQ(got, data) << size;
            // Client to server.
            got.clear();
            std::size_t written = 0;
            for (int round = 0; round < 1000 && got.size() < size; ++round) {
                if (written < size) {
                    const TlsIo w = client.write_plaintext(
                        std::span<const char>(data.data() + written, size - written));
                    ASSERT_NE(w.status, TlsStatus::error);
                    written += w.bytes;
                }
                transfer(client, server);
                for (TlsIo r; (r = server.read_plaintext(buf)).status == TlsStatus::ok;) {
                    got.append(buf, r.bytes);
                }
            }
            EXPECT_EQ(got, data) << size;
        }
    }
}

// The record layer's two secrets come from anyedge's TLS13-KDF when libssl uses it (no key-log
// callback, which formats every secret as hex first), and from the key-log callback when the
// key schedule is OpenSSL's: either way the session takes over its records.
TEST(TlsOwnRecords, EitherKeyScheduleHandsTheSecretsOver) {
    for (const bool by_anyedge : {true, false}) {
        SCOPED_TRACE(by_anyedge ? "anyedge's KDF" : "OpenSSL's KDF");
        TlsConfig cfg = base_config();
        cfg.tls13_kdf_by_anyedge = by_anyedge;
        auto ctx = make_context(cfg);
        ASSERT_TRUE(ctx);
        auto cctx = client_context({.min_version = TLS1_3_VERSION});
        TlsSession client = make_client(cctx.get(), {.sni = "www.example.com"});
        TlsSession server = make_server(*ctx);
        ASSERT_NE(server.native_handle(), nullptr);
        EXPECT_EQ(SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(server.native_handle())) == nullptr,
                  by_anyedge);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok) << server.error_reason();
        EXPECT_TRUE(server.owns_records());
        settle(client, server);
        const std::string data = "over the record layer";
        const iovec piece{const_cast<char*>(data.data()), data.size()};
        ASSERT_EQ(server.write_plaintext(std::span<const iovec>(&piece, 1)).status, TlsStatus::ok);
        transfer(server, client);
        char buf[64];
        const TlsIo r = client.read_plaintext(buf);
        ASSERT_EQ(r.status, TlsStatus::ok);
        EXPECT_EQ(std::string(buf, r.bytes), data);
    }
}

TEST(TlsOwnRecords, Tls12KeepsOpenSslAndResumptionKeepsOwnRecords) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto c12 = client_context({.max_version = TLS1_2_VERSION});
    TlsSession client12 = make_client(c12.get(), {});
    TlsSession server12 = make_server(*ctx);
    ASSERT_EQ(handshake(client12, server12).server, TlsStatus::ok);
    EXPECT_FALSE(server12.owns_records());
    EXPECT_NE(server12.native_handle(), nullptr);

    auto cctx = client_context({});
    TlsSession first = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(first, server).server, TlsStatus::ok);
    settle(first, server);  // the ticket, sealed by OpenSSL before the switch
    SSL_SESSION* ticket = SSL_get1_session(first.native_handle());
    ASSERT_TRUE(SSL_SESSION_has_ticket(ticket));
    first.shutdown();
    TlsSession again = make_client(cctx.get(), {.resume = ticket});
    TlsSession server2 = make_server(*ctx);
    ASSERT_EQ(handshake(again, server2).server, TlsStatus::ok);
    EXPECT_TRUE(server2.resumed());
    EXPECT_TRUE(server2.owns_records());
    settle(again, server2);
    ASSERT_EQ(server2.write_plaintext(std::string_view("resumed")).status, TlsStatus::ok);
    transfer(server2, again);
    char buf[64];
    const TlsIo r = again.read_plaintext(buf);
    ASSERT_EQ(r.status, TlsStatus::ok) << again.error_reason();
    EXPECT_EQ(std::string(buf, r.bytes), "resumed");
    SSL_SESSION_free(ticket);
}

// The worker may see the client's Finished before the completion of the send that carried the
// server's flight: the switch then happens with the flight still pending, in the SSL's memory.
TEST(TlsOwnRecords, SwitchWhileTheServerFlightIsStillPending) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(client.handshake().status, TlsStatus::want_read);
    transfer(client, server);
    ASSERT_EQ(server.handshake().status, TlsStatus::want_read);
    // The flight reaches the client, but the server is not told it was sent.
    const std::string flight(server.pending_ciphertext());
    ASSERT_EQ(flight.size(), server.pending_ciphertext_bytes());
    ASSERT_EQ(client.feed_ciphertext(flight), flight.size());
    ASSERT_EQ(client.handshake().status, TlsStatus::ok);
    ASSERT_EQ(client.write_plaintext(std::string_view("early request")).status, TlsStatus::ok);
    transfer(client, server);
    ASSERT_EQ(server.handshake().status, TlsStatus::ok);
    ASSERT_TRUE(server.owns_records());
    // Still pending: the flight (already delivered), then the ticket.
    ASSERT_GT(server.pending_ciphertext_bytes(), flight.size());
    ASSERT_EQ(server.pending_ciphertext().substr(0, flight.size()), flight);
    server.consume_ciphertext(flight.size());
    char buf[64];
    TlsIo r = server.read_plaintext(buf);
    ASSERT_EQ(r.status, TlsStatus::ok) << server.error_reason();
    EXPECT_EQ(std::string(buf, r.bytes), "early request");
    ASSERT_EQ(server.write_plaintext(std::string_view("response")).status, TlsStatus::ok);
    transfer(server, client);
    std::string got;
    while ((r = client.read_plaintext(buf)).status == TlsStatus::ok) got.append(buf, r.bytes);
    EXPECT_EQ(got, "response") << client.error_reason();
}

TEST(TlsOwnRecords, KeyUpdateNotRequestedChangesOnlyTheReadKey) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    char buf[64];
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(SSL_key_update(client.native_handle(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
        ASSERT_EQ(client.write_plaintext(std::string_view("next")).status, TlsStatus::ok);
        transfer(client, server);
        const TlsIo r = server.read_plaintext(buf);
        ASSERT_EQ(r.status, TlsStatus::ok) << server.error_reason();
        EXPECT_EQ(std::string(buf, r.bytes), "next");
        EXPECT_EQ(server.pending_ciphertext_bytes(), 0u);  // nothing owed back
    }
    ASSERT_EQ(server.write_plaintext(std::string_view("same key")).status, TlsStatus::ok);
    transfer(server, client);
    const TlsIo r = client.read_plaintext(buf);
    ASSERT_EQ(r.status, TlsStatus::ok) << client.error_reason();
    EXPECT_EQ(std::string(buf, r.bytes), "same key");
}

// A changed byte anywhere in a record is bad_record_mac (RFC 8446 §5.2): the server sends the
// alert, says why, and reads nothing more.
TEST(TlsOwnRecords, TamperedRecordIsBadRecordMac) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    for (std::size_t at : {std::size_t{5}, std::size_t{10}, std::size_t{27}}) {
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        settle(client, server);
        ASSERT_EQ(client.write_plaintext(std::string_view("0123456789")).status, TlsStatus::ok);
        std::string record(client.pending_ciphertext());
        ASSERT_EQ(record.size(), 10u + kRecordOverhead);
        client.consume_ciphertext(record.size());
        record[at] ^= 0x20;
        ASSERT_EQ(server.feed_ciphertext(record), record.size());
        char buf[64];
        EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::error);
        EXPECT_EQ(server.error_reason(), "decryption failed");
        EXPECT_TRUE(server.failed());
        transfer(server, client);
        EXPECT_EQ(client.read_plaintext(buf).status, TlsStatus::error);
        EXPECT_NE(client.error_reason().find("bad record mac"), std::string_view::npos)
            << client.error_reason();
    }
}

TEST(TlsOwnRecords, MalformedRecordsAreFatal) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    struct Case {
        std::string bytes;
        const char* reason;
    };
    const Case cases[] = {
        // Longer than 2^14 + 256 (RFC 8446 §5.2): record_overflow before the body arrives.
        {std::string("\x17\x03\x03\x41\x01", 5), "record too long"},
        // A plaintext alert after the handshake.
        {std::string("\x15\x03\x03\x00\x02\x02\x28", 7), "unprotected record after the handshake"},
        // Too short to hold a tag.
        {std::string("\x17\x03\x03\x00\x03xyz", 8), "decryption failed"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.reason);
        TlsSession client = make_client(cctx.get(), {});
        TlsSession server = make_server(*ctx);
        ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
        settle(client, server);
        ASSERT_EQ(server.feed_ciphertext(c.bytes), c.bytes.size());
        char buf[64];
        EXPECT_EQ(server.read_plaintext(buf).status, TlsStatus::error);
        EXPECT_EQ(server.error_reason(), c.reason);
        EXPECT_GT(server.pending_ciphertext_bytes(), 0u);  // the alert
    }
}

TEST(TlsOwnRecords, IdleSessionHoldsNoBuffersAndWakesUp) {
    auto ctx = make_context(base_config());
    ASSERT_TRUE(ctx);
    auto cctx = client_context({});
    TlsSession client = make_client(cctx.get(), {});
    TlsSession server = make_server(*ctx);
    ASSERT_EQ(handshake(client, server).server, TlsStatus::ok);
    settle(client, server);
    char buf[64];
    for (int round = 0; round < 3; ++round) {
        EXPECT_TRUE(server.shed_buffers()) << round;
        EXPECT_FALSE(server.shed_buffers()) << round;
        ASSERT_EQ(client.write_plaintext(std::string_view("ping")).status, TlsStatus::ok);
        transfer(client, server);
        const TlsIo r = server.read_plaintext(buf);
        ASSERT_EQ(r.status, TlsStatus::ok) << server.error_reason();
        EXPECT_EQ(std::string(buf, r.bytes), "ping");
        ASSERT_EQ(server.write_plaintext(std::string_view("pong")).status, TlsStatus::ok);
        EXPECT_FALSE(server.shed_buffers()) << "unsent output";
        transfer(server, client);
        const TlsIo c = client.read_plaintext(buf);
        ASSERT_EQ(c.status, TlsStatus::ok);
        EXPECT_EQ(std::string(buf, c.bytes), "pong");
    }
}

}  // namespace
}  // namespace anyedge::tls
