// The one HTTP(S) client of the control plane (cdnctl, cdn-sync, cdn-hooks), on Boost.Beast:
// HTTP/1.1 over TCP, TLS (certificate and host name verified, RFC 9110 §4.3.4) or a unix
// socket, one keep-alive connection per client, a hard deadline on every request and an
// optional abort fd.
//
// Blocking; runs on the caller's thread. Not thread-safe: one HttpClient per thread. Beast,
// Asio and OpenSSL stay inside this module.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::net {

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;    // a name or a numeric address (brackets removed)
    std::string port;
    std::string path;  // always ends with '/' for a base URL; "/" when empty
};

// Accepts "http://host[:port][/path]", "https://...", and "host:port" (taken as http).
Result<Url> parse_url(std::string_view text);

// Where a client connects: a TCP host and port, or a unix socket.
struct Endpoint {
    std::string unix_path;  // non-empty: a unix socket
    std::string host;       // TCP: a name or a numeric address (brackets removed)
    std::string port;
    bool is_unix() const { return !unix_path.empty(); }
    // "unix:/run/x.sock", "192.0.2.1:80", "[2001:db8::1]:80": for messages, and the default
    // Host value over TCP ("localhost" over a unix socket).
    std::string display() const;
};

// "unix:/run/x.sock", "127.0.0.1:8080", "[2001:db8::1]:80". Host names are refused: a health
// check must not depend on DNS.
Result<Endpoint> parse_endpoint(std::string_view text);

struct ClientOptions {
    bool tls = false;
    std::string ca_file;          // PEM bundle; empty: the system's default trust store
    std::string server_name;      // SNI and the name verified; empty: the endpoint's host
    std::string host_header;      // empty: see Endpoint::display()
    std::string base_path = "/";  // prefixed to relative targets (see request(method, rel))
    std::string user_agent = "anyedge";
    // false: "Connection: close" on every request (a health check must not hold a connection
    // that the edge would count while it drains).
    bool keep_alive = true;
    // The whole request, connecting included, ends by this deadline (ErrorCode::kTimedOut).
    // Name resolution is the exception: getaddrinfo cannot be interrupted, so a host name
    // waits for DNS's own timeout (numeric addresses, as health checks use, resolve at once).
    std::chrono::milliseconds timeout{10000};
};

// Options for a base URL: TLS for https, the URL's host as SNI and Host, its path as base.
ClientOptions options_for(const Url& url, std::string ca_file, std::chrono::milliseconds timeout);
Endpoint endpoint_of(const Url& url);

struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    uint64_t body_limit = 64ull << 20;  // a larger response body is an error
};

struct HttpResponse {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class HttpClient {
  public:
    HttpClient(Endpoint endpoint, ClientOptions options);
    // An https:// or http:// base URL (see options_for).
    HttpClient(const Url& base, std::string ca_file, std::chrono::milliseconds timeout);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Transport errors are errors; HTTP error statuses are not (the caller decides what a 404
    // means). When `abort_fd` (e.g. a pidfd) becomes readable the request ends at once with an
    // error. A reused keep-alive connection that fails is retried once on a fresh one.
    Result<HttpResponse> request(const HttpRequest& request, int abort_fd = -1);
    // `rel` is appended to the base path ("current", "objects/sha256/..").
    Result<HttpResponse> request(const std::string& method, const std::string& rel,
                                 const std::map<std::string, std::string>& headers = {},
                                 std::string body = {}, uint64_t body_limit = 64ull << 20);

    const Endpoint& endpoint() const { return endpoint_; }
    const ClientOptions& options() const { return options_; }

  private:
    struct Impl;
    Endpoint endpoint_;
    ClientOptions options_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace anyedge::net
