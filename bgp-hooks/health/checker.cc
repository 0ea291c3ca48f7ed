#include "bgp-hooks/health/checker.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "origin-sync/base/file_io.h"
#include "origin-sync/content/manifest.h"
#include "origin-sync/content/site_rules.h"
#include "origin-sync/content/store.h"

namespace anyedge::health {

namespace {

namespace fs = std::filesystem;

using nlohmann::json;
using policy::Clock;

std::string seconds(Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

}  // namespace

Result<EdgeStatus> parse_edge_status(std::string_view text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error("/status is not a JSON object");
    EdgeStatus s;
    s.ok = true;
    if (auto it = j.find("generation"); it != j.end() && it->is_number_unsigned()) {
        s.generation = it->get<uint64_t>();
    }
    if (auto it = j.find("generation_age_s"); it != j.end() && it->is_number()) {
        s.generation_age_s = it->get<double>();
    }
    if (auto it = j.find("drain"); it != j.end() && it->is_object()) {
        std::string state = it->value("state", "");
        if (state == "serving") {
            s.drain = policy::EdgeDrain::serving;
        } else if (state == "draining") {
            s.drain = policy::EdgeDrain::draining;
        } else if (state == "drained") {
            s.drain = policy::EdgeDrain::drained;
        } else {
            return make_error("/status drain.state is '" + state + "'");
        }
        for (const char* k : {"in_flight", "open_connections", "last_accept_age_ms"}) {
            // open_connections sits at the top level of /status, the others under "drain".
            const json* v = nullptr;
            if (it->contains(k)) {
                v = &(*it)[k];
            } else if (j.contains(k)) {
                v = &j[k];
            }
            if (v && v->is_number()) {
                if (!s.drain_detail.empty()) s.drain_detail += " ";
                s.drain_detail += std::string(k) + "=" + v->dump();
            }
        }
    } else {
        s.drain = policy::EdgeDrain::serving;
    }
    return s;
}

Checker::Checker(const hooks::NodeConfig& c) : c_(c), timeout_(c.timeout_ms) {
    if (auto ep = net::parse_endpoint(c.edge.admin)) {
        admin_ = *ep;
    } else {
        admin_error_ = "edge.admin: " + ep.error();
    }
    if (c.canary.enabled) {
        if (auto ep = net::parse_endpoint(c.canary.address)) {
            net::ClientOptions o;
            o.tls = c.canary.tls;
            o.ca_file = c.canary.ca_file;
            o.server_name = c.canary.server_name.empty() ? c.canary.host : c.canary.server_name;
            o.host_header = c.canary.host;
            o.user_agent = "cdn-hooks";
            o.keep_alive = false;  // a new connection each round, as a browser's first visit
            o.timeout = timeout_;
            canary_ = std::make_unique<net::HttpClient>(*ep, std::move(o));
        } else {
            canary_error_ = "checks.canary.address: " + ep.error();
        }
    }
    if (!c.freshness.origin_current_url.empty()) {
        if (auto u = net::parse_url(c.freshness.origin_current_url)) {
            origin_ = std::make_unique<OriginPoller>(
                *u, std::chrono::milliseconds(c.freshness.origin_poll_ms),
                std::max(timeout_, std::chrono::milliseconds(2000)));
        }
    }
}

Result<net::HttpResponse> Checker::admin_request(const std::string& method,
                                                 const std::string& target,
                                                 std::chrono::milliseconds timeout, int abort_fd) {
    if (!admin_) return make_error(admin_error_);
    net::ClientOptions o;
    o.user_agent = "cdn-hooks";
    o.keep_alive = false;
    o.timeout = timeout;
    net::HttpClient client(*admin_, std::move(o));
    net::HttpRequest req;
    req.method = method;
    req.target = target;
    if (method == "POST" && !c_.edge.token_file.empty()) {
        auto token = read_token_file(c_.edge.token_file);
        if (!token) return token.forward_error("edge.token_file: ");
        req.headers.emplace_back("Authorization", "Bearer " + *token);
    }
    return client.request(req, abort_fd);
}

Result<uint64_t> Checker::check_healthz(int abort_fd) {
    auto r = admin_request("GET", "/healthz", timeout_, abort_fd);
    if (!r) return r.forward_error("healthz: ");
    if (r->status != 200) return make_error("healthz: HTTP " + std::to_string(r->status));
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("status", "") != "ok") {
        return make_error("healthz: body is not {\"status\":\"ok\"}");
    }
    uint64_t gen = 0;
    if (auto it = j.find("generation"); it != j.end() && it->is_number_unsigned()) {
        gen = it->get<uint64_t>();
    }
    return gen;
}

Result<std::string> Checker::expected_etag(uint64_t generation) {
    if (!c_.canary.expected_etag.empty()) {
        // Given with or without the quotes of the header.
        std::string sha = sha256_of_etag(c_.canary.expected_etag);
        return sha.empty() ? c_.canary.expected_etag : sha;
    }
    const fs::path dir = c_.canary.manifest_dir;
    // `current` is a few hundred bytes: read it every round; parse the (possibly large) manifest
    // only when the edge's generation or the live pointer changed.
    std::string current_bytes;
    if (auto b = anyedge::read_file(current_file_path(dir), 64 * 1024)) current_bytes = *b;
    if (!etag_.empty() && generation == etag_generation_ && current_bytes == etag_current_) {
        return etag_;
    }
    // The live manifest (`current` -> generations/<n>.json, its hash checked against the
    // pointer) says what this node should serve. When the edge names another generation (cdn-sync
    // flipped `current` and the edge has not reloaded yet, or the edge serves the previous one)
    // the canary must match the generation the edge says it serves; a generation that is not on
    // disk is an error. An edge serving a plain folder reports generation 0: the live manifest.
    std::optional<Manifest> manifest;
    std::string source;
    auto live = load_live_generation(dir);
    if (live && (generation == 0 || generation == live->current.generation)) {
        manifest = std::move(live->manifest);
        source = "live generation " + std::to_string(live->current.generation);
    } else if (generation > 0) {
        auto g = load_generation(dir, generation);
        if (!g) {
            return make_error("manifest for generation " + std::to_string(generation) + ": " +
                              g.error());
        }
        manifest = std::move(g->manifest);
        source = "generation " + std::to_string(generation);
    } else {
        return make_error("live manifest in " + dir.string() + ": " + live.error());
    }
    const std::string key = manifest_key_for(c_.canary.path);
    auto it = manifest->files.find(key);
    if (it == manifest->files.end()) {
        return make_error("canary path " + c_.canary.path + " is not in " + source);
    }
    etag_generation_ = generation;
    etag_current_ = current_bytes;
    etag_ = it->second.sha256;
    return etag_;
}

Status Checker::check_canary(uint64_t generation, int abort_fd) {
    if (!canary_) return make_error(canary_error_);
    auto want = expected_etag(generation);
    if (!want) return make_error("canary: " + want.error());
    net::HttpRequest req;
    req.target = c_.canary.path;
    // Identity encoding: the ETag then is the hash of the identity bytes, as in the manifest.
    req.headers.emplace_back("Accept-Encoding", "identity");
    auto r = canary_->request(req, abort_fd);
    if (!r) return r.forward_error("canary: ");
    if (r->status != 200) {
        return make_error("canary " + c_.canary.path + ": HTTP " + std::to_string(r->status));
    }
    std::string got = sha256_of_etag(r->header("etag"));
    if (got != *want) {
        return make_error("canary " + c_.canary.path + ": ETag " +
                          (got.empty() ? "missing" : got.substr(0, 16) + "...") + ", expected " +
                          want->substr(0, 16) + "...");
    }
    return ok_status();
}

namespace {
net::ClientOptions poller_options(const net::Url& url, std::chrono::milliseconds timeout) {
    net::ClientOptions o = net::options_for(url, "", timeout);
    o.user_agent = "cdn-hooks";
    return o;
}
}  // namespace

OriginPoller::OriginPoller(const net::Url& current_url, std::chrono::milliseconds period,
                           std::chrono::milliseconds timeout)
    : client_(net::endpoint_of(current_url), poller_options(current_url, timeout)),
      // parse_url treats the path as a base and ends it with '/': the pointer is a file.
      target_(current_url.path.substr(0, current_url.path.size() - 1)),
      period_(period),
      thread_([this] { run(); }) {}

OriginPoller::~OriginPoller() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

OriginPoller::Snapshot OriginPoller::snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snap_;
}

void OriginPoller::run() {
    for (;;) {
        net::HttpRequest req;
        req.target = target_;
        auto r = client_.request(req);
        std::string err;
        std::optional<uint64_t> gen;
        if (!r) {
            err = r.error();
        } else if (r->status != 200) {
            err = "HTTP " + std::to_string(r->status);
        } else if (auto cur = parse_current(r->body)) {
            gen = cur->generation;
        } else {
            err = "bad current pointer: " + cur.error();
        }
        std::unique_lock<std::mutex> lock(mu_);
        if (err.empty()) {
            snap_.generation = gen;
            snap_.failing_since.reset();
            snap_.error.clear();
        } else {
            snap_.error = err;
            if (!snap_.failing_since) snap_.failing_since = Clock::now();
        }
        if (cv_.wait_for(lock, period_, [this] { return stop_; })) return;
    }
}

std::string Checker::soft_fault(Clock::time_point now, uint64_t generation, bool have_status) {
    auto grace = std::chrono::seconds(c_.freshness.grace_s);
    OriginPoller::Snapshot origin;
    if (origin_) origin = origin_->snapshot();
    if (origin.failing_since && now - *origin.failing_since >= grace) {
        return "origin unreachable for " + seconds(now - *origin.failing_since) + ": " +
               origin.error;
    }
    if (origin.generation && generation > 0 && generation < *origin.generation) {
        if (!lagging_since_) lagging_since_ = now;
        if (now - *lagging_since_ >= grace) {
            return "content stale: generation " + std::to_string(generation) + " < origin's " +
                   std::to_string(*origin.generation) + " for " + seconds(now - *lagging_since_);
        }
    } else if (generation > 0) {
        lagging_since_.reset();
    }
    if (have_status && c_.freshness.max_generation_age_s > 0 &&
        status_.generation_age_s > c_.freshness.max_generation_age_s) {
        return "content stale: generation age " + std::to_string(int(status_.generation_age_s)) +
               "s > " + std::to_string(c_.freshness.max_generation_age_s) + "s";
    }
    return "";
}

policy::Observation Checker::run_round(Clock::time_point now, int abort_fd) {
    policy::Observation o;
    o.now = now;
    auto gen = check_healthz(abort_fd);
    o.hard_ok = gen.ok();
    if (!gen) o.hard_reason = gen.error();

    bool have_status = false;
    // A healthz that timed out means a wedged edge: do not wait a second time on /status.
    bool wedged = !gen && gen.error_code() == ErrorCode::kTimedOut;
    if (admin_ && !wedged) {
        auto r = admin_request("GET", "/status", timeout_, abort_fd);
        if (r && r->status == 200) {
            if (auto s = parse_edge_status(r->body)) {
                status_ = *s;
                have_status = true;
            }
        }
    }
    if (!have_status) status_.drain = policy::EdgeDrain::unknown;
    uint64_t generation = gen ? *gen : 0;
    if (generation == 0 && have_status) generation = status_.generation;

    bool file = !c_.drain_file.empty() && std::filesystem::exists(c_.drain_file);
    if (have_status) {
        sync_edge_drain(file);
        edge_drain_requested_ = status_.drain == policy::EdgeDrain::draining ||
                                status_.drain == policy::EdgeDrain::drained;
    }
    bool draining = file || edge_drain_requested_;

    // No canary while draining: it is a new connection to the service address every round, and
    // the edge reports "drained" only after a quiet period without one. The route is going (or
    // gone) anyway; the canary runs again before any re-announcement.
    if (o.hard_ok && c_.canary.enabled && !draining) {
        if (auto st = check_canary(generation, abort_fd); !st) {
            o.hard_ok = false;
            o.hard_reason = st.error();
        }
    }

    std::string soft = soft_fault(now, generation, have_status);
    o.soft_ok = soft.empty();
    o.soft_reason = soft;

    o.drain_requested = draining;
    o.edge_drain = status_.drain;
    o.edge_drain_detail = status_.drain_detail;
    return o;
}

Status Checker::hold_syns(std::chrono::milliseconds duration) {
    // Bounded by the health-check timeout: the drain waits for this answer before it tags.
    return post_admin("/hold-syn?ms=" + std::to_string(duration.count()), timeout_);
}

Status Checker::post_admin(const std::string& target, std::chrono::milliseconds timeout) {
    auto r = admin_request("POST", target, timeout, -1);
    if (!r) return r.forward_error();
    if (r->status != 200) {
        std::string body = r->body.substr(0, 200);
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        return make_error("POST " + target + ": HTTP " + std::to_string(r->status) +
                          (body.empty() ? "" : " " + body));
    }
    return ok_status();
}

void Checker::note(std::string text) {
    // Logged once per distinct outcome: a failing POST must not repeat every round.
    if (text == last_drain_note_) return;
    last_drain_note_ = text;
    drain_note_ = std::move(text);
}

void Checker::sync_edge_drain(bool file) {
    // The drain file drains the edge too (Connection: close on every response, drained state),
    // not only the route. Level-triggered: a restarted edge comes up serving and is told again.
    // Only a drain this checker asked for is undone when the file goes; a `cdnctl drain` stays.
    if (file && status_.drain == policy::EdgeDrain::serving) {
        auto st = post_admin("/drain", std::max(timeout_, std::chrono::milliseconds(1000)));
        if (st) {
            posted_drain_ = true;
            status_.drain = policy::EdgeDrain::draining;
            note("drain file present: POST /drain to the edge");
        } else {
            note("drain file present, but " + st.error());
        }
    } else if (!file && posted_drain_ && status_.drain != policy::EdgeDrain::serving) {
        auto st = post_admin("/undrain", std::max(timeout_, std::chrono::milliseconds(1000)));
        if (st) {
            posted_drain_ = false;
            status_.drain = policy::EdgeDrain::serving;
            note("drain file removed: POST /undrain to the edge");
        } else {
            note("drain file removed, but " + st.error());
        }
    } else if (!file && posted_drain_) {
        posted_drain_ = false;  // someone else undrained it already
    }
}

}  // namespace anyedge::health
