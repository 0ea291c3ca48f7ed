#include "bgp-hooks/config/node_config.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"

namespace anyedge::hooks {

namespace {

using nlohmann::json;

bool parse_prefix(const std::string& p, bool v6) {
    auto slash = p.find('/');
    if (slash == std::string::npos) return false;
    std::string addr = p.substr(0, slash);
    std::string len = p.substr(slash + 1);
    if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    int l = std::stoi(len);
    unsigned char buf[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) return false;
    return l <= (v6 ? 128 : 32);
}

int address_family(const std::string& a) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, a.c_str(), buf) == 1) return 4;
    if (inet_pton(AF_INET6, a.c_str(), buf) == 1) return 6;
    return 0;
}

bool valid_bird_name(const std::string& n) {
    if (n.empty() || n.size() > 60 || !(std::isalpha(static_cast<unsigned char>(n[0]))))
        return false;
    for (char c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    }
    return true;
}

// "192.0.2.19:51821" or "[2001:db8::19]:51821".
bool valid_endpoint(const std::string& e) {
    const auto colon = e.rfind(':');
    if (colon == std::string::npos || colon + 1 == e.size()) return false;
    std::string host = e.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (address_family(host) != 6) return false;
    } else if (address_family(host) != 4) {
        return false;
    }
    const std::string port = e.substr(colon + 1);
    return port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
           std::stoi(port) > 0 && std::stoi(port) <= 65535;
}

// A WireGuard key: 32 bytes in base64, 44 characters ending in '='.
bool valid_wg_key(const std::string& k) {
    if (k.size() != 44 || k.back() != '=') return false;
    for (size_t i = 0; i + 1 < k.size(); ++i) {
        const char c = k[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    }
    return true;
}

// Paths end up inside BIRD config strings; forbid what would break out of the quotes.
void check_path(JsonObject& o, const std::string& key, const std::string& v) {
    if (v.find_first_of("\"\n\\") != std::string::npos) o.fail(key, "contains a quote or newline");
}

NodeConfig parse(const json& root) {
    NodeConfig c;
    JsonObject top(root, "");
    c.node = top.str("node");
    c.backend = top.str("backend", "bird");
    if (c.backend != "bird" && c.backend != "exabgp") top.fail("backend", "must be bird or exabgp");
    c.drain_file = top.str("drain_file", "");
    c.status_file = top.str("status_file", "");
    c.withdraw_on_exit = top.boolean("withdraw_on_exit", true);

    {
        JsonObject a(top.at("anycast"), "anycast");
        c.anycast_v4 = a.strings("ipv4");
        c.anycast_v6 = a.strings("ipv6");
        for (size_t i = 0; i < c.anycast_v4.size(); ++i) {
            if (!parse_prefix(c.anycast_v4[i], false)) {
                a.fail("ipv4[" + std::to_string(i) + "]", "not an IPv4 prefix: " + c.anycast_v4[i]);
            }
        }
        for (size_t i = 0; i < c.anycast_v6.size(); ++i) {
            if (!parse_prefix(c.anycast_v6[i], true)) {
                a.fail("ipv6[" + std::to_string(i) + "]", "not an IPv6 prefix: " + c.anycast_v6[i]);
            }
        }
        if (c.anycast_v4.empty() && c.anycast_v6.empty()) a.fail("", "needs ipv4 or ipv6 prefixes");
        a.finish();
    }

    if (top.has("bird")) {
        JsonObject b(top.at("bird"), "bird");
        auto& s = c.bird;
        s.socket = b.str("socket", s.socket);
        s.state_file = b.str("state_file", s.state_file);
        check_path(b, "state_file", s.state_file);
        s.log = b.str("log", s.log);
        check_path(b, "log", s.log);
        s.router_id = b.str("router_id", "");
        if (!s.router_id.empty() && address_family(s.router_id) != 4) {
            b.fail("router_id", "must be an IPv4 address");
        }
        s.local_as = static_cast<uint32_t>(b.integer("local_as", 0, 0, 4294967295LL));
        s.hold_time_s = static_cast<int>(b.integer("hold_time_s", 3, 3, 65535));
        s.keepalive_time_s = static_cast<int>(b.integer("keepalive_time_s", 1, 1, 65535));
        if (s.keepalive_time_s * 3 > s.hold_time_s) {
            b.fail("keepalive_time_s", "must be at most a third of hold_time_s");
        }
        s.bfd = b.boolean("bfd", true);
        s.bfd_interval_ms = static_cast<int>(b.integer("bfd_interval_ms", 100, 10, 10000));
        s.bfd_multiplier = static_cast<int>(b.integer("bfd_multiplier", 3, 1, 255));
        if (b.has("med")) s.med = static_cast<uint32_t>(b.integer("med", 0, 0, 4294967295LL));
        s.timeout_ms = static_cast<int>(b.integer("timeout_ms", 3000, 100, 60000));
        if (b.has("upstreams")) {
            const json& ups = b.at("upstreams");
            if (!ups.is_array()) b.fail("upstreams", "expected an array of objects");
            for (size_t i = 0; i < ups.size(); ++i) {
                JsonObject u(ups[i], "bird.upstreams[" + std::to_string(i) + "]");
                Upstream up;
                up.name = u.str("name");
                if (!valid_bird_name(up.name)) {
                    u.fail("name", "must be a letter then letters, digits or _");
                }
                up.neighbor = u.str("neighbor");
                int fam = address_family(up.neighbor);
                if (fam == 0) u.fail("neighbor", "not an IP address: " + up.neighbor);
                up.ipv6 = fam == 6;
                up.as = static_cast<uint32_t>(u.integer("as", std::nullopt, 1, 4294967295LL));
                up.source = u.str("source", "");
                if (!up.source.empty() && address_family(up.source) != fam) {
                    u.fail("source", "must be an address of the neighbor's family");
                }
                up.interface = u.str("interface", "");
                check_path(u, "interface", up.interface);
                u.finish();
                s.upstreams.push_back(std::move(up));
            }
        }
        b.finish();
    }

    if (top.has("forwarding")) {
        JsonObject f(top.at("forwarding"), "forwarding");
        auto& s = c.forwarding;
        s.enabled = f.boolean("enabled", true);
        s.interfaces = f.strings("interfaces");
        s.measure_cost = f.boolean("measure_cost", false);
        if (s.enabled && s.interfaces.empty())
            f.fail("interfaces", "needs the anycast-facing interfaces");
        auto valid_interface = [](const std::string& n) {
            return !n.empty() && n.size() < 16 && n.find_first_of("/ \n\"") == std::string::npos;
        };
        for (size_t i = 0; i < s.interfaces.size(); ++i) {
            if (!valid_interface(s.interfaces[i])) {
                f.fail("interfaces[" + std::to_string(i) + "]", "not an interface name");
            }
        }
        if (f.has("peers")) {
            const json& peers = f.at("peers");
            if (!peers.is_array()) f.fail("peers", "expected an array of objects");
            if (peers.size() > 64) f.fail("peers", "at most 64");
            for (size_t i = 0; i < peers.size(); ++i) {
                JsonObject p(peers[i], "forwarding.peers[" + std::to_string(i) + "]");
                ForwardPeer peer;
                peer.name = p.str("name");
                peer.interface = p.str("interface");
                if (!valid_interface(peer.interface)) p.fail("interface", "not an interface name");
                peer.endpoint = p.str("endpoint", "");
                if (!peer.endpoint.empty() && !valid_endpoint(peer.endpoint)) {
                    p.fail("endpoint", "expected ADDR:PORT or [ADDR]:PORT");
                }
                peer.public_key = p.str("public_key", "");
                if (!peer.public_key.empty() && !valid_wg_key(peer.public_key)) {
                    p.fail("public_key", "expected a WireGuard key (44 base64 characters)");
                }
                peer.listen_port = static_cast<uint16_t>(p.integer("listen_port", 0, 0, 65535));
                peer.address = p.str("address", "");
                if (!peer.address.empty() && address_family(peer.address) == 0) {
                    p.fail("address", "not an IP address");
                }
                p.finish();
                s.peers.push_back(std::move(peer));
            }
        }
        if (f.has("tunnel")) {
            JsonObject t(f.at("tunnel"), "forwarding.tunnel");
            s.tunnel.private_key_file = t.str("private_key_file");
            check_path(t, "private_key_file", s.tunnel.private_key_file);
            s.tunnel.address = t.str("address", "");
            if (!s.tunnel.address.empty() && address_family(s.tunnel.address) == 0) {
                t.fail("address", "not an IP address");
            }
            t.finish();
        }
        f.finish();
    }

    if (top.has("deprefer")) {
        JsonObject d(top.at("deprefer"), "deprefer");
        c.deprefer.prepend = static_cast<int>(d.integer("prepend", 2, 0, 10));
        c.deprefer.communities = d.strings("communities");
        for (size_t i = 0; i < c.deprefer.communities.size(); ++i) {
            if (!policy::valid_community(c.deprefer.communities[i])) {
                d.fail("communities[" + std::to_string(i) + "]",
                       "expected \"ASN:VALUE\" (16 bits each)");
            }
            if (c.deprefer.communities[i] == "65535:0") {
                d.fail("communities[" + std::to_string(i) + "]",
                       "65535:0 is GRACEFUL_SHUTDOWN, used for drains; pick another");
            }
        }
        if (c.deprefer.prepend == 0 && c.deprefer.communities.empty()) {
            d.fail("", "needs a prepend > 0 or at least one community");
        }
        d.finish();
    }

    {
        JsonObject e(top.at("edge"), "edge");
        c.edge.admin = e.str("admin");
        if (c.edge.admin.rfind("unix:", 0) != 0 && c.edge.admin.find(':') == std::string::npos) {
            e.fail("admin", "expected HOST:PORT or unix:PATH");
        }
        c.edge.token_file = e.str("token_file", "");
        c.edge.pid_file = e.str("pid_file", "");
        c.edge.pid = static_cast<int>(e.integer("pid", 0, 0, 1 << 22));
        e.finish();
    }

    if (top.has("checks")) {
        JsonObject k(top.at("checks"), "checks");
        c.interval_ms = static_cast<int>(k.integer("interval_ms", 200, 20, 60000));
        c.timeout_ms = static_cast<int>(k.integer("timeout_ms", 150, 10, 60000));
        if (k.has("canary")) {
            JsonObject n(k.at("canary"), "checks.canary");
            c.canary.enabled = true;
            c.canary.address = n.str("address");
            c.canary.host = n.str("host", "");
            c.canary.path = n.str("path", "/");
            if (c.canary.path.empty() || c.canary.path[0] != '/')
                n.fail("path", "must start with /");
            c.canary.expected_etag = n.str("expected_etag", "");
            c.canary.manifest_dir = n.str("manifest_dir", "");
            c.canary.tls = n.boolean("tls", false);
            c.canary.ca_file = n.str("ca_file", "");
            c.canary.server_name = n.str("server_name", "");
            if (!c.canary.tls && (!c.canary.ca_file.empty() || !c.canary.server_name.empty())) {
                n.fail(c.canary.ca_file.empty() ? "server_name" : "ca_file", "needs \"tls\": true");
            }
            if (c.canary.tls && c.canary.server_name.empty() && c.canary.host.empty()) {
                n.fail("server_name", "needed with tls (or set host)");
            }
            if (c.canary.expected_etag.empty() && c.canary.manifest_dir.empty()) {
                n.fail("", "needs expected_etag or manifest_dir");
            }
            n.finish();
        }
        if (k.has("freshness")) {
            JsonObject f(k.at("freshness"), "checks.freshness");
            c.freshness.grace_s = static_cast<int>(f.integer("grace_s", 600, 0, 86400 * 30));
            c.freshness.origin_current_url = f.str("origin_current_url", "");
            if (!c.freshness.origin_current_url.empty() &&
                c.freshness.origin_current_url.rfind("http://", 0) != 0) {
                f.fail("origin_current_url", "only http:// URLs are supported");
            }
            c.freshness.max_generation_age_s =
                static_cast<int>(f.integer("max_generation_age_s", 0, 0, 86400 * 365));
            c.freshness.origin_poll_ms =
                static_cast<int>(f.integer("origin_poll_ms", 5000, 100, 3600000));
            f.finish();
        }
        k.finish();
    }

    if (top.has("policy")) {
        JsonObject p(top.at("policy"), "policy");
        auto& q = c.policy;
        q.fail_threshold = static_cast<int>(p.integer("fail_threshold", 3, 1, 1000));
        q.success_threshold = static_cast<int>(p.integer("success_threshold", 5, 1, 1000));
        q.soft_fail_threshold = static_cast<int>(p.integer("soft_fail_threshold", 3, 1, 1000));
        q.soft_success_threshold =
            static_cast<int>(p.integer("soft_success_threshold", 5, 1, 1000));
        q.hold_down = policy::Millis(p.integer("hold_down_ms", 5000, 0, 86400000));
        q.max_hold_down = policy::Millis(p.integer("max_hold_down_ms", 300000, 0, 86400000));
        if (q.max_hold_down < q.hold_down) p.fail("max_hold_down_ms", "must be >= hold_down_ms");
        q.flap_window = policy::Millis(p.integer("flap_window_ms", 60000, 0, 86400000));
        q.drain_close_time = policy::Millis(p.integer("drain_close_ms", 1500, 0, 3600000));
        // The edge holds SYNs for at most 10 s (POST /hold-syn?ms=1..10000).
        q.drain_hold_time = policy::Millis(p.integer("drain_hold_ms", 900, 0, 10000));
        q.drain_hold_lead = policy::Millis(p.integer("drain_hold_lead_ms", 150, 0, 10000));
        if (q.drain_hold_time.count() > 0 && q.drain_hold_lead >= q.drain_hold_time) {
            p.fail("drain_hold_lead_ms",
                   "must be less than drain_hold_ms (the route must move while SYNs are held)");
        }
        q.drain_tag_time = policy::Millis(p.integer("drain_tag_ms", 5000, 0, 3600000));
        q.drain_timeout = policy::Millis(p.integer("drain_timeout_ms", 60000, 0, 86400000));
        p.finish();
    }
    top.finish();

    if (c.backend == "exabgp" && c.bird.local_as == 0) {
        throw JsonError("bird.local_as: required (the ExaBGP backend prepends it to de-prefer)");
    }
    return c;
}

}  // namespace

Result<NodeConfig> parse_node_config(const std::string& json_text) {
    try {
        // The exception's message carries the line and column of a syntax error.
        json root = json::parse(json_text);
        return parse(root);
    } catch (const JsonError& e) {
        return make_error(e.what());
    } catch (const json::parse_error& e) {
        return make_error(std::string("not valid JSON: ") + e.what());
    } catch (const std::exception& e) {
        return make_error(std::string("config: ") + e.what());
    }
}

Result<NodeConfig> load_node_config(const std::string& path) {
    auto text = read_file(path, 1 << 20);
    if (!text) return text.forward_error("cannot read config: ");
    auto r = parse_node_config(*text);
    if (!r) return make_error(path + ": " + r.error());
    return r;
}

}  // namespace anyedge::hooks
