#include "origin-sync/acme/acme_client.h"

#include <charconv>

namespace anyedge::acme {

namespace {

struct SplitUrl {
    std::string origin;  // scheme://authority
    std::string target;  // path and query, at least "/"
};

Result<SplitUrl> split_url(const std::string& url) {
    const size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return make_error("not an absolute URL: " + url);
    const size_t path = url.find('/', scheme_end + 3);
    SplitUrl out;
    out.origin = url.substr(0, path);
    out.target = path == std::string::npos ? "/" : url.substr(path);
    return out;
}

std::chrono::seconds parse_retry_after(const std::string& v) {
    long long s = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
    if (ec != std::errc() || p != v.data() + v.size() || s < 0) return std::chrono::seconds(0);
    return std::chrono::seconds(std::min<long long>(s, 3600));
}

bool is_problem(const AcmeResponse& r, std::string_view type) {
    return r.json.is_object() && r.json.contains("type") && r.json["type"].is_string() &&
           r.json["type"].get<std::string>() == type;
}

}  // namespace

std::string describe_problem(const AcmeResponse& r) {
    std::string out = "HTTP " + std::to_string(r.status);
    if (r.json.is_object()) {
        if (r.json.contains("type") && r.json["type"].is_string()) {
            out += ": " + r.json["type"].get<std::string>();
        }
        if (r.json.contains("detail") && r.json["detail"].is_string()) {
            out += ": " + r.json["detail"].get<std::string>();
        }
        if (r.json.contains("subproblems") && r.json["subproblems"].is_array()) {
            for (const auto& sp : r.json["subproblems"]) {
                if (sp.is_object() && sp.contains("detail") && sp["detail"].is_string()) {
                    out += "; " + sp["detail"].get<std::string>();
                }
            }
        }
    } else if (!r.body.empty()) {
        out += ": " + r.body.substr(0, 200);
    }
    return out;
}

AcmeClient::AcmeClient(AcmeClientOptions options, AccountKey key)
    : options_(std::move(options)), key_(std::move(key)) {}

AcmeClient::~AcmeClient() = default;

Result<AcmeResponse> AcmeClient::send(const std::string& method, const std::string& url,
                                      const std::string& body) {
    auto split = split_url(url);
    if (!split) return split.forward_error();
    auto& client = clients_[split->origin];
    if (!client) {
        auto base = net::parse_url(split->origin);
        if (!base) return base.forward_error();
        client = std::make_unique<net::HttpClient>(*base, options_.ca_file, options_.timeout);
    }
    net::HttpRequest req;
    req.method = method;
    req.target = split->target;
    req.body = body;
    req.body_limit = 1 << 20;  // a certificate chain or an order: never megabytes
    if (method == "POST") req.headers.emplace_back("Content-Type", "application/jose+json");
    auto res = client->request(req);
    if (!res) return res.forward_error();
    AcmeResponse out;
    out.status = res->status;
    out.location = res->header("location");
    out.retry_after = parse_retry_after(res->header("retry-after"));
    out.content_type = res->header("content-type");
    out.body = std::move(res->body);
    if (out.content_type.find("json") != std::string::npos) {
        out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
        if (out.json.is_discarded()) out.json = nullptr;
    }
    if (std::string n = res->header("replay-nonce"); !n.empty()) nonce_ = std::move(n);
    return out;
}

Status AcmeClient::load_directory() {
    if (directory_.is_object()) return ok_status();
    auto r = send("GET", options_.directory_url, {});
    if (!r) return r.forward_error("ACME directory: ");
    if (r->status != 200 || !r->json.is_object() || !r->json.contains("newOrder")) {
        return make_error("ACME directory " + options_.directory_url + ": not an ACME directory (" +
                          describe_problem(*r) + ")");
    }
    directory_ = std::move(r->json);
    return ok_status();
}

Result<std::string> AcmeClient::endpoint(const std::string& name) const {
    if (!directory_.is_object() || !directory_.contains(name) || !directory_[name].is_string()) {
        return make_error("the ACME directory has no " + name);
    }
    return directory_[name].get<std::string>();
}

Status AcmeClient::fresh_nonce() {
    auto url = endpoint("newNonce");
    if (!url) return url.forward_error();
    // §7.2: HEAD or GET; GET needs no special parsing of a body-less response.
    auto r = send("GET", *url, {});
    if (!r) return r.forward_error("newNonce: ");
    if (nonce_.empty()) return make_error("newNonce: the CA sent no Replay-Nonce");
    return ok_status();
}

Result<AcmeResponse> AcmeClient::post(const std::string& url,
                                      const std::optional<nlohmann::json>& payload) {
    if (Status s = load_directory(); !s) return s.forward_error();
    const std::string body_text = payload ? payload->dump() : std::string();
    for (int attempt = 0;; ++attempt) {
        if (nonce_.empty()) {
            if (Status s = fresh_nonce(); !s) return s.forward_error();
        }
        std::string nonce = std::exchange(nonce_, {});
        auto jws = sign_jws(key_, url, nonce, kid_, body_text);
        if (!jws) return jws.forward_error();
        auto r = send("POST", url, *jws);
        if (!r) return r.forward_error();
        if (r->status < 400) return r;
        // §6.5: a rejected nonce is retried with the one the error response carries.
        if (is_problem(*r, "urn:ietf:params:acme:error:badNonce") &&
            attempt < options_.nonce_retries) {
            continue;
        }
        return make_error("POST " + url + ": " + describe_problem(*r));
    }
}

Result<std::string> AcmeClient::account(const std::vector<std::string>& contact) {
    if (!kid_.empty()) return kid_;
    if (Status s = load_directory(); !s) return s.forward_error();
    auto url = endpoint("newAccount");
    if (!url) return url.forward_error();
    nlohmann::json payload{{"termsOfServiceAgreed", true}};
    if (!contact.empty()) payload["contact"] = contact;
    auto r = post(*url, payload);
    if (!r) return r.forward_error("ACME account: ");
    if (r->location.empty()) return make_error("ACME account: the CA sent no account URL");
    kid_ = r->location;
    return kid_;
}

}  // namespace anyedge::acme
