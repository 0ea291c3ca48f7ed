#include "edge/server/config.h"

#include <nlohmann/json.hpp>

#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"
#include "origin-sync/content/acme.h"

namespace anyedge::server {

namespace {
constexpr uint64_t kU32 = 0xffffffffu;
}  // namespace

Status apply_config_json(const std::string& text, EdgeConfig& cfg) {
    auto read = read_json_object(text, "config", [&cfg](JsonObject& o) {
        // Keys absent from the file keep the value the flags gave.
        auto u32 = [&o](const char* key, uint32_t& field) {
            field = static_cast<uint32_t>(o.unsigned_integer(key, field, kU32));
        };
        auto list = [&o](const char* key, std::vector<std::string>& field) {
            if (o.has(key)) field = o.strings(key, /*or_one=*/true);
        };
        cfg.site = o.str("site", cfg.site);
        cfg.state = o.str("state", cfg.state);
        list("listen", cfg.listen);
        list("tls_listen", cfg.tls_listen);
        list("cert", cfg.cert);
        list("key", cfg.key);
        cfg.ticket_keys = o.str("ticket_keys", cfg.ticket_keys);
        cfg.tls_cipher_preference = o.str("tls_cipher_preference", cfg.tls_cipher_preference);
        u32("tls_tickets_per_handshake", cfg.tls_tickets_per_handshake);
        u32("tls_session_lifetime_s", cfg.tls_session_lifetime_s);
        cfg.tls_x25519 = o.str("tls_x25519", cfg.tls_x25519);
        cfg.tls13_kdf = o.str("tls13_kdf", cfg.tls13_kdf);
        cfg.admin = o.str("admin", cfg.admin);
        cfg.admin_token_file = o.str("admin_token_file", cfg.admin_token_file);
        cfg.upload_token_file = o.str("upload_token_file", cfg.upload_token_file);
        cfg.node_name = o.str("node_name", cfg.node_name);
        u32("threads", cfg.threads);
        cfg.redirect_http = o.boolean("redirect_http", cfg.redirect_http);
        cfg.http2 = o.boolean("http2", cfg.http2);
        cfg.http3 = o.boolean("http3", cfg.http3);
        u32("alt_svc_max_age_s", cfg.alt_svc_max_age_s);
        u32("quic_retry_above_per_s", cfg.quic_retry_above_per_s);
        cfg.quic_cid_key = o.str("quic_cid_key", cfg.quic_cid_key);
        u32("node_id", cfg.node_id);
        cfg.quic_forward_listen = o.str("quic_forward_listen", cfg.quic_forward_listen);
        list("quic_forward_peers", cfg.quic_forward_peers);
        cfg.hooks_status = o.str("hooks_status", cfg.hooks_status);
        cfg.hsts = o.str("hsts", cfg.hsts);
        cfg.access_log = o.str("access_log", cfg.access_log);
        u32("max_connections", cfg.max_connections);
        u32("header_timeout_ms", cfg.header_timeout_ms);
        u32("idle_timeout_ms", cfg.idle_timeout_ms);
        u32("send_timeout_ms", cfg.send_timeout_ms);
        u32("send_buffer", cfg.send_buffer);
        u32("max_requests_per_connection", cfg.max_requests_per_connection);
        u32("max_header_bytes", cfg.max_header_bytes);
        u32("max_target_bytes", cfg.max_target_bytes);
        u32("max_field_bytes", cfg.max_field_bytes);
        u32("stop_timeout_ms", cfg.stop_timeout_ms);
        u32("skew_grace_s", cfg.skew_grace_s);
        cfg.mmap_threshold = o.unsigned_integer("mmap_threshold", cfg.mmap_threshold);
        cfg.compress = o.boolean("compress", cfg.compress);
        cfg.acme_thumbprint = o.str("acme_thumbprint", cfg.acme_thumbprint);
        if (o.has("cache_rules")) {
            const nlohmann::json& rules = o.at("cache_rules");
            if (!rules.is_array()) {
                o.fail("cache_rules", "expected an array of {\"match\", \"cache_control\"}");
            }
            cfg.cache_rules.clear();
            for (size_t i = 0; i < rules.size(); ++i) {
                JsonObject rule(rules[i], o.where("cache_rules[" + std::to_string(i) + "]"));
                cfg.cache_rules.push_back({rule.str("match"), rule.str("cache_control")});
                rule.finish();
            }
        }
        if (o.has("headers")) {
            JsonObject headers = o.object("headers");
            cfg.headers.clear();
            for (const std::string& name : headers.keys()) {
                cfg.headers.emplace_back(name, headers.str(name));
            }
        }
        o.finish();
        return Ok{};
    });
    return read ? ok_status() : Status(read.forward_error());
}

Status load_config_file(const std::string& path, EdgeConfig& cfg) {
    auto text = read_file(path, 1 << 20);
    if (!text) return text.forward_error("config file: ");
    auto st = apply_config_json(*text, cfg);
    if (!st) return make_error(path + ": " + st.error());
    return st;
}

namespace {
bool valid_header_token(const std::string& s) {
    if (s.empty()) return false;
    for (unsigned char c : s) {
        if (c <= 32 || c >= 127 ||
            std::string_view("()<>@,;:\\\"/[]?={}").find(char(c)) != std::string_view::npos)
            return false;
    }
    return true;
}
bool valid_header_value(const std::string& s) {
    for (unsigned char c : s) {
        if ((c < 32 && c != '\t') || c == 127) return false;
    }
    return true;
}
}  // namespace

Status validate(const EdgeConfig& cfg) {
    if (cfg.site.empty() == cfg.state.empty()) {
        return make_error("exactly one of --site or --state is required");
    }
    if (cfg.listen.empty() && cfg.tls_listen.empty()) {
        return make_error("at least one --listen or --tls-listen address is required");
    }
    if (cfg.threads == 0 || cfg.threads > 256) return make_error("threads must be 1..256");
    if (cfg.node_id > 0xffff) return make_error("node_id must be 0..65535");
    if (!cfg.quic_forward_peers.empty() && cfg.quic_forward_listen.empty()) {
        return make_error("quic_forward_peers needs quic_forward_listen (peers send from it)");
    }
    if (!cfg.upload_token_file.empty() && cfg.site.empty()) {
        return make_error("upload_token_file (the origin role) needs --site: the origin tree");
    }
    if (cfg.compress && cfg.site.empty()) {
        return make_error(
            "compress is for a --site folder: a --state generation carries the variants "
            "cdnctl publish made");
    }
    if (!cfg.tls_listen.empty() && cfg.cert.empty()) {
        return make_error("--tls-listen needs --cert and --key");
    }
    if (cfg.cert.size() != cfg.key.size()) {
        return make_error("each --cert needs a matching --key");
    }
    if (cfg.tls_cipher_preference != "server" && cfg.tls_cipher_preference != "client") {
        return make_error("tls_cipher_preference must be \"server\" or \"client\"");
    }
    if (cfg.tls_x25519 != "libsodium" && cfg.tls_x25519 != "openssl") {
        return make_error("tls_x25519 must be \"libsodium\" or \"openssl\"");
    }
    if (cfg.tls13_kdf != "anyedge" && cfg.tls13_kdf != "openssl") {
        return make_error("tls13_kdf must be \"anyedge\" or \"openssl\"");
    }
    if (cfg.tls_tickets_per_handshake > 8) {
        return make_error("tls_tickets_per_handshake must be 0..8");
    }
    if (cfg.tls_session_lifetime_s == 0 || cfg.tls_session_lifetime_s > 7 * 86400) {
        return make_error("tls_session_lifetime_s must be 1..604800 (7 days, RFC 8446)");
    }
    for (const auto& [name, value] : cfg.headers) {
        if (!valid_header_token(name)) return make_error("headers: bad header name '" + name + "'");
        if (!valid_header_value(value)) return make_error("headers: bad value for '" + name + "'");
    }
    if (!valid_header_value(cfg.hsts)) return make_error("hsts: bad header value");
    if (!cfg.acme_thumbprint.empty() && !is_sha256_thumbprint(cfg.acme_thumbprint)) {
        return make_error(
            "acme_thumbprint must be a base64url SHA-256 JWK thumbprint (43 "
            "characters of A-Z a-z 0-9 - _)");
    }
    if (cfg.max_header_bytes < 256) return make_error("max_header_bytes must be at least 256");
    if (cfg.max_field_bytes < 256) return make_error("max_field_bytes must be at least 256");
    if (cfg.send_buffer > (1u << 30)) return make_error("send_buffer must be at most 1 GiB");
    return ok_status();
}

}  // namespace anyedge::server
