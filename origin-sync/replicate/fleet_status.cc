#include "origin-sync/replicate/fleet_status.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "origin-sync/base/json_object.h"

namespace anyedge::replicate {

NodeStatus parse_node_status(const std::string& admin_url, const Result<net::HttpResponse>& r) {
    NodeStatus s;
    s.admin_url = admin_url;
    if (!r) {
        s.error = r.error();
        return s;
    }
    if (r->status != 200) {
        s.error = "GET /status answered " + std::to_string(r->status);
        return s;
    }
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        s.error = "GET /status: not a JSON object";
        return s;
    }
    s.reachable = true;
    if (j.contains("node") && j["node"].is_string()) s.node = j["node"].get<std::string>();
    if (j.contains("generation") && j["generation"].is_number_unsigned()) {
        s.generation = j["generation"].get<uint64_t>();
    }
    if (j.contains("generation_age_s") && j["generation_age_s"].is_number()) {
        s.generation_age_s = j["generation_age_s"].get<double>();
    }
    if (j.contains("healthy") && j["healthy"].is_boolean()) s.healthy = j["healthy"].get<bool>();
    if (j.contains("drain") && j["drain"].is_object() && j["drain"].contains("state") &&
        j["drain"]["state"].is_string()) {
        s.drain_state = j["drain"]["state"].get<std::string>();
    }
    if (j.contains("last_reload_error") && j["last_reload_error"].is_string()) {
        s.reload_error = j["last_reload_error"].get<std::string>();
    }
    if (j.contains("sync") && j["sync"].is_object()) {
        const auto& sync = j["sync"];
        s.has_sync = true;
        if (sync.contains("state") && sync["state"].is_string()) {
            s.sync_state = sync["state"].get<std::string>();
        }
        if (sync.contains("last_error") && sync["last_error"].is_string()) {
            s.sync_error = sync["last_error"].get<std::string>();
        }
        if (sync.contains("staged_generation") && sync["staged_generation"].is_number_unsigned()) {
            s.staged_generation = sync["staged_generation"].get<uint64_t>();
        }
        if (sync.contains("stale") && sync["stale"].is_boolean()) {
            s.stale = sync["stale"].get<bool>();
        }
        if (s.sync_state.empty()) s.sync_state = s.sync_error.empty() ? "ok" : "error";
        if (sync.contains("certificate") && sync["certificate"].is_object()) {
            const auto& c = sync["certificate"];
            s.cert_error = json_string_or(c, "error");
            if (c.contains("issuer") && c["issuer"].is_object()) {
                s.issuer_error = json_string_or(c["issuer"], "error");
            }
        }
    }
    if (j.contains("forwarding") && j["forwarding"].is_object()) {
        s.forwarding_state = json_string_or(j["forwarding"], "state");
        s.forwarding_detail = json_string_or(j["forwarding"], "detail");
    }
    if (j.contains("tls") && j["tls"].is_object() && j["tls"].contains("certificates") &&
        j["tls"]["certificates"].is_array()) {
        for (const auto& c : j["tls"]["certificates"]) {
            const int64_t t = json_int_or(c, "not_after");
            if (t > 0 && (s.cert_not_after == 0 || t < s.cert_not_after)) s.cert_not_after = t;
        }
    }
    return s;
}

NodeStatus fetch_node_status(const std::string& admin_url, std::chrono::milliseconds timeout) {
    auto url = net::parse_url(admin_url);
    if (!url) return parse_node_status(admin_url, url.forward_error());
    url->path = "/";  // the admin API lives at the root
    net::HttpClient client(*url, "", timeout);
    return parse_node_status(admin_url, client.request("GET", "status"));
}

std::vector<NodeStatus> fetch_fleet_status(const std::vector<std::string>& admin_urls,
                                           std::chrono::milliseconds timeout) {
    // One thread per node: an unreachable node costs one timeout, not one per node.
    std::vector<NodeStatus> out(admin_urls.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < admin_urls.size(); ++i) {
        threads.emplace_back([&, i] { out[i] = fetch_node_status(admin_urls[i], timeout); });
    }
    for (auto& t : threads) t.join();
    return out;
}

bool forwarding_failing(const NodeStatus& n) {
    return n.forwarding_state == "failed" || n.forwarding_state == "degraded" ||
           n.forwarding_state == "unknown";
}

std::string format_status_table(const std::vector<NodeStatus>& nodes) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-16s %-28s %10s %8s %-9s %-8s %-6s %-10s %-9s %s\n", "NODE",
                  "ADMIN", "GENERATION", "AGE", "HEALTH", "DRAIN", "SYNC", "CERT", "FORWARD",
                  "ERROR");
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    out += line;
    for (const auto& n : nodes) {
        std::string gen = n.reachable ? std::to_string(n.generation) : "-";
        char age[32] = "-";
        if (n.reachable && n.generation_age_s >= 0) {
            std::snprintf(age, sizeof age, "%.0fs", n.generation_age_s);
        }
        const char* health = !n.reachable ? "DOWN" : n.healthy ? "healthy" : "UNHEALTHY";
        std::string err = n.error;
        if (err.empty() && !n.sync_error.empty()) err = "sync: " + n.sync_error;
        if (!n.reload_error.empty()) {
            err += (err.empty() ? "" : "; ") + std::string("reload: ") + n.reload_error;
        }
        if (!n.cert_error.empty())
            err += std::string(err.empty() ? "" : "; ") + "certificate: " + n.cert_error;
        if (!n.issuer_error.empty())
            err += std::string(err.empty() ? "" : "; ") + "issuer: " + n.issuer_error;
        // A forwarder that is down is worth saying: the node serves, but connections open
        // when its route moves will be reset.
        if (forwarding_failing(n) && !n.forwarding_detail.empty()) {
            err += std::string(err.empty() ? "" : "; ") + "forwarding: " + n.forwarding_detail;
        }
        std::string forward = n.forwarding_state.empty() ? "-" : n.forwarding_state;
        if (forwarding_failing(n)) {
            for (char& ch : forward) ch = char(std::toupper(static_cast<unsigned char>(ch)));
        }
        std::string sync = !n.has_sync ? "-" : n.stale ? "STALE" : n.sync_state;
        std::string drain = n.drain_state.empty() ? "-" : n.drain_state;
        // Time left on the certificate: "89d", "5h", "40s", "EXPIRED".
        char cert[32] = "-";
        if (n.cert_not_after > 0) {
            const int64_t left = n.cert_not_after - now;
            if (left <= 0) {
                std::snprintf(cert, sizeof cert, "EXPIRED");
            } else if (left >= 2 * 86400) {
                std::snprintf(cert, sizeof cert, "%lldd", static_cast<long long>(left / 86400));
            } else if (left >= 2 * 3600) {
                std::snprintf(cert, sizeof cert, "%lldh", static_cast<long long>(left / 3600));
            } else {
                std::snprintf(cert, sizeof cert, "%llds", static_cast<long long>(left));
            }
        }
        std::snprintf(line, sizeof line, "%-16s %-28s %10s %8s %-9s %-8s %-6s %-10s %-9s ",
                      n.node.empty() ? "?" : n.node.c_str(), n.admin_url.c_str(), gen.c_str(), age,
                      health, drain.c_str(), sync.c_str(), cert, forward.c_str());
        out += line;
        out += err + "\n";  // unbounded: an error message is never cut
    }
    return out;
}

WaitOutcome wait_for_generation(const std::vector<std::string>& admin_urls, uint64_t generation,
                                std::chrono::milliseconds timeout,
                                std::chrono::milliseconds poll_interval,
                                const std::function<void(size_t, size_t)>& on_progress) {
    return wait_for_nodes(
        admin_urls,
        [generation](const NodeStatus& n) { return n.reachable && n.generation >= generation; },
        timeout, poll_interval, on_progress);
}

WaitOutcome wait_for_nodes(const std::vector<std::string>& admin_urls,
                           const std::function<bool(const NodeStatus&)>& done,
                           std::chrono::milliseconds timeout,
                           std::chrono::milliseconds poll_interval,
                           const std::function<void(size_t, size_t)>& on_progress) {
    auto start = std::chrono::steady_clock::now();
    WaitOutcome w;
    while (true) {
        auto fleet =
            fetch_fleet_status(admin_urls, std::min(timeout, std::chrono::milliseconds(2000)));
        w.laggards.clear();
        for (const auto& n : fleet) {
            if (!done(n)) w.laggards.push_back(n.admin_url);
        }
        size_t live = fleet.size() - w.laggards.size();
        if (on_progress) on_progress(live, fleet.size());
        w.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        if (w.laggards.empty()) {
            w.converged = true;
            return w;
        }
        if (w.elapsed >= timeout) return w;
        std::this_thread::sleep_for(poll_interval);
    }
}

}  // namespace anyedge::replicate
