// EdgeConfig: every cdn-edge setting, from the command line and/or a JSON config file.
// The JSON file uses the same names as the long flags (with '_' for '-'); an unknown key or a
// value of the wrong type is refused with a message naming the key. Flags override the file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "edge/cache/snapshot.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

struct EdgeConfig {
    std::string site;   // plain folder to serve
    std::string state;  // node state directory (generations); exclusive with site
    std::vector<std::string> listen;
    std::vector<std::string> tls_listen;
    std::vector<std::string> cert;  // one or more certificate chains (PEM), chosen by SNI
    std::vector<std::string> key;   // matching private keys
    std::string ticket_keys;        // shared session-ticket key file
    std::string admin;              // ADDR:PORT or unix:PATH
    std::string admin_token_file;
    std::string upload_token_file;  // origin role: PUT uploads into `site` with this token
    std::string node_name;
    unsigned threads = 1;
    bool redirect_http = false;  // plain HTTP answers 301 to https
    bool http2 = true;           // TLS listeners offer "h2" before "http/1.1" in ALPN
    // HTTP/3 on the UDP side of every TLS listener (same port), advertised by Alt-Svc.
    bool http3 = true;
    uint32_t alt_svc_max_age_s = 3600;  // short: a node that drains stops advertising soon
    // New QUIC handshakes per second per worker past which clients must first prove their
    // address with a Retry round trip; 0: always.
    uint32_t quic_retry_above_per_s = 4000;
    // The fleet's QUIC connection-ID key (a file of 32 hex digits) and this node's ID, which
    // every connection ID it issues carries. No key: a random one (IDs readable by this node
    // only; fine for one node).
    std::string quic_cid_key;
    uint32_t node_id = 0;  // 0..65535
    // Continuity across route changes: QUIC packets of another node's connections go to that
    // node's forward address (on the tunnel between nodes), and this node takes its own on
    // quic_forward_listen. Peers are "NODE_ID=ADDR:PORT". Empty: dropped and counted.
    std::string quic_forward_listen;
    std::vector<std::string> quic_forward_peers;
    // cdn-hooks' status file: /status and /metrics report stray forwarding from it.
    std::string hooks_status;
    std::string hsts;        // Strict-Transport-Security value on TLS responses
    std::string access_log;  // path, "-" for stdout, empty for off
    uint32_t max_connections = 10000;
    uint32_t header_timeout_ms = 10000;
    uint32_t idle_timeout_ms = 60000;
    uint32_t send_timeout_ms = 30000;
    uint32_t send_buffer = 0;  // SO_SNDBUF of client sockets in bytes; 0: the kernel's autotuning
    uint32_t max_requests_per_connection = 100000;
    uint32_t max_header_bytes = 16 * 1024;
    uint32_t max_target_bytes = 8 * 1024;
    uint32_t max_field_bytes = 8 * 1024;  // one header field (HTTP/1.1 line, h2 name + value)
    uint32_t stop_timeout_ms = 10000;
    uint32_t skew_grace_s = 300;
    uint64_t mmap_threshold = 256 * 1024;
    // --site: make br/zstd/gzip of text files with no .br/.zst/.gz beside them, at load. Off by
    // default, as nginx's gzip: published generations carry the variants publish made.
    bool compress = false;
    // The fleet ACME account's JWK thumbprint (base64url SHA-256, RFC 7638): HTTP-01
    // challenges are answered with token.thumbprint. Empty: not answered.
    std::string acme_thumbprint;
    std::vector<cache::CacheRule> cache_rules;
    std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
    // Who orders the TLS suites, "server" or "client" (TlsConfig::server_cipher_preference).
    std::string tls_cipher_preference = "server";
    // Session tickets per TLS 1.3 handshake (0: no tickets, no resumption) and how long a
    // session may be resumed (1 s .. 7 days, RFC 8446 §4.6.1), as nginx's ssl_session_tickets
    // and ssl_session_timeout.
    uint32_t tls_tickets_per_handshake = 1;
    uint32_t tls_session_lifetime_s = 7200;
    // Who computes X25519 for TLS key exchange: "libsodium" (less CPU per handshake) or
    // "openssl" (TlsConfig::x25519_by_libsodium).
    std::string tls_x25519 = "libsodium";
    // Who derives TLS 1.3's keys: "anyedge" (OpenSSL's HMAC with contexts kept per thread, less
    // CPU per handshake) or "openssl" (TlsConfig::tls13_kdf_by_anyedge).
    std::string tls13_kdf = "anyedge";
};

// Parses a JSON config file's text into cfg (fields present in the file are overwritten).
Status apply_config_json(const std::string& text, EdgeConfig& cfg);
Status load_config_file(const std::string& path, EdgeConfig& cfg);
// Cross-field checks after flags and file are merged.
Status validate(const EdgeConfig& cfg);

}  // namespace anyedge::server
