// A small blocking HTTP/1.1 client over Boost.Beast, for talking to origins and admin
// endpoints: one keep-alive connection per client, plain TCP or TLS with certificate and host
// name verification (RFC 9110 section 4.3.4), a timeout on every request.
//
// Not thread-safe: use one HttpClient per thread. Beast stays inside this module.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "origin-sync/content/result.h"

namespace anyedge::replicate {

struct Url {
    std::string scheme;  // "http" or "https"
    std::string host;
    std::string port;
    std::string path;  // always ends with '/' for a base URL; "/" when empty
};

// Accepts "http://host[:port][/path]", "https://...", and "host:port" (taken as http).
Result<Url> parse_url(std::string_view text);

struct HttpResponse {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct HttpClientOptions {
    std::string ca_file;  // PEM bundle; empty: the system's default trust store
    std::chrono::milliseconds timeout{10000};
};

class HttpClient {
  public:
    HttpClient(Url base, HttpClientOptions options);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `rel` is appended to the base URL's path ("current", "objects/sha256/..").
    // Responses larger than body_limit are errors. Transport errors are errors; HTTP error
    // statuses are not (the caller decides what a 404 means).
    Result<HttpResponse> request(const std::string& method, const std::string& rel,
                                 const std::map<std::string, std::string>& headers = {},
                                 std::string body = {}, uint64_t body_limit = 64ull << 20);

    const Url& base() const { return base_; }

  private:
    struct Impl;
    Url base_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace anyedge::replicate
