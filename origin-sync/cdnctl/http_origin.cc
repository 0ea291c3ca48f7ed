#include "origin-sync/cdnctl/http_origin.h"

namespace anyedge::cdnctl {

HttpOrigin::HttpOrigin(net::Url url, std::string ca_file, std::chrono::milliseconds timeout,
                       std::string token)
    : url_(std::move(url)), client_(url_, std::move(ca_file), timeout), token_(std::move(token)) {}

std::string HttpOrigin::describe() const {
    return url_.scheme + "://" + url_.host + ":" + url_.port + url_.path;
}

std::map<std::string, std::string> HttpOrigin::auth() const {
    if (token_.empty()) return {};
    return {{"Authorization", "Bearer " + token_}};
}

Result<std::optional<std::string>> HttpOrigin::get(const std::string& rel) {
    auto r = client_.request("GET", rel, auth(), {}, 512ull << 20);
    if (!r) return r.forward_error();
    if (r->status == 404) return std::optional<std::string>{};
    if (r->status != 200) return make_error("GET " + rel + ": HTTP " + std::to_string(r->status));
    return std::optional<std::string>(std::move(r->body));
}

Result<bool> HttpOrigin::exists(const std::string& rel) {
    auto r = client_.request("HEAD", rel, auth());
    if (!r) return r.forward_error();
    if (r->status == 404) return false;
    if (r->status != 200) return make_error("HEAD " + rel + ": HTTP " + std::to_string(r->status));
    return true;
}

Status HttpOrigin::put(const std::string& rel, std::string_view bytes) {
    auto r = client_.request("PUT", rel, auth(), std::string(bytes));
    if (!r) return r.forward_error();
    if (r->status < 200 || r->status > 299) {
        return make_error("PUT " + rel + ": HTTP " + std::to_string(r->status) + " " + r->body);
    }
    return ok_status();
}

}  // namespace anyedge::cdnctl
