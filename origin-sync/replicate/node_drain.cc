#include "origin-sync/replicate/node_drain.h"

#include <thread>

#include <nlohmann/json.hpp>

#include "origin-sync/base/file_io.h"
#include "origin-sync/content/store.h"

namespace anyedge::replicate {

namespace {

using Clock = std::chrono::steady_clock;

Result<net::HttpClient*> admin_client(const DrainOptions& o,
                                      std::unique_ptr<net::HttpClient>* holder) {
    auto url = net::parse_url(o.admin_url);
    if (!url) return Error{"--node: " + url.error()};
    url->path = "/";  // the admin API lives at the root
    *holder = std::make_unique<net::HttpClient>(*url, "", o.request_timeout);
    return holder->get();
}

Result<std::map<std::string, std::string>> auth_headers(const DrainOptions& o) {
    std::map<std::string, std::string> h;
    if (o.token_file.empty()) return h;
    auto token = read_token_file(o.token_file);
    if (!token) return token.forward_error();
    h["Authorization"] = "Bearer " + *token;
    return h;
}

// POSTs `path` and returns the "drain" field of the answer.
Result<std::string> post_drain(const DrainOptions& o, net::HttpClient& client,
                               const std::string& path) {
    auto h = auth_headers(o);
    if (!h) return h.forward_error();
    auto r = client.request("POST", path, *h);
    if (!r) return Error{"POST /" + path + ": " + r.error()};
    if (r->status == 401) {
        return make_error("POST /" + path + " refused (401): wrong or missing --token-file");
    }
    if (r->status != 200) {
        return make_error("POST /" + path + " answered " + std::to_string(r->status) + " " +
                          r->body);
    }
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("drain") || !j["drain"].is_string()) {
        return make_error("POST /" + path + ": unexpected answer " + r->body);
    }
    return j["drain"].get<std::string>();
}

}  // namespace

Result<DrainStatus> parse_drain_status(const Result<net::HttpResponse>& r) {
    if (!r) return Error{"GET /status: " + r.error()};
    if (r->status != 200) return make_error("GET /status answered " + std::to_string(r->status));
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("GET /status: not a JSON object");
    if (!j.contains("drain") || !j["drain"].is_object()) {
        return make_error("GET /status has no drain state: is this edge too old to drain?");
    }
    const auto& d = j["drain"];
    DrainStatus s;
    if (!d.contains("state") || !d["state"].is_string()) {
        return make_error("GET /status: drain.state missing");
    }
    s.state = d["state"].get<std::string>();
    if (d.contains("in_flight") && d["in_flight"].is_number_unsigned()) {
        s.in_flight = d["in_flight"].get<uint64_t>();
    }
    if (d.contains("open_connections") && d["open_connections"].is_number_unsigned()) {
        s.open_connections = d["open_connections"].get<uint64_t>();
    } else if (j.contains("open_connections") && j["open_connections"].is_number_unsigned()) {
        s.open_connections = j["open_connections"].get<uint64_t>();
    }
    if (d.contains("last_accept_age_ms") && d["last_accept_age_ms"].is_number_integer()) {
        s.last_accept_age_ms = d["last_accept_age_ms"].get<int64_t>();
    }
    return s;
}

std::string drain_blocker(const DrainStatus& s) {
    if (s.state == "drained") return "";
    if (s.state == "serving") return "the edge is not draining (undrained by someone else?)";
    std::string why;
    if (s.in_flight > 0) {
        why = std::to_string(s.in_flight) + " request" + (s.in_flight == 1 ? "" : "s") +
              " still in flight";
    }
    if (s.last_accept_age_ms >= 0) {
        if (!why.empty()) why += "; ";
        why += "new connections still arriving (last one " + std::to_string(s.last_accept_age_ms) +
               " ms ago)";
    }
    if (why.empty()) why = "waiting for the quiet period";
    if (s.open_connections > 0) {
        why += "; " + std::to_string(s.open_connections) + " connection" +
               (s.open_connections == 1 ? "" : "s") + " open";
    }
    return why;
}

Result<DrainOutcome> drain_node(const DrainOptions& o,
                                const std::function<void(const DrainStatus&)>& on_progress) {
    std::unique_ptr<net::HttpClient> holder;
    auto client = admin_client(o, &holder);
    if (!client) return client.forward_error();
    auto started = post_drain(o, **client, "drain");
    if (!started) return started.forward_error();

    const auto start = Clock::now();
    DrainOutcome out;
    while (true) {
        auto s = parse_drain_status((*client)->request("GET", "status"));
        out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        if (!s) return s.forward_error();
        out.last = *s;
        if (on_progress) on_progress(*s);
        if (s->state == "drained") {
            out.drained = true;
            return out;
        }
        if (s->state == "serving") {
            out.why_not = drain_blocker(*s);
            return out;
        }
        if (out.elapsed >= o.timeout) {
            out.why_not = drain_blocker(*s);
            return out;
        }
        std::this_thread::sleep_for(o.poll_interval);
    }
}

Result<std::string> undrain_node(const DrainOptions& o) {
    std::unique_ptr<net::HttpClient> holder;
    auto client = admin_client(o, &holder);
    if (!client) return client.forward_error();
    return post_drain(o, **client, "undrain");
}

}  // namespace anyedge::replicate
