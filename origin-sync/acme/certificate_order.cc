#include "origin-sync/acme/certificate_order.h"

#include <algorithm>
#include <thread>

#include "origin-sync/base/base64.h"
#include "origin-sync/base/json_object.h"
#include "origin-sync/content/acme.h"
#include "origin-sync/net/http_client.h"

namespace anyedge::acme {

namespace {

using Clock = std::chrono::steady_clock;

// Polls `url` (POST-as-GET) while its status is one of `waiting`; bounded by `deadline`.
Result<AcmeResponse> poll(AcmeClient& client, const std::string& url,
                          const std::vector<std::string>& waiting, Clock::time_point deadline,
                          const std::string& what) {
    std::chrono::milliseconds pause(250);
    for (;;) {
        auto r = client.post(url, std::nullopt);
        if (!r) return r.forward_error(what + ": ");
        const std::string status = json_string_or(r->json, "status");
        if (std::find(waiting.begin(), waiting.end(), status) == waiting.end()) return r;
        if (Clock::now() + pause > deadline) {
            return make_error(what + ": still " + status + " at the end of the poll limit",
                              ErrorCode::kTimedOut);
        }
        // The CA's Retry-After when it gives one (§8.2), else a doubling pause up to 5 s.
        auto wait = r->retry_after.count() > 0
                        ? std::chrono::duration_cast<std::chrono::milliseconds>(r->retry_after)
                        : pause;
        std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(5000)));
        pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    }
}

std::string challenge_error(const nlohmann::json& authz) {
    if (!authz.contains("challenges") || !authz["challenges"].is_array()) return {};
    for (const auto& ch : authz["challenges"]) {
        if (ch.is_object() && ch.contains("error")) {
            AcmeResponse fake;
            fake.json = ch["error"];
            fake.status = static_cast<int>(json_int_or(ch["error"], "status"));
            return describe_problem(fake);
        }
    }
    return {};
}

Status complete_authorization(AcmeClient& client, const std::string& url,
                              const OrderOptions& options, Clock::time_point deadline) {
    auto authz = client.post(url, std::nullopt);
    if (!authz) return authz.forward_error("authorization: ");
    const nlohmann::json& a = authz->json;
    const std::string name =
        a.contains("identifier") ? json_string_or(a["identifier"], "value") : std::string();
    const std::string status = json_string_or(a, "status");
    if (status == "valid") return ok_status();  // reused (§7.1.4)
    if (status != "pending") {
        return make_error(name + ": authorization is " + status + " " + challenge_error(a));
    }
    std::string token, challenge_url;
    if (a.contains("challenges") && a["challenges"].is_array()) {
        for (const auto& ch : a["challenges"]) {
            if (json_string_or(ch, "type") == "http-01") {
                token = json_string_or(ch, "token");
                challenge_url = json_string_or(ch, "url");
            }
        }
    }
    if (challenge_url.empty()) return make_error(name + ": the CA offers no http-01 challenge");
    if (!is_base64url(token))
        return make_error(name + ": the CA sent a token that is not base64url");
    const std::string expected = key_authorization(token, client.key().thumbprint());
    if (options.preflight) {
        if (Status s = preflight_challenge(name, options.challenge_port, token, expected,
                                           options.preflight_timeout);
            !s) {
            return s;
        }
    }
    if (options.log) options.log(name + ": asking the CA to validate http-01");
    auto r = client.post(challenge_url, nlohmann::json::object());
    if (!r) return r.forward_error(name + ": challenge: ");
    auto done = poll(client, url, {"pending", "processing"}, deadline, name + ": authorization");
    if (!done) return done.forward_error();
    const std::string final_status = json_string_or(done->json, "status");
    if (final_status != "valid") {
        return make_error(name + ": authorization " + final_status + ": " +
                          challenge_error(done->json));
    }
    return ok_status();
}

}  // namespace

Status preflight_challenge(const std::string& name, const std::string& port,
                           const std::string& token, const std::string& expected,
                           std::chrono::milliseconds timeout) {
    net::Endpoint ep;
    ep.host = name;
    ep.port = port;
    net::ClientOptions o;
    o.host_header = name;
    o.keep_alive = false;
    o.timeout = timeout;
    net::HttpClient client(ep, o);
    net::HttpRequest req;
    req.target = "/.well-known/acme-challenge/" + token;
    req.body_limit = 4096;
    auto r = client.request(req);
    const std::string prefix = name + ": the fleet does not answer the challenge (preflight " +
                               "http://" + ep.display() + req.target + "): ";
    if (!r) return make_error(prefix + r.error() + " (does the name point at the fleet?)");
    if (r->status != 200) {
        return make_error(prefix + "HTTP " + std::to_string(r->status) +
                          " (is acme_thumbprint set in the nodes' config?)");
    }
    if (r->body != expected) {
        const size_t dot = r->body.find('.');
        return make_error(prefix + "the nodes answer with thumbprint " +
                          (dot == std::string::npos ? r->body : r->body.substr(dot + 1)) +
                          ", this account's is " + expected.substr(expected.find('.') + 1) +
                          " (set acme_thumbprint on every node)");
    }
    return ok_status();
}

Result<std::string> order_certificate(AcmeClient& client, const std::string& csr_der,
                                      const OrderOptions& options) {
    const auto deadline = Clock::now() + options.poll_limit;
    auto new_order = client.endpoint("newOrder");
    if (!new_order) return new_order.forward_error();
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& n : options.names) ids.push_back({{"type", "dns"}, {"value", n}});
    auto order = client.post(*new_order, nlohmann::json{{"identifiers", ids}});
    if (!order) return order.forward_error("newOrder: ");
    const std::string order_url = order->location;
    const std::string finalize = json_string_or(order->json, "finalize");
    if (order_url.empty() || finalize.empty() || !order->json.contains("authorizations") ||
        !order->json["authorizations"].is_array()) {
        return make_error("newOrder: the CA's order has no URL, finalize or authorizations");
    }
    if (options.log) options.log("order " + order_url);
    for (const auto& a : order->json["authorizations"]) {
        if (!a.is_string()) return make_error("newOrder: an authorization is not a URL");
        if (Status s = complete_authorization(client, a.get<std::string>(), options, deadline);
            !s) {
            return s.forward_error();
        }
    }
    auto ready = poll(client, order_url, {"pending"}, deadline, "order");
    if (!ready) return ready.forward_error();
    if (json_string_or(ready->json, "status") == "ready") {
        auto fin = client.post(finalize, nlohmann::json{{"csr", base64url_encode(csr_der)}});
        if (!fin) return fin.forward_error("finalize: ");
    }
    auto valid = poll(client, order_url, {"ready", "processing"}, deadline, "order");
    if (!valid) return valid.forward_error();
    const std::string status = json_string_or(valid->json, "status");
    const std::string cert_url = json_string_or(valid->json, "certificate");
    if (status != "valid" || cert_url.empty()) {
        std::string why = valid->json.contains("error") ? json_dump(valid->json["error"]) : "";
        return make_error("order ended " + status + " without a certificate " + why);
    }
    auto cert = client.post(cert_url, std::nullopt);
    if (!cert) return cert.forward_error("certificate download: ");
    if (cert->body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return make_error("certificate download: not a PEM chain (" + cert->content_type + ")");
    }
    return cert->body;
}

}  // namespace anyedge::acme
