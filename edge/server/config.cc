#include "edge/server/config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace anyedge::server {
using nlohmann::json;

namespace {

struct Bad {
    std::string message;
};

void expect(bool ok, const std::string& key, const char* what) {
    if (!ok) throw Bad{"config key '" + key + "': expected " + what};
}

std::string get_string(const json& v, const std::string& key) {
    expect(v.is_string(), key, "a string");
    return v.get<std::string>();
}

uint64_t get_uint(const json& v, const std::string& key) {
    expect(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), key,
           "a non-negative integer");
    return v.get<uint64_t>();
}

uint32_t get_u32(const json& v, const std::string& key) {
    const uint64_t n = get_uint(v, key);
    expect(n <= 0xffffffffu, key, "a 32-bit integer");
    return static_cast<uint32_t>(n);
}

bool get_bool(const json& v, const std::string& key) {
    expect(v.is_boolean(), key, "true or false");
    return v.get<bool>();
}

std::vector<std::string> get_strings(const json& v, const std::string& key) {
    if (v.is_string()) return {v.get<std::string>()};
    expect(v.is_array(), key, "a string or an array of strings");
    std::vector<std::string> out;
    for (const auto& item : v) out.push_back(get_string(item, key + "[]"));
    return out;
}

}  // namespace

Status apply_config_json(const std::string& text, EdgeConfig& cfg) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return make_error("config: not valid JSON");
    if (!doc.is_object()) return make_error("config: the top level must be an object");
    try {
        for (const auto& [key, v] : doc.items()) {
            if (key == "site")
                cfg.site = get_string(v, key);
            else if (key == "state")
                cfg.state = get_string(v, key);
            else if (key == "listen")
                cfg.listen = get_strings(v, key);
            else if (key == "tls_listen")
                cfg.tls_listen = get_strings(v, key);
            else if (key == "cert")
                cfg.cert = get_strings(v, key);
            else if (key == "key")
                cfg.key = get_strings(v, key);
            else if (key == "ticket_keys")
                cfg.ticket_keys = get_string(v, key);
            else if (key == "tls_cipher_preference")
                cfg.tls_cipher_preference = get_string(v, key);
            else if (key == "tls_tickets_per_handshake")
                cfg.tls_tickets_per_handshake = get_u32(v, key);
            else if (key == "tls_session_lifetime_s")
                cfg.tls_session_lifetime_s = get_u32(v, key);
            else if (key == "tls_x25519")
                cfg.tls_x25519 = get_string(v, key);
            else if (key == "tls13_kdf")
                cfg.tls13_kdf = get_string(v, key);
            else if (key == "admin")
                cfg.admin = get_string(v, key);
            else if (key == "admin_token_file")
                cfg.admin_token_file = get_string(v, key);
            else if (key == "upload_token_file")
                cfg.upload_token_file = get_string(v, key);
            else if (key == "node_name")
                cfg.node_name = get_string(v, key);
            else if (key == "threads")
                cfg.threads = get_u32(v, key);
            else if (key == "redirect_http")
                cfg.redirect_http = get_bool(v, key);
            else if (key == "http2")
                cfg.http2 = get_bool(v, key);
            else if (key == "hsts")
                cfg.hsts = get_string(v, key);
            else if (key == "access_log")
                cfg.access_log = get_string(v, key);
            else if (key == "max_connections")
                cfg.max_connections = get_u32(v, key);
            else if (key == "header_timeout_ms")
                cfg.header_timeout_ms = get_u32(v, key);
            else if (key == "idle_timeout_ms")
                cfg.idle_timeout_ms = get_u32(v, key);
            else if (key == "send_timeout_ms")
                cfg.send_timeout_ms = get_u32(v, key);
            else if (key == "send_buffer")
                cfg.send_buffer = get_u32(v, key);
            else if (key == "max_requests_per_connection")
                cfg.max_requests_per_connection = get_u32(v, key);
            else if (key == "max_header_bytes")
                cfg.max_header_bytes = get_u32(v, key);
            else if (key == "max_target_bytes")
                cfg.max_target_bytes = get_u32(v, key);
            else if (key == "max_field_bytes")
                cfg.max_field_bytes = get_u32(v, key);
            else if (key == "stop_timeout_ms")
                cfg.stop_timeout_ms = get_u32(v, key);
            else if (key == "skew_grace_s")
                cfg.skew_grace_s = get_u32(v, key);
            else if (key == "mmap_threshold")
                cfg.mmap_threshold = get_uint(v, key);
            else if (key == "compress")
                cfg.compress = get_bool(v, key);
            else if (key == "cache_rules") {
                expect(v.is_array(), key,
                       "an array of {\"match\": PATTERN, \"cache_control\": VALUE}");
                cfg.cache_rules.clear();
                for (const auto& rule : v) {
                    expect(rule.is_object() && rule.size() == 2 && rule.contains("match") &&
                               rule.contains("cache_control"),
                           key, "objects with exactly \"match\" and \"cache_control\"");
                    cfg.cache_rules.push_back(
                        {get_string(rule["match"], key + ".match"),
                         get_string(rule["cache_control"], key + ".cache_control")});
                }
            } else if (key == "headers") {
                expect(v.is_object(), key, "an object of header name -> value");
                cfg.headers.clear();
                for (const auto& [name, value] : v.items()) {
                    cfg.headers.emplace_back(name, get_string(value, key + "." + name));
                }
            } else {
                return make_error("config: unknown key '" + key + "'");
            }
        }
    } catch (const Bad& b) {
        return make_error(b.message);
    } catch (const json::exception& e) {
        return make_error(std::string("config: ") + e.what());
    }
    return ok_status();
}

Status load_config_file(const std::string& path, EdgeConfig& cfg) {
    std::ifstream in(path);
    if (!in) return make_error("config file " + path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    auto st = apply_config_json(ss.str(), cfg);
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
    if (cfg.max_header_bytes < 256) return make_error("max_header_bytes must be at least 256");
    if (cfg.max_field_bytes < 256) return make_error("max_field_bytes must be at least 256");
    if (cfg.send_buffer > (1u << 30)) return make_error("send_buffer must be at most 1 GiB");
    return ok_status();
}

}  // namespace anyedge::server
