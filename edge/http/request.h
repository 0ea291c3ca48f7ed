// The parsed request as the edge needs it: plain views, no Beast types.
// Views point into the connection's receive buffer and are valid until the bytes they point
// into are consumed (i.e. until the next call to RequestParser::feed).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace anyedge::http {

// kOther: a method HTTP defines that this server does not allow here (405, with Allow).
// kUnrecognized: a method the server does not know at all, e.g. "get" or "FOO"
// (501, RFC 9110 §9.1). Methods are case-sensitive.
enum class Method { kGet, kHead, kOptions, kOther, kUnrecognized };

struct Request {
    Method method = Method::kOther;
    std::string_view method_name;
    std::string_view target;
    int version = 11;  // 10, 11, or 20 (HTTP/2)
    bool keep_alive = true;
    std::string_view host;
    std::string_view if_match;
    std::string_view if_none_match;
    std::string_view if_modified_since;
    std::string_view if_unmodified_since;
    std::string_view range;
    std::string_view if_range;
    std::string_view accept_encoding;
    std::string_view authorization;
    std::optional<uint64_t> content_length;
    bool chunked = false;
    bool expect_continue = false;  // HTTP/1.1 "Expect: 100-continue" (RFC 9110 §10.1.1)
    bool has_body() const { return chunked || (content_length && *content_length > 0); }
};

}  // namespace anyedge::http
