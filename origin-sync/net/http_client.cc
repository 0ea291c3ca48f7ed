#include "origin-sync/net/http_client.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <charconv>
#include <optional>

// GCC 12 with -fsanitize=address reports the boost::optional inside Beast's
// basic_parser::content_length_unchecked() as maybe-uninitialized: a false positive of that
// combination (the plain build does not see it), silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace anyedge::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;

namespace {

bool is_numeric_host(const std::string& h) {
    unsigned char buf[16];
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool valid_port(std::string_view p) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    return ec == std::errc() && ptr == p.data() + p.size() && n > 0 && n <= 65535;
}

std::string bracketed(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// "host", "host:port", "[v6]", "[v6]:port" -> host and port (empty when absent).
Result<std::pair<std::string, std::string>> split_authority(std::string_view a) {
    std::string host, port;
    if (!a.empty() && a.front() == '[') {  // IPv6 literal, RFC 3986 §3.2.2
        size_t close = a.find(']');
        if (close == std::string_view::npos) return make_error("bad IPv6 host");
        host = std::string(a.substr(1, close - 1));
        std::string_view after = a.substr(close + 1);
        if (after.starts_with(':')) {
            port = std::string(after.substr(1));
        } else if (!after.empty()) {
            return make_error("bad IPv6 host");
        }
    } else {
        size_t colon = a.rfind(':');
        host = std::string(a.substr(0, colon));
        if (colon != std::string_view::npos) port = std::string(a.substr(colon + 1));
    }
    return std::make_pair(host, port);
}

}  // namespace

Result<Url> parse_url(std::string_view text) {
    Url u;
    std::string_view rest = text;
    if (rest.starts_with("http://")) {
        u.scheme = "http";
        rest.remove_prefix(7);
    } else if (rest.starts_with("https://")) {
        u.scheme = "https";
        rest.remove_prefix(8);
    } else if (rest.find("://") != std::string_view::npos) {
        return make_error("unsupported URL scheme in " + std::string(text));
    } else {
        u.scheme = "http";
    }
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (!u.path.ends_with('/')) u.path += '/';
    if (authority.empty()) return make_error("no host in URL " + std::string(text));
    auto hp = split_authority(authority);
    if (!hp) return make_error(hp.error() + " in " + std::string(text));
    u.host = hp->first;
    u.port = hp->second;
    if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
    if (u.host.empty() || !valid_port(u.port)) {
        return make_error("bad host or port in URL " + std::string(text));
    }
    return u;
}

std::string Endpoint::display() const {
    if (is_unix()) return "unix:" + unix_path;
    return bracketed(host) + ":" + port;
}

Result<Endpoint> parse_endpoint(std::string_view s) {
    Endpoint ep;
    if (s.starts_with("unix:")) {
        ep.unix_path = std::string(s.substr(5));
        if (ep.unix_path.empty()) return make_error("empty unix socket path");
        // sockaddr_un's sun_path is 108 bytes, the terminating NUL included (unix(7)).
        if (ep.unix_path.size() > 107) return make_error("unix socket path too long");
        return ep;
    }
    auto hp = split_authority(s);
    if (!hp) return make_error(hp.error() + " in endpoint " + std::string(s));
    if (hp->second.empty()) return make_error("endpoint needs a port: " + std::string(s));
    if (!valid_port(hp->second)) return make_error("bad port in endpoint: " + std::string(s));
    if (!is_numeric_host(hp->first)) {
        return make_error("endpoint host must be a numeric address: " + hp->first);
    }
    ep.host = hp->first;
    ep.port = hp->second;
    return ep;
}

Endpoint endpoint_of(const Url& url) {
    Endpoint ep;
    ep.host = url.host;
    ep.port = url.port;
    return ep;
}

ClientOptions options_for(const Url& url, std::string ca_file, std::chrono::milliseconds timeout) {
    ClientOptions o;
    o.tls = url.scheme == "https";
    o.ca_file = std::move(ca_file);
    o.server_name = url.host;
    const bool default_port = (o.tls && url.port == "443") || (!o.tls && url.port == "80");
    o.host_header = default_port ? bracketed(url.host) : bracketed(url.host) + ":" + url.port;
    o.base_path = url.path;
    o.timeout = timeout;
    return o;
}

struct HttpClient::Impl {
    asio::io_context ioc;
    tcp::resolver resolver{ioc};
    std::optional<asio::ssl::context> ssl_ctx;
    std::string ctx_error;
    std::optional<tcp::socket> plain;
    std::optional<unix_stream::socket> local;
    std::optional<asio::ssl::stream<tcp::socket>> tls;
    beast::flat_buffer buffer;

    bool connected() const { return plain || local || tls; }
    // Only when no operation is pending (after the io_context ran dry).
    void reset() {
        plain.reset();
        local.reset();
        tls.reset();
        buffer.clear();
    }
    // Ends every pending operation with operation_aborted: the deadline and the abort fd.
    void cut() {
        boost::system::error_code ec;
        resolver.cancel();
        if (plain) plain->close(ec);
        if (local) local->close(ec);
        if (tls) tls->next_layer().close(ec);
    }

    template <typename Stream>
    asio::awaitable<void> exchange(Stream& s, http::request<http::string_body>& req,
                                   http::response_parser<http::string_body>& parser) {
        co_await http::async_write(s, req, asio::use_awaitable);
        co_await http::async_read(s, buffer, parser, asio::use_awaitable);
    }

    asio::awaitable<void> run(const Endpoint& ep, const ClientOptions& o,
                              http::request<http::string_body>& req,
                              http::response_parser<http::string_body>& parser) {
        if (!connected()) {
            if (ep.is_unix()) {
                local.emplace(ioc);
                co_await local->async_connect(unix_stream::endpoint(ep.unix_path),
                                              asio::use_awaitable);
            } else {
                auto endpoints =
                    co_await resolver.async_resolve(ep.host, ep.port, asio::use_awaitable);
                if (ssl_ctx) {
                    tls.emplace(ioc, *ssl_ctx);
                    const std::string& name = o.server_name.empty() ? ep.host : o.server_name;
                    // OpenSSL checks the name (RFC 6125) or the address in the chain's
                    // verification, so a mismatch is reported as one. SNI (RFC 6066 §3) is for
                    // names only.
                    SSL* ssl = tls->native_handle();
                    if (is_numeric_host(name)) {
                        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
                    } else {
                        SSL_set_tlsext_host_name(ssl, name.c_str());
                        SSL_set1_host(ssl, name.c_str());
                    }
                    co_await asio::async_connect(tls->next_layer(), endpoints, asio::use_awaitable);
                    co_await tls->async_handshake(asio::ssl::stream_base::client,
                                                  asio::use_awaitable);
                } else {
                    plain.emplace(ioc);
                    co_await asio::async_connect(*plain, endpoints, asio::use_awaitable);
                }
            }
        }
        if (tls) {
            co_await exchange(*tls, req, parser);
        } else if (plain) {
            co_await exchange(*plain, req, parser);
        } else {
            co_await exchange(*local, req, parser);
        }
    }
};

HttpClient::HttpClient(Endpoint endpoint, ClientOptions options)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>()) {
    if (options_.tls) {
        if (endpoint_.is_unix()) {
            impl_->ctx_error = "TLS over a unix socket is not supported";
            return;
        }
        impl_->ssl_ctx.emplace(asio::ssl::context::tls_client);
        boost::system::error_code ec;
        if (options_.ca_file.empty()) {
            impl_->ssl_ctx->set_default_verify_paths(ec);
        } else {
            impl_->ssl_ctx->load_verify_file(options_.ca_file, ec);
        }
        if (ec) impl_->ctx_error = "TLS trust store " + options_.ca_file + ": " + ec.message();
        impl_->ssl_ctx->set_verify_mode(asio::ssl::verify_peer);
        SSL_CTX_set_min_proto_version(impl_->ssl_ctx->native_handle(), TLS1_2_VERSION);
    }
}

HttpClient::HttpClient(const Url& base, std::string ca_file, std::chrono::milliseconds timeout)
    : HttpClient(endpoint_of(base), options_for(base, std::move(ca_file), timeout)) {}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& rel,
                                         const std::map<std::string, std::string>& headers,
                                         std::string body, uint64_t body_limit) {
    HttpRequest r;
    r.method = method;
    r.target = options_.base_path + rel;
    r.headers.assign(headers.begin(), headers.end());
    r.body = std::move(body);
    r.body_limit = body_limit;
    return request(r);
}

Result<HttpResponse> HttpClient::request(const HttpRequest& in, int abort_fd) {
    Impl& im = *impl_;
    const std::string where = in.method + " " +
                              (endpoint_.is_unix() ? ""
                               : options_.tls      ? "https://"
                                                   : "http://") +
                              endpoint_.display() + in.target;
    if (!im.ctx_error.empty()) return make_error(where + ": " + im.ctx_error);

    http::request<http::string_body> req;
    req.method_string(in.method);
    req.target(in.target);
    req.version(11);
    // A unix socket has no authority to name: "localhost", as curl --unix-socket sends.
    std::string host = options_.host_header;
    if (host.empty()) host = endpoint_.is_unix() ? "localhost" : endpoint_.display();
    req.set(http::field::host, host);
    req.set(http::field::user_agent, options_.user_agent);
    if (!options_.keep_alive) req.set(http::field::connection, "close");
    for (const auto& [k, v] : in.headers) req.set(k, v);
    if (!in.body.empty() || in.method == "POST" || in.method == "PUT") {
        req.body() = in.body;
        req.prepare_payload();
    }

    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = im.connected();
        http::response_parser<http::string_body> parser;
        parser.body_limit(in.body_limit);
        // RFC 9110 §9.3.2: a response to HEAD has no content, whatever Content-Length says.
        if (in.method == "HEAD") parser.skip(true);

        bool done = false, timed_out = false, aborted = false;
        std::exception_ptr failure;
        im.ioc.restart();
        asio::co_spawn(im.ioc, im.run(endpoint_, options_, req, parser), [&](std::exception_ptr e) {
            done = true;
            failure = e;
        });
        std::optional<asio::posix::stream_descriptor> abort;
        if (abort_fd >= 0) {
            const int fd = ::dup(abort_fd);  // the descriptor object closes its own copy
            if (fd >= 0) {
                abort.emplace(im.ioc, fd);
                abort->async_wait(asio::posix::descriptor_base::wait_read,
                                  [&](boost::system::error_code ec) {
                                      if (ec || done) return;
                                      aborted = true;
                                      im.cut();
                                  });
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
        while (!done && im.ioc.run_one_until(deadline) > 0) {
        }
        if (!done) {
            timed_out = true;
            im.cut();
        }
        if (abort) abort->cancel();
        im.ioc.run();  // the cut operations complete with operation_aborted

        std::string error;
        if (failure) {
            try {
                std::rethrow_exception(failure);
            } catch (const boost::system::system_error& e) {
                error = e.code().message();
            } catch (const std::exception& e) {
                error = e.what();
            }
        }
        if (timed_out) {
            im.reset();
            return make_error(
                where + ": timed out after " + std::to_string(options_.timeout.count()) + " ms",
                ErrorCode::kTimedOut);
        }
        if (aborted) {
            im.reset();
            return make_error(where + ": aborted (the abort fd became readable)",
                              ErrorCode::kAborted);
        }
        if (!error.empty()) {
            // Why a handshake failed verification ("hostname mismatch", "certificate has
            // expired"), which OpenSSL's error queue alone does not say.
            if (im.tls) {
                const long verify = SSL_get_verify_result(im.tls->native_handle());
                if (verify != X509_V_OK) {
                    error += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
                }
            }
            im.reset();
            // A keep-alive connection may have been closed by the server since the last
            // request: retry once on a fresh connection.
            if (reused) continue;
            return make_error(where + ": " + error);
        }
        auto res = parser.release();
        HttpResponse out;
        out.status = static_cast<int>(res.result_int());
        for (const auto& f : res) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            out.headers[name] = std::string(f.value());
        }
        out.body = std::move(res.body());
        if (!options_.keep_alive || !res.keep_alive()) im.reset();
        return out;
    }
    return make_error(where + ": failed twice");
}

}  // namespace anyedge::net
