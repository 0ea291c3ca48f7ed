// RequestParser: HTTP/1.1 request framing with Boost.Beast's basic_parser, plus the checks
// Beast is lenient about (request smuggling shapes, RFC 9112 §6.1, §6.3, §5.2, §3.2).
// Bodies are framed here, not by Beast: Content-Length by counting, chunked by ChunkedBody's
// strict grammar.
//
// Sans-IO: feed() takes bytes and reports how many it consumed. One parser per request;
// call reset() before the next one. Not thread-safe; owned by one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "edge/http/request.h"

namespace anyedge::http {

struct ParserLimits {
    uint32_t max_header_bytes = 16 * 1024;  // whole header block -> 431
    uint32_t max_target_bytes = 8 * 1024;   // request-line -> 414
    uint32_t max_field_bytes = 8 * 1024;    // one header field line -> 431 (nginx: 8 KiB)
    uint64_t max_body_bytes = 64 * 1024;    // body we are willing to read and discard -> 413
};

enum class ParseStatus {
    kNeedMore,    // feed more bytes (header or body incomplete)
    kHeaderDone,  // request() is valid; a body may follow (keep feeding until kDone)
    kDone,        // request and its body fully read
    kError,       // error_status() says which 4xx; the connection must close
};

// RFC 9112 §3.2: an RFC 3986 authority without userinfo (reg-name, IPv4 or a bracketed IP
// literal, then an optional ":" port). For Host and HTTP/2's :authority.
bool valid_host(std::string_view host);
// The Method of a method name, case-sensitive (RFC 9110 §9.1), as the HTTP/1.1 parser sees it.
Method method_from_name(std::string_view name);

class RequestParser {
  public:
    explicit RequestParser(ParserLimits limits = {});
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // Consumes a prefix of data. While the header is incomplete nothing is consumed: the caller
    // must present the same bytes again with more appended. kHeaderDone is returned once; after
    // it, body bytes are consumed and discarded until kDone.
    ParseStatus feed(std::string_view data, size_t& consumed);

    // Valid after kHeaderDone until the header bytes are dropped by the caller.
    const Request& request() const { return request_; }
    // After kHeaderDone: keep the body's bytes in `sink` instead of discarding them (uploads).
    void capture_body(std::string* sink);
    int error_status() const { return error_status_; }
    std::string_view error_reason() const { return error_reason_; }
    void reset();

  private:
    struct Impl;
    ParseStatus fail(int status, std::string_view reason);
    std::unique_ptr<Impl> impl_;
    ParserLimits limits_;
    Request request_;
    int error_status_ = 0;
    std::string_view error_reason_;
};

}  // namespace anyedge::http
