// The edge's JSON config: every key lands in its field, a wrong key or type is refused with a
// message naming it, and validate() refuses values the edge cannot run with.
#include "edge/server/config.h"

#include <sys/socket.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "edge/server/forward_peers.h"

namespace anyedge::server {
namespace {

TEST(EdgeConfig, EveryKeyLandsInItsField) {
    EdgeConfig cfg;
    const Status st = apply_config_json(R"({
        "site": "/srv/site", "listen": "127.0.0.1:80", "tls_listen": ["[::]:443", "0.0.0.0:443"],
        "cert": ["a.pem", "b.pem"], "key": ["a.key", "b.key"], "ticket_keys": "/etc/tickets",
        "tls_cipher_preference": "client", "tls_tickets_per_handshake": 2,
        "tls_session_lifetime_s": 86400, "tls_x25519": "openssl", "tls13_kdf": "openssl", "admin": "unix:/run/edge.sock", "node_name": "fra1",
        "admin_token_file": "/etc/edge/admin.token", "upload_token_file": "/etc/edge/up.token",
        "threads": 4, "redirect_http": true, "http2": true, "hsts": "max-age=63072000",
        "access_log": "-", "max_connections": 50000, "header_timeout_ms": 5000,
        "idle_timeout_ms": 30000, "send_timeout_ms": 20000, "send_buffer": 65536,
        "max_requests_per_connection": 1000, "max_header_bytes": 8192,
        "max_target_bytes": 4096, "stop_timeout_ms": 3000, "skew_grace_s": 60,
        "mmap_threshold": 1048576, "compress": true,
        "cache_rules": [{"match": "/assets/*", "cache_control": "max-age=31536000, immutable"}],
        "headers": {"X-Served-By": "fra1"}})",
                                        cfg);
    ASSERT_TRUE(st) << st.error();
    EXPECT_EQ(cfg.site, "/srv/site");
    EXPECT_EQ(cfg.listen, std::vector<std::string>{"127.0.0.1:80"});
    EXPECT_EQ(cfg.tls_listen, (std::vector<std::string>{"[::]:443", "0.0.0.0:443"}));
    EXPECT_EQ(cfg.cert, (std::vector<std::string>{"a.pem", "b.pem"}));
    EXPECT_EQ(cfg.key, (std::vector<std::string>{"a.key", "b.key"}));
    EXPECT_EQ(cfg.ticket_keys, "/etc/tickets");
    EXPECT_EQ(cfg.tls_cipher_preference, "client");
    EXPECT_EQ(cfg.tls_tickets_per_handshake, 2u);
    EXPECT_EQ(cfg.tls_session_lifetime_s, 86400u);
    EXPECT_EQ(cfg.tls_x25519, "openssl");
    EXPECT_EQ(cfg.tls13_kdf, "openssl");
    EXPECT_EQ(cfg.admin, "unix:/run/edge.sock");
    EXPECT_EQ(cfg.node_name, "fra1");
    EXPECT_EQ(cfg.admin_token_file, "/etc/edge/admin.token");
    EXPECT_EQ(cfg.upload_token_file, "/etc/edge/up.token");
    EXPECT_EQ(cfg.threads, 4u);
    EXPECT_TRUE(cfg.redirect_http);
    EXPECT_TRUE(cfg.http2);
    EXPECT_EQ(cfg.hsts, "max-age=63072000");
    EXPECT_EQ(cfg.access_log, "-");
    EXPECT_EQ(cfg.max_connections, 50000u);
    EXPECT_EQ(cfg.header_timeout_ms, 5000u);
    EXPECT_EQ(cfg.idle_timeout_ms, 30000u);
    EXPECT_EQ(cfg.send_timeout_ms, 20000u);
    EXPECT_EQ(cfg.send_buffer, 65536u);
    EXPECT_EQ(cfg.max_requests_per_connection, 1000u);
    EXPECT_EQ(cfg.max_header_bytes, 8192u);
    EXPECT_EQ(cfg.max_target_bytes, 4096u);
    EXPECT_EQ(cfg.stop_timeout_ms, 3000u);
    EXPECT_EQ(cfg.skew_grace_s, 60u);
    EXPECT_EQ(cfg.mmap_threshold, 1048576u);
    EXPECT_TRUE(cfg.compress);
    ASSERT_EQ(cfg.cache_rules.size(), 1u);
    EXPECT_EQ(cfg.headers.size(), 1u);
    EXPECT_TRUE(validate(cfg)) << validate(cfg).error();
}

TEST(EdgeConfig, DefaultsAreTheDocumentedOnes) {
    const EdgeConfig cfg;
    EXPECT_EQ(cfg.header_timeout_ms, 10000u);
    EXPECT_EQ(cfg.idle_timeout_ms, 60000u);
    EXPECT_EQ(cfg.send_timeout_ms, 30000u);
    EXPECT_EQ(cfg.tls_tickets_per_handshake, 1u);
    EXPECT_EQ(cfg.tls_session_lifetime_s, 7200u);
    EXPECT_EQ(cfg.tls_cipher_preference, "server");
    EXPECT_EQ(cfg.tls_x25519, "libsodium");
    EXPECT_EQ(cfg.tls13_kdf, "anyedge");
    EXPECT_FALSE(cfg.compress);  // as nginx's gzip
    // HTTP/2 and HTTP/3 on, as Caddy has them.
    EXPECT_TRUE(cfg.http2);
    EXPECT_TRUE(cfg.http3);
    EXPECT_EQ(cfg.alt_svc_max_age_s, 3600u);
    EXPECT_EQ(cfg.quic_retry_above_per_s, 4000u);
    EXPECT_TRUE(cfg.quic_cid_key.empty());  // a random key: one node only
    EXPECT_EQ(cfg.node_id, 0u);
}

TEST(EdgeConfig, ReadsTheHttp3Keys) {
    EdgeConfig cfg;
    ASSERT_TRUE(apply_config_json(R"({"http2": false, "http3": false, "alt_svc_max_age_s": 60,
        "quic_retry_above_per_s": 0, "quic_cid_key": "/etc/anyedge/cid.key", "node_id": 7})",
                                  cfg));
    EXPECT_FALSE(cfg.http2);
    EXPECT_FALSE(cfg.http3);
    EXPECT_EQ(cfg.alt_svc_max_age_s, 60u);
    EXPECT_EQ(cfg.quic_retry_above_per_s, 0u);
    EXPECT_EQ(cfg.quic_cid_key, "/etc/anyedge/cid.key");
    EXPECT_EQ(cfg.node_id, 7u);
    cfg.site = "/srv";
    cfg.listen = {"127.0.0.1:80"};
    cfg.node_id = 70000;
    const Status st = validate(cfg);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().find("node_id"), std::string::npos) << st.error();
}

TEST(EdgeConfig, ReadsTheForwardingKeys) {
    EdgeConfig cfg;
    ASSERT_TRUE(apply_config_json(R"({"quic_forward_listen": "203.0.113.101:4434",
        "quic_forward_peers": ["2=203.0.113.102:4434", "3=[2001:db8::3]:4434"],
        "hooks_status": "/run/anyedge/cdn-hooks.json"})",
                                  cfg));
    EXPECT_EQ(cfg.quic_forward_listen, "203.0.113.101:4434");
    ASSERT_EQ(cfg.quic_forward_peers.size(), 2u);
    EXPECT_EQ(cfg.hooks_status, "/run/anyedge/cdn-hooks.json");
    auto peers = parse_forward_peers(cfg.quic_forward_peers, 1);
    ASSERT_TRUE(peers) << peers.error();
    EXPECT_EQ(peers->size(), 2u);
    EXPECT_EQ(peers->at(3).addr.ss_family, AF_INET6);
    for (const char* bad : {"2", "=1.2.3.4:5", "x=1.2.3.4:5", "70000=1.2.3.4:5", "1=1.2.3.4:5",
                            "2=1.2.3.4", "2=host:5"}) {
        EXPECT_FALSE(parse_forward_peers({bad}, 1)) << bad;
    }
    EXPECT_FALSE(parse_forward_peers({"2=1.2.3.4:5", "2=1.2.3.5:5"}, 1));
    cfg.site = "/srv";
    cfg.listen = {"127.0.0.1:80"};
    cfg.quic_forward_listen.clear();
    const Status st = validate(cfg);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().find("quic_forward_listen"), std::string::npos) << st.error();
}

TEST(EdgeConfig, RefusesWhatItCannotUseNamingIt) {
    const struct {
        const char* json;
        const char* message;
    } cases[] = {
        {R"({"sitee": "/srv"})", "config.sitee: unknown key"},
        {R"({"threads": "4"})", "config.threads: expected a non-negative integer"},
        {R"({"threads": -1})", "config.threads: expected a non-negative integer"},
        {R"({"send_timeout_ms": 5000000000})",
         "config.send_timeout_ms: must be at most 4294967295"},
        {R"({"redirect_http": 1})", "config.redirect_http: expected true or false"},
        {R"({"listen": [80]})", "config.listen[0]: expected a string"},
        {R"({"tls_session_lifetime_s": 1.5})",
         "config.tls_session_lifetime_s: expected a non-negative integer"},
        {R"({"cache_rules": [{"match": "/a"}]})",
         "config.cache_rules[0].cache_control: missing (required)"},
        {R"({"headers": ["X: y"]})", "config.headers: expected an object"},
        {R"(["site"])", "config: expected an object"},
        {R"({"site": )", "not valid JSON"},
    };
    for (const auto& c : cases) {
        EdgeConfig cfg;
        const Status st = apply_config_json(c.json, cfg);
        ASSERT_FALSE(st) << c.json;
        EXPECT_NE(st.error().find(c.message), std::string::npos) << c.json << ": " << st.error();
    }
}

TEST(EdgeConfig, ValidateRefusesValuesTheEdgeCannotRunWith) {
    auto base = [] {
        EdgeConfig cfg;
        cfg.site = "/srv/site";
        cfg.listen = {"127.0.0.1:80"};
        return cfg;
    };
    ASSERT_TRUE(validate(base()));
    const struct {
        void (*change)(EdgeConfig&);
        const char* message;
    } cases[] = {
        {[](EdgeConfig& c) { c.state = "/var/lib/edge"; }, "exactly one of --site or --state"},
        {[](EdgeConfig& c) { c.listen.clear(); }, "at least one --listen"},
        {[](EdgeConfig& c) { c.threads = 0; }, "threads must be 1..256"},
        {[](EdgeConfig& c) {
             c.site.clear();
             c.state = "/var/lib/edge";
             c.compress = true;
         },
         "compress is for a --site folder"},
        {[](EdgeConfig& c) { c.tls_listen = {"127.0.0.1:443"}; }, "--tls-listen needs --cert"},
        {[](EdgeConfig& c) {
             c.cert = {"a.pem"};
             c.key = {};
         },
         "each --cert needs a matching --key"},
        {[](EdgeConfig& c) { c.tls_cipher_preference = "random"; }, "tls_cipher_preference"},
        {[](EdgeConfig& c) { c.tls_tickets_per_handshake = 9; }, "tls_tickets_per_handshake"},
        {[](EdgeConfig& c) { c.tls_x25519 = "nss"; }, "tls_x25519 must be"},
        {[](EdgeConfig& c) { c.tls13_kdf = "hkdf"; }, "tls13_kdf must be"},
        {[](EdgeConfig& c) { c.tls_session_lifetime_s = 0; }, "tls_session_lifetime_s"},
        {[](EdgeConfig& c) { c.acme_thumbprint = "too-short"; }, "acme_thumbprint must be"},
        {[](EdgeConfig& c) { c.acme_thumbprint = std::string(42, 'a') + "="; },
         "acme_thumbprint must be"},
        {[](EdgeConfig& c) { c.tls_session_lifetime_s = 7 * 86400 + 1; }, "tls_session_lifetime_s"},
        {[](EdgeConfig& c) {
             c.headers = {{"Bad Name", "x"}};
         },
         "bad header name"},
        {[](EdgeConfig& c) {
             c.headers = {{"X-A", "a\r\nInjected: 1"}};
         },
         "bad value for 'X-A'"},
        {[](EdgeConfig& c) { c.hsts = "max-age=1\r\n"; }, "hsts: bad header value"},
        {[](EdgeConfig& c) { c.max_header_bytes = 100; }, "max_header_bytes"},
        {[](EdgeConfig& c) { c.send_buffer = (1u << 30) + 1; }, "send_buffer"},
    };
    for (const auto& c : cases) {
        EdgeConfig cfg = base();
        c.change(cfg);
        const Status st = validate(cfg);
        ASSERT_FALSE(st) << c.message;
        EXPECT_NE(st.error().find(c.message), std::string::npos) << st.error();
    }
    // Tickets off and the longest lifetime RFC 8446 allows are fine.
    EdgeConfig edge_of_range = base();
    edge_of_range.tls_tickets_per_handshake = 0;
    edge_of_range.tls_session_lifetime_s = 7 * 86400;
    EXPECT_TRUE(validate(edge_of_range));
}

}  // namespace
}  // namespace anyedge::server
