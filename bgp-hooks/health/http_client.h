// A minimal HTTP/1.1 client for health checks: one request per connection, bounded by a
// deadline, over TCP or a unix socket. The response parser is pure and incremental.
//
// Runs on the caller's thread and blocks at most `timeout`. An optional `abort_fd` (e.g. the
// edge's pidfd) ends the wait early when it becomes readable, so a dying edge is noticed even
// in the middle of a request.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgp-hooks/health/tls_client.h"
#include "origin-sync/content/result.h"

namespace anyedge::health {

struct Endpoint {
    bool unix_socket = false;
    std::string path;  // unix socket path
    std::string host;  // numeric IPv4/IPv6 address (brackets removed)
    int port = 0;
    std::string display() const;
};
// "unix:/run/x.sock", "127.0.0.1:8080", "[2001:db8::1]:80". Host names are not resolved:
// a health check must not depend on DNS.
Result<Endpoint> parse_endpoint(std::string_view s);

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

enum class ParseState { need_more, done, error };
struct ParseResult {
    ParseState state = ParseState::need_more;
    HttpResponse response;
    std::string error;
};
// Parses a whole response from `bytes`; `eof` says the peer closed (ends a body without a
// length). Content-Length, chunked and read-to-close bodies are supported.
ParseResult parse_http_response(std::string_view bytes, bool eof, bool head_request = false);

struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    std::string host = "localhost";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // HTTPS when set: the peer is verified against the context's CAs and `server_name` (also
    // the SNI; default: `host`).
    std::shared_ptr<const TlsContext> tls;
    std::string server_name;
};

Result<HttpResponse> http_request(const Endpoint& ep, const HttpRequest& req,
                                  std::chrono::milliseconds timeout, int abort_fd = -1);

// "http://host:port/path" -> endpoint + target (numeric hosts only, see parse_endpoint).
Result<std::pair<Endpoint, std::string>> parse_http_url(std::string_view url);

}  // namespace anyedge::health
