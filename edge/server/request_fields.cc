#include "edge/server/request_fields.h"

#include <charconv>

namespace anyedge::server {
namespace {

// "a, b" when a field line repeats (RFC 9110 §5.3).
void append_field(std::string& to, std::string_view value) {
    if (!to.empty()) to.append(", ");
    to.append(value);
}

}  // namespace

void RequestFields::add(std::string_view name, std::string_view value,
                        const http::ParserLimits& limits) {
    if (error_status != 0) return;
    // RFC 9113 §6.5.2 / RFC 9114 §4.2.2: a field counts its name, its value and 32 bytes.
    header_bytes += name.size() + value.size() + 32;
    if (header_bytes > limits.max_header_bytes) {
        error_status = 431;
        error_reason = "header fields too large";
        return;
    }
    // The same per-field limit as an HTTP/1.1 line ("name: value").
    if (name.size() + 2 + value.size() > limits.max_field_bytes) {
        error_status = 431;
        error_reason = "header field too large";
        return;
    }
    if (name == ":method") {
        method = value;
    } else if (name == ":path") {
        if (value.size() > limits.max_target_bytes) {
            error_status = 414;
            error_reason = "URI too long";
            return;
        }
        path = value;
    } else if (name == ":authority") {
        authority = value;
    } else if (name == "host") {
        host = value;
    } else if (name == "if-match") {
        append_field(if_match, value);
    } else if (name == "if-none-match") {
        append_field(if_none_match, value);
    } else if (name == "if-modified-since") {
        if_modified_since = value;
    } else if (name == "if-unmodified-since") {
        if_unmodified_since = value;
    } else if (name == "range") {
        range = value;
    } else if (name == "if-range") {
        if_range = value;
    } else if (name == "accept-encoding") {
        append_field(accept_encoding, value);
    } else if (name == "authorization") {
        authorization = value;
    } else if (name == "content-length") {
        uint64_t n = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec == std::errc() && ptr == value.data() + value.size()) content_length = n;
    }
}

void RequestFields::check() {
    if (error_status != 0) return;
    const std::string_view host_field = authority.empty() ? host : authority;
    const http::Method m = http::method_from_name(method);
    if (!host_field.empty() && !http::valid_host(host_field)) {
        error_status = 400;
        error_reason = "invalid :authority";
    } else if (m != http::Method::kOther &&
               (path.empty() ||
                (path.front() != '/' && !(path == "*" && m == http::Method::kOptions)))) {
        error_status = 400;
        error_reason = "invalid :path";
    }
}

http::Request RequestFields::request(int version) const {
    http::Request req;
    req.method = http::method_from_name(method);
    req.method_name = method;
    req.target = path;
    req.version = version;
    req.keep_alive = true;
    req.host = authority.empty() ? std::string_view(host) : std::string_view(authority);
    req.if_match = if_match;
    req.if_none_match = if_none_match;
    req.if_modified_since = if_modified_since;
    req.if_unmodified_since = if_unmodified_since;
    req.range = range;
    req.if_range = if_range;
    req.accept_encoding = accept_encoding;
    req.authorization = authorization;
    req.content_length = content_length;
    return req;
}

void RequestFields::clear() {
    for (std::string* f :
         {&method, &path, &authority, &host, &if_match, &if_none_match, &if_modified_since,
          &if_unmodified_since, &range, &if_range, &accept_encoding, &authorization}) {
        f->clear();
    }
    content_length.reset();
    header_bytes = 0;
    error_status = 0;
    error_reason = "";
}

}  // namespace anyedge::server
