// Malformed HTTP/1.1 requests and the RFC's answer to each, shared by the parser and session
// unit tests and the integration tests over real sockets (plain and TLS). Each is a complete
// request as a hostile client sends it; a test appends a valid pipelined request, which must
// never be answered.
#pragma once

#include <string>
#include <vector>

namespace anyedge::testing {

struct HostileRequest {
    std::string name;
    std::string bytes;
    int status;  // the answer RFC 9112 / RFC 9110 give; the connection then closes
};

// A GET carrying a chunked body (RFC 9112 §7.1) whose body is `body`.
inline std::string chunked_get(const std::string& body) {
    return "GET / HTTP/1.1\r\nHost: blog.example\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
}

inline std::vector<HostileRequest> hostile_requests() {
    return {
        // chunk-size = 1*HEXDIG, nothing else (RFC 9112 §7.1).
        {"chunk size with a plus sign", chunked_get("+5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size with a minus sign", chunked_get("-5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size with 0x", chunked_get("0x5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size after a space", chunked_get(" 5\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size before a space", chunked_get("5 \r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size before a tab", chunked_get("5\t\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size with an underscore", chunked_get("1_0\r\n0123456789abcdef\r\n0\r\n\r\n"), 400},
        {"chunk size overflowing 64 bits", chunked_get("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
         400},
        {"chunk size of 2^63", chunked_get("8000000000000000\r\nhello\r\n0\r\n\r\n"), 400},
        {"empty chunk size", chunked_get("\r\nhello\r\n0\r\n\r\n"), 400},
        {"chunk size not hexadecimal", chunked_get("g\r\nhello\r\n0\r\n\r\n"), 400},
        // Lines end with CRLF only.
        {"chunk lines ended by bare LF", chunked_get("5\nhello\n0\n\n"), 400},
        {"chunk lines ended by bare CR", chunked_get("5\rhello\r0\r\r"), 400},
        {"chunk data ended by bare LF", chunked_get("5\r\nhello\n0\r\n\r\n"), 400},
        {"last chunk ended by bare LF", chunked_get("5\r\nhello\r\n0\n\r\n"), 400},
        // A quoted string cannot hold a line end: the extension never closes.
        {"unterminated quoted chunk extension", chunked_get("5;name=\"value\r\nhello\r\n0\r\n\r\n"),
         400},
        {"chunk data longer than its size", chunked_get("5\r\nhelloEXTRA\r\n0\r\n\r\n"), 400},
        // RFC 9110 §6.5.1: framing never comes from a trailer.
        {"trailer with Content-Length", chunked_get("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
         400},
        {"trailer with Transfer-Encoding",
         chunked_get("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
        {"obs-fold in a trailer", chunked_get("0\r\nX-A: a\r\n b\r\n\r\n"), 400},
        // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
        {"userinfo in an absolute-form target",
         "GET http://u@blog.example/ HTTP/1.1\r\nHost: blog.example\r\n\r\n", 400},
        {"userinfo with a password in an absolute-form target",
         "GET https://u:pw@blog.example/robots.txt HTTP/1.1\r\nHost: blog.example\r\n\r\n", 400},
        // One field line past the per-field limit (8 KiB), inside the whole-header limit.
        {"a 9000-byte header field",
         "GET / HTTP/1.1\r\nHost: blog.example\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n",
         431},
    };
}

// The pipelined request a test sends after each hostile one: it must not be answered.
inline const std::string kPipelinedAfterHostile =
    "GET /robots.txt HTTP/1.1\r\nHost: blog.example\r\n\r\n";

}  // namespace anyedge::testing
