// Responder: the pure HTTP decision, request + snapshot in, response bytes out. No sockets,
// no clocks (the Date line comes in the context), no allocation on a plain hit beyond the
// sink's own buffer. Safe on any thread; the snapshot must outlive the call.
#pragma once

#include <cstdint>
#include <string_view>

#include "edge/cache/snapshot.h"
#include "edge/http/request.h"
#include "edge/http/response_head.h"
#include "edge/server/response_sink.h"

namespace anyedge::server {

struct ResponseContext {
    std::string_view date_line;      // "Date: <IMF-fixdate>\r\n"
    bool force_close = false;        // draining, stopping, or the connection's request cap hit
    std::string_view extra_headers;  // per-listener lines, e.g. Strict-Transport-Security
    // The same two as HTTP/2 and HTTP/3 fields, when the caller has them translated (null: the
    // sink translates the text).
    const http::HeadFields* date_fields = nullptr;
    const http::HeadFields* extra_fields = nullptr;
    uint16_t redirect_https_port = 0;  // non-zero: answer GET/HEAD with 301 to https
    // The fleet ACME account's key thumbprint (RFC 8555 §8.1): when set, HTTP-01 challenges
    // are answered from it, statelessly, on every node.
    std::string_view acme_thumbprint;
    // The previous generation during the skew grace: paths missing from the live snapshot are
    // looked up here, so a page loaded just before a switch still finds its assets.
    const cache::Snapshot* fallback = nullptr;
    int64_t wall_ms = 0;  // the event's wall-clock time (Unix ms), for the access log
};

struct ResponseInfo {
    int status = 0;
    uint64_t body_bytes = 0;
    bool keep_alive = false;  // false: close the connection once this response is sent
};

ResponseInfo respond(const http::Request& request, const cache::Snapshot& snapshot,
                     const ResponseContext& context, ResponseSink& out);

// A response to a request that could not be parsed: always closes the connection.
ResponseInfo respond_error(int status, std::string_view reason, const cache::Snapshot* snapshot,
                           const ResponseContext& context, ResponseSink& out);

// A small generated response (admin API, errors): body copied, Content-Length set.
ResponseInfo respond_with(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers, const http::Request& request,
                          const ResponseContext& context, ResponseSink& out);

std::string_view status_text(int status);

}  // namespace anyedge::server
