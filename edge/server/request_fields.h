// RequestFields: a request that arrives as fields (HTTP/2 HEADERS, HTTP/3 HEADERS), collected
// one field at a time under the limits an HTTP/1.1 request has, and checked and viewed as the
// http::Request that the Responder reads. Written once for both protocols.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "edge/http/request.h"
#include "edge/http/request_parser.h"

namespace anyedge::server {

struct RequestFields {
    std::string method, path, authority, host;
    std::string if_match, if_none_match, if_modified_since, if_unmodified_since;
    std::string range, if_range, accept_encoding, authorization;
    std::optional<uint64_t> content_length;
    size_t header_bytes = 0;
    int error_status = 0;  // 431 or 414 while reading the fields, 400 from check()
    const char* error_reason = "";

    // One field, pseudo or regular (names arrive lower-case; the h2/h3 libraries refuse
    // others). Past a limit, error_status is set and later fields are ignored.
    void add(std::string_view name, std::string_view value, const http::ParserLimits& limits);
    // After the last field: a bad :authority or :path is a 400 (RFC 9113 §8.3.1,
    // RFC 9114 §4.3.1).
    void check();
    // Views into these fields: valid while they are.
    http::Request request(int version) const;
    // Empty again, keeping the strings' capacity.
    void clear();
};

}  // namespace anyedge::server
