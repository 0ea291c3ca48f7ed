#include "edge/server/admin_api.h"

#include <time.h>

#include <charconv>
#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "edge/server/bearer_token.h"
#include "origin-sync/base/json_object.h"

namespace anyedge::server {
using nlohmann::json;

namespace {

int64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// A Prometheus label value: backslash, double quote and newline escaped (exposition format).
std::string prometheus_label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

Result<uint32_t> parse_hold_syn_ms(std::string_view target) {
    const std::string want =
        "hold-syn needs ms=N, N milliseconds from 1 to " + std::to_string(kMaxSynHoldMs);
    const auto q = target.find('?');
    std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view param = query.substr(0, amp);
        query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        if (!param.starts_with("ms=")) continue;
        const std::string_view v = param.substr(3);
        uint32_t ms = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
        if (v.empty() || ec != std::errc() || end != v.data() + v.size() || ms < 1 ||
            ms > kMaxSynHoldMs) {
            return make_error(want + " (got ms=" + std::string(v.substr(0, 32)) + ")");
        }
        return ms;
    }
    return make_error(want);
}

AdminApi::AdminApi(AdminOptions options, SharedState& shared,
                   std::vector<const WorkerCounters*> workers)
    : options_(std::move(options)),
      shared_(shared),
      workers_(std::move(workers)),
      started_(time(nullptr)),
      syn_hold_(std::make_unique<SynHold>(options_.public_listeners)) {}

const char* AdminApi::health(const cache::Snapshot* live) const {
    if (shared_.stopping.load()) return "stopping";
    // A node serving a state directory is healthy only once it has a generation.
    if (!live || (!options_.state_dir.empty() && live->generation() == 0)) {
        return "no generation yet";
    }
    return nullptr;
}

AdminApi::Totals AdminApi::totals() const {
    Totals t;
    for (const WorkerCounters* w : workers_) {
        auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
        t.accepted += get(w->accepted);
        t.open += get(w->open_connections);
        t.requests += get(w->requests);
        t.s2xx += get(w->status_2xx);
        t.s3xx += get(w->status_3xx);
        t.s4xx += get(w->status_4xx);
        t.s5xx += get(w->status_5xx);
        t.bytes += get(w->body_bytes);
        t.in_flight += get(w->in_flight);
        t.quic_streams_open += get(w->quic_streams_open);
        t.tls_handshakes += get(w->tls_handshakes);
        t.tls_resumed += get(w->tls_resumed);
        t.requests_h2 += get(w->requests_h2);
        t.requests_h3 += get(w->requests_h3);
        t.h3_too_early += get(w->h3_too_early);
        t.quic_open += get(w->quic_open);
        t.quic_opened += get(w->quic_opened);
        t.quic_in += get(w->quic_datagrams_in);
        t.quic_out += get(w->quic_datagrams_out);
        t.quic_garbage += get(w->quic_dropped_garbage);
        t.quic_other_node += get(w->quic_dropped_other_node);
        t.quic_forwarded += get(w->quic_forwarded);
        t.quic_from_peers += get(w->quic_from_peers);
        t.quic_forward_refused += get(w->quic_forward_refused);
        for (size_t k = 0; k < t.quic_forwarded_to.size(); ++k) {
            t.quic_forwarded_to[k] += get(w->quic_forwarded_to[k]);
        }
        t.quic_unknown += get(w->quic_dropped_unknown);
        t.quic_resets += get(w->quic_stateless_resets);
        t.quic_vn += get(w->quic_version_negotiations);
        t.quic_retries += get(w->quic_retries);
        t.quic_invalid_tokens += get(w->quic_invalid_tokens);
        t.h3_header_timeouts += get(w->h3_header_timeouts);
        t.quic_resumed += get(w->quic_resumed);
        t.last_accept_ms = std::max(t.last_accept_ms, w->last_accept_ms.load());
    }
    return t;
}

std::string AdminApi::drain_state() const {
    if (!shared_.draining.load()) return "serving";
    const Totals t = totals();
    const int64_t now = monotonic_ms();
    const int64_t since = std::max(t.last_accept_ms, drain_started_ms_.load());
    // HTTP/3 requests count as in flight too: a download over QUIC keeps the node draining
    // (forwarded to it from the node the route moved to) until it ends. A TCP response the
    // edge has handed to the kernel is still on its way: its connection stays open until then.
    const bool lingered = now - drain_started_ms_.load() >= int64_t(options_.drain_linger_ms);
    if (t.in_flight == 0 && t.quic_streams_open == 0 && (t.open == 0 || lingered) &&
        now - since >= int64_t(options_.drain_quiet_ms)) {
        return "drained";
    }
    return "draining";
}

std::string AdminApi::status_json() const {
    const PublishedSite site = shared_.site();
    const Totals t = totals();
    const int64_t now_ms = monotonic_ms();
    json j;
    j["node"] = options_.node_name;
    j["generation"] = site.live ? site.live->generation() : 0;
    j["generation_age_s"] = site.published_at ? time(nullptr) - site.published_at : 0;
    j["files"] = site.live ? site.live->file_count() : 0;
    j["previous_generation"] = site.previous ? json(site.previous->generation()) : json(nullptr);
    j["healthy"] = health(site.live.get()) == nullptr;
    j["uptime_s"] = time(nullptr) - started_;
    j["open_connections"] = t.open;
    const SynHold::Stats hold = syn_hold_->stats();
    j["drain"] = {
        {"state", drain_state()},
        {"in_flight", t.in_flight},
        {"quic_requests_open", t.quic_streams_open},
        {"open_connections", t.open},
        {"last_accept_age_ms", t.last_accept_ms ? now_ms - t.last_accept_ms : -1},
        {"syn_hold", hold.held},
        {"syn_hold_left_ms", hold.left_ms},
        {"syn_holds", hold.holds},
        {"syns_dropped", hold.syns_dropped},
    };
    j["counters"] = {
        {"accepted", t.accepted},
        {"requests", t.requests},
        {"status_2xx", t.s2xx},
        {"status_3xx", t.s3xx},
        {"status_4xx", t.s4xx},
        {"status_5xx", t.s5xx},
        {"body_bytes", t.bytes},
        {"tls_handshakes", t.tls_handshakes},
        {"tls_resumed", t.tls_resumed},
        {"requests_h2", t.requests_h2},
        {"requests_h3", t.requests_h3},
        {"quic_connections_open", t.quic_open},
        {"quic_connections", t.quic_opened},
        {"reloads", reloads_.load()},
        {"reload_failures", reload_failures_.load()},
    };
    if (!last_reload_error_.empty()) j["last_reload_error"] = last_reload_error_;
    if (options_.tls != nullptr) {
        json certs = json::array();
        for (const tls::CertificateInfo& c : options_.tls->certificate_info()) {
            certs.push_back({{"file", c.file},
                             {"names", c.names},
                             {"key_type", c.key_type},
                             {"not_after", c.not_after},
                             {"expires_in_s", c.not_after - time(nullptr)}});
        }
        const tls::CertificateReloads r = options_.tls->certificate_reloads();
        j["tls"] = {{"certificates", std::move(certs)},
                    {"handshake_failures", options_.tls->counters().handshake_failures},
                    {"certificate_reloads", r.reloads},
                    {"certificate_reload_failures", r.failures}};
        if (!r.last_error.empty()) j["tls"]["last_certificate_error"] = r.last_error;
    }
    if (!options_.state_dir.empty()) {
        // cdn-sync's own report (last error, staged generation, staleness), passed through.
        std::ifstream in(options_.state_dir + "/sync-status.json");
        if (in) {
            json sync = json::parse(in, nullptr, false);
            if (!sync.is_discarded()) j["sync"] = std::move(sync);
        }
    }
    if (!options_.hooks_status.empty()) {
        // Stray forwarding as cdn-hooks runs it: `cdnctl status` shows a node whose forwarder
        // is down (it still serves).
        std::ifstream in(options_.hooks_status);
        json hooks = in ? json::parse(in, nullptr, false) : json();
        j["forwarding"] = hooks.is_object() && hooks.contains("forwarding")
                              ? hooks["forwarding"]
                              : json{{"state", "unknown"},
                                     {"detail", "no cdn-hooks status in " + options_.hooks_status}};
    }
    return j.dump();
}

void AdminApi::append_forwarding_metrics(std::string& out) const {
    if (options_.hooks_status.empty()) return;
    std::ifstream in(options_.hooks_status);
    const json hooks = in ? json::parse(in, nullptr, false) : json();
    if (!hooks.is_object() || !hooks.contains("forwarding") || !hooks["forwarding"].is_object()) {
        return;
    }
    const json& f = hooks["forwarding"];
    auto number = [](const json& o, const char* key) {
        return o.contains(key) && o[key].is_number_unsigned() ? o[key].get<uint64_t>() : 0;
    };
    out.append(
        "# HELP anyedge_forward_active 1 while stray forwarding runs (cdn-hooks' tc "
        "program; degraded counts), 0 when it is off or failed.\n");
    out.append("# TYPE anyedge_forward_active gauge\n");
    const std::string state = f.value("state", "");
    out.append("anyedge_forward_active ")
        .append(state == "active" || state == "degraded" ? "1" : "0")
        .append("\n");
    if (!f.contains("peers") || !f["peers"].is_array()) return;
    out.append(
        "# HELP anyedge_forward_packets_total TCP segments of other nodes' connections "
        "sent to each peer's tunnel.\n");
    out.append("# TYPE anyedge_forward_packets_total counter\n");
    for (const json& p : f["peers"]) {
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) continue;
        out.append("anyedge_forward_packets_total{peer=\"")
            .append(p["name"].get<std::string>())
            .append("\"} ")
            .append(std::to_string(number(p, "forwarded_packets")))
            .append("\n");
    }
    out.append(
        "# HELP anyedge_forward_received_total Segments each peer forwarded here, by "
        "verdict: delivered (a connection here owned them) or dropped (not ours).\n");
    out.append("# TYPE anyedge_forward_received_total counter\n");
    for (const json& p : f["peers"]) {
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) continue;
        for (auto [verdict, key] : {std::pair{"delivered", "received_delivered"},
                                    std::pair{"dropped", "received_dropped"}}) {
            out.append("anyedge_forward_received_total{peer=\"")
                .append(p["name"].get<std::string>())
                .append("\",verdict=\"")
                .append(verdict)
                .append("\"} ")
                .append(std::to_string(number(p, key)))
                .append("\n");
        }
    }
    out.append(
        "# HELP anyedge_forward_tunnel_dropped_total Segments peers forwarded here that "
        "no connection here owns (dropped: the hop budget is one).\n");
    out.append("# TYPE anyedge_forward_tunnel_dropped_total counter\n");
    out.append("anyedge_forward_tunnel_dropped_total ")
        .append(std::to_string(number(f, "tunnel_dropped")))
        .append("\n");
    out.append(
        "# HELP anyedge_forward_tunnel_delivered_total Segments peers forwarded here and "
        "delivered to a connection here.\n");
    out.append("# TYPE anyedge_forward_tunnel_delivered_total counter\n");
    out.append("anyedge_forward_tunnel_delivered_total ")
        .append(std::to_string(number(f, "tunnel_delivered")))
        .append("\n");
}

void AdminApi::append_certificate_sync_metrics(std::string& out) const {
    if (options_.state_dir.empty()) return;
    std::ifstream in(options_.state_dir + "/sync-status.json");
    const json sync = in ? json::parse(in, nullptr, false) : json();
    if (!sync.is_object() || !sync.contains("certificate") || !sync["certificate"].is_object()) {
        return;
    }
    const json& c = sync["certificate"];
    auto gauge = [&](const char* name, const char* help, int64_t v) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" gauge\n");
        out.append(name).append(" ").append(std::to_string(v)).append("\n");
    };
    gauge("anyedge_certificate_install_failing",
          "1 when cdn-sync could not install the fleet certificate (see /status).",
          json_string_or(c, "state") == "error" ? 1 : 0);
    gauge("anyedge_certificate_installed_not_after_seconds",
          "Expiry of the fleet certificate cdn-sync installed (Unix time).",
          json_int_or(c, "not_after"));
    if (c.contains("issuer") && c["issuer"].is_object()) {
        const json& i = c["issuer"];
        gauge("anyedge_acme_issuer_failing",
              "1 when the fleet's last issuance attempt failed (the error is in /status).",
              json_string_or(i, "state") == "error" ? 1 : 0);
        gauge("anyedge_acme_issuer_last_success_seconds",
              "When the fleet's issuer last obtained a certificate (Unix time).",
              json_int_or(i, "last_success"));
    }
}

std::string AdminApi::metrics_text() const {
    const PublishedSite site = shared_.site();
    const Totals t = totals();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, uint64_t v,
                      const std::string& labels = "") {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
        out.append(name).append(labels).append(" ").append(std::to_string(v)).append("\n");
    };
    metric("anyedge_generation", "gauge", "Live site generation.",
           site.live ? site.live->generation() : 0);
    metric("anyedge_open_connections", "gauge", "Open client connections.", t.open);
    metric("anyedge_connections_accepted_total", "counter", "Accepted connections.", t.accepted);
    out.append("# HELP anyedge_requests_total Requests answered, by status class.\n");
    out.append("# TYPE anyedge_requests_total counter\n");
    for (auto [cls, v] : {std::pair{"2xx", t.s2xx}, std::pair{"3xx", t.s3xx},
                          std::pair{"4xx", t.s4xx}, std::pair{"5xx", t.s5xx}}) {
        out.append("anyedge_requests_total{status=\"").append(cls).append("\"} ");
        out.append(std::to_string(v)).append("\n");
    }
    out.append("# HELP anyedge_protocol_requests_total Requests answered, by HTTP version.\n");
    out.append("# TYPE anyedge_protocol_requests_total counter\n");
    for (auto [version, v] : {std::pair{"1.1", t.requests - t.requests_h2 - t.requests_h3},
                              std::pair{"2", t.requests_h2}, std::pair{"3", t.requests_h3}}) {
        out.append("anyedge_protocol_requests_total{version=\"").append(version).append("\"} ");
        out.append(std::to_string(v)).append("\n");
    }
    metric("anyedge_body_bytes_total", "counter", "Response body bytes queued.", t.bytes);
    metric("anyedge_quic_connections_open", "gauge", "Open QUIC (HTTP/3) connections.",
           t.quic_open);
    metric("anyedge_quic_connections_total", "counter", "QUIC connections opened.", t.quic_opened);
    metric("anyedge_quic_datagrams_received_total", "counter", "UDP datagrams received.",
           t.quic_in);
    metric("anyedge_quic_datagrams_sent_total", "counter", "UDP datagrams sent.", t.quic_out);
    out.append("# HELP anyedge_quic_dropped_total Datagrams dropped, by reason.\n");
    out.append("# TYPE anyedge_quic_dropped_total counter\n");
    for (auto [reason, v] :
         {std::pair{"garbage", t.quic_garbage}, std::pair{"other_node", t.quic_other_node},
          std::pair{"unknown_connection", t.quic_unknown}}) {
        out.append("anyedge_quic_dropped_total{reason=\"").append(reason).append("\"} ");
        out.append(std::to_string(v)).append("\n");
    }
    metric("anyedge_quic_forwarded_total", "counter",
           "Packets of other nodes' connections sent to their node (the route moved).",
           t.quic_forwarded);
    if (!options_.quic_peers.empty()) {
        out.append("# HELP anyedge_quic_forwarded_to_total Packets forwarded, by peer node ID.\n");
        out.append("# TYPE anyedge_quic_forwarded_to_total counter\n");
        for (size_t k = 0; k < options_.quic_peers.size() && k < t.quic_forwarded_to.size(); ++k) {
            out.append("anyedge_quic_forwarded_to_total{peer=\"")
                .append(std::to_string(options_.quic_peers[k]))
                .append("\"} ")
                .append(std::to_string(t.quic_forwarded_to[k]))
                .append("\n");
        }
    }
    metric("anyedge_quic_forward_received_total", "counter",
           "Packets of this node's connections that peers forwarded here.", t.quic_from_peers);
    metric("anyedge_quic_forward_refused_total", "counter",
           "Forwarded packets refused: not from a peer's address, malformed, or for no listener.",
           t.quic_forward_refused);
    metric("anyedge_quic_stateless_resets_total", "counter",
           "Stateless resets sent (only for this node's connection IDs).", t.quic_resets);
    metric("anyedge_quic_version_negotiations_total", "counter",
           "Version Negotiation packets sent.", t.quic_vn);
    metric("anyedge_quic_retries_total", "counter",
           "Retry sent: new handshakes came faster than quic_retry_above_per_s.", t.quic_retries);
    metric("anyedge_quic_resumed_total", "counter",
           "HTTP/3 handshakes resumed from a session ticket (any node's, by the fleet's keys).",
           t.quic_resumed);
    metric("anyedge_quic_invalid_tokens_total", "counter",
           "Initials with a forged, expired or misaddressed Retry token.", t.quic_invalid_tokens);
    metric("anyedge_h3_header_timeouts_total", "counter",
           "HTTP/3 requests refused: the header section was not complete within "
           "header_timeout_ms.",
           t.h3_header_timeouts);
    metric("anyedge_h3_too_early_total", "counter",
           "425 Too Early: a non-idempotent request in 0-RTT data.", t.h3_too_early);
    metric("anyedge_tls_handshakes_total", "counter", "Completed TLS handshakes.",
           t.tls_handshakes);
    metric("anyedge_tls_resumed_total", "counter", "TLS handshakes resumed from a ticket.",
           t.tls_resumed);
    metric("anyedge_draining", "gauge", "1 while draining.", shared_.draining.load() ? 1 : 0);
    const SynHold::Stats hold = syn_hold_->stats();
    metric("anyedge_syn_hold", "gauge", "1 while new connection attempts (SYNs) are dropped.",
           hold.held ? 1 : 0);
    metric("anyedge_syn_holds_total", "counter", "SYN holds started (POST /hold-syn).", hold.holds);
    metric("anyedge_syn_hold_dropped_total", "counter",
           "Packets the public listeners dropped during SYN holds.", hold.syns_dropped);
    metric("anyedge_reloads_total", "counter", "Successful reloads.", reloads_.load());
    metric("anyedge_reload_failures_total", "counter", "Failed reloads.", reload_failures_.load());
    if (options_.tls != nullptr) {
        metric("anyedge_tls_handshake_failures_total", "counter",
               "TLS handshakes that failed (protocol or cipher mismatch, bad records, truncation).",
               options_.tls->counters().handshake_failures);
        const tls::CertificateReloads r = options_.tls->certificate_reloads();
        metric("anyedge_tls_certificate_reloads_total", "counter",
               "Certificate reloads that took effect.", r.reloads);
        metric("anyedge_tls_certificate_reload_failures_total", "counter",
               "Certificate reloads refused (the previous certificates kept serving).", r.failures);
        out.append(
            "# HELP anyedge_tls_certificate_not_after_seconds Expiry of each served "
            "certificate (Unix time).\n");
        out.append("# TYPE anyedge_tls_certificate_not_after_seconds gauge\n");
        for (const tls::CertificateInfo& c : options_.tls->certificate_info()) {
            out.append("anyedge_tls_certificate_not_after_seconds{file=\"")
                .append(prometheus_label(c.file))
                .append("\"} ")
                .append(std::to_string(c.not_after))
                .append("\n");
        }
        // The alert: the issuer renews at 2/3 of a certificate's lifetime, so one still served
        // past 3/4 of it means renewals are failing, with a quarter of the lifetime left.
        out.append(
            "# HELP anyedge_tls_certificate_renewal_overdue 1 when a served certificate is past "
            "3/4 of its lifetime (renewal should have happened at 2/3).\n");
        out.append("# TYPE anyedge_tls_certificate_renewal_overdue gauge\n");
        const std::int64_t now = time(nullptr);
        for (const tls::CertificateInfo& c : options_.tls->certificate_info()) {
            const bool overdue = c.not_after > c.not_before &&
                                 now >= c.not_before + (c.not_after - c.not_before) * 3 / 4;
            out.append("anyedge_tls_certificate_renewal_overdue{file=\"")
                .append(prometheus_label(c.file))
                .append("\"} ")
                .append(overdue ? "1" : "0")
                .append("\n");
        }
    }
    append_certificate_sync_metrics(out);
    append_forwarding_metrics(out);
    return out;
}

ResponseInfo AdminApi::handle(const http::Request& req, const cache::Snapshot&,
                              const ResponseContext& ctx, ResponseSink& out) {
    const std::string_view path = path_of(req.target);
    const bool get = req.method == http::Method::kGet || req.method == http::Method::kHead;
    const bool post = req.method_name == "POST";
    constexpr std::string_view kJson = "application/json";
    auto reply = [&](int status, const json& body) {
        return respond_with(status, kJson, body.dump() + "\n", {}, req, ctx, out);
    };

    if (path == "/healthz" || path == "/status" || path == "/metrics") {
        if (!get) return respond_with(405, kJson, "{}\n", "Allow: GET, HEAD\r\n", req, ctx, out);
        if (path == "/status")
            return respond_with(200, kJson, status_json() + "\n", {}, req, ctx, out);
        if (path == "/metrics") {
            return respond_with(200, "text/plain; version=0.0.4", metrics_text(), {}, req, ctx,
                                out);
        }
        const auto live = shared_.current();
        const char* problem = health(live.get());
        return reply(problem ? 503 : 200, json{{"status", problem ? problem : "ok"},
                                               {"generation", live ? live->generation() : 0},
                                               {"node", options_.node_name},
                                               {"drain", drain_state()}});
    }
    if (path != "/reload" && path != "/drain" && path != "/undrain" && path != "/hold-syn") {
        return reply(404, json{{"error", "no such endpoint"}});
    }
    if (!post) return respond_with(405, kJson, "{}\n", "Allow: POST\r\n", req, ctx, out);
    if (!options_.token.empty() && !bearer_token_matches(req.authorization, options_.token)) {
        return respond_with(401, kJson, "{\"error\":\"bad or missing bearer token\"}\n",
                            "WWW-Authenticate: Bearer\r\n", req, ctx, out);
    }
    if (path == "/drain") {
        if (!shared_.draining.exchange(true)) drain_started_ms_ = monotonic_ms();
        return reply(200, json{{"drain", drain_state()}});
    }
    if (path == "/undrain") {
        shared_.draining = false;
        syn_hold_->release();
        return reply(200, json{{"drain", drain_state()}});
    }
    if (path == "/hold-syn") {
        auto ms = parse_hold_syn_ms(req.target);
        if (!ms) return reply(400, json{{"error", ms.error()}});
        if (auto st = syn_hold_->hold(std::chrono::milliseconds(*ms)); !st) {
            return reply(500, json{{"error", "hold-syn: " + st.error()}});
        }
        const SynHold::Stats hold = syn_hold_->stats();
        return reply(200, json{{"syn_hold", hold.held},
                               {"ms", *ms},
                               {"listeners", hold.listeners},
                               {"syn_holds", hold.holds}});
    }
    if (!options_.reload) return reply(501, json{{"error", "reload not configured"}});
    auto r = options_.reload();
    if (!r) {
        ++reload_failures_;
        last_reload_error_ = r.error();
        return reply(500, json{{"error", r.error()}});
    }
    ++reloads_;
    last_reload_error_.clear();
    return reply(200, json{{"generation", *r}});
}

}  // namespace anyedge::server
