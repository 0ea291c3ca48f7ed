#include "origin-sync/replicate/http_client.h"

#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

namespace anyedge::replicate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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
    if (authority.front() == '[') {  // IPv6 literal, RFC 3986 section 3.2.2
        size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return make_error("bad IPv6 host in " + std::string(text));
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (after.starts_with(':')) u.port = std::string(after.substr(1));
    } else {
        size_t colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
    }
    if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
    if (u.host.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) {
        return make_error("bad host or port in URL " + std::string(text));
    }
    return u;
}

struct HttpClient::Impl {
    asio::io_context ioc;
    std::optional<asio::ssl::context> ssl_ctx;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    HttpClientOptions options;
    std::string ctx_error;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    bool connected() const { return plain.has_value() || tls.has_value(); }
    void reset() {
        plain.reset();
        tls.reset();
        buffer.clear();
    }
};

HttpClient::HttpClient(Url base, HttpClientOptions options)
    : base_(std::move(base)), impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    if (base_.scheme == "https") {
        impl_->ssl_ctx.emplace(asio::ssl::context::tls_client);
        boost::system::error_code ec;
        if (impl_->options.ca_file.empty()) {
            impl_->ssl_ctx->set_default_verify_paths(ec);
        } else {
            impl_->ssl_ctx->load_verify_file(impl_->options.ca_file, ec);
        }
        if (ec) impl_->ctx_error = "TLS trust store: " + ec.message();
        impl_->ssl_ctx->set_verify_mode(asio::ssl::verify_peer);
        SSL_CTX_set_min_proto_version(impl_->ssl_ctx->native_handle(), TLS1_2_VERSION);
    }
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& rel,
                                         const std::map<std::string, std::string>& headers,
                                         std::string body, uint64_t body_limit) {
    Impl& im = *impl_;
    if (!im.ctx_error.empty()) return make_error(im.ctx_error);
    http::request<http::string_body> req;
    req.method(http::string_to_verb(method));
    req.target(base_.path + rel);
    req.version(11);
    bool default_port = (base_.scheme == "https" && base_.port == "443") ||
                        (base_.scheme == "http" && base_.port == "80");
    std::string host =
        base_.host.find(':') != std::string::npos ? "[" + base_.host + "]" : base_.host;
    req.set(http::field::host, default_port ? host : host + ":" + base_.port);
    req.set(http::field::user_agent, "anyedge-origin-sync");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT") {
        req.body() = std::move(body);
        req.prepare_payload();
    }

    // A keep-alive connection may have been closed by the server since the last request:
    // retry once on a fresh connection when the reused one fails.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = im.connected();
        std::optional<std::string> error;
        ErrorCode code = ErrorCode::kFailed;
        HttpResponse out;
        auto op = [&]() -> asio::awaitable<void> {
            try {
                if (!im.connected()) {
                    tcp::resolver resolver(im.ioc);
                    auto endpoints = co_await resolver.async_resolve(base_.host, base_.port,
                                                                     asio::use_awaitable);
                    if (im.ssl_ctx) {
                        im.tls.emplace(im.ioc, *im.ssl_ctx);
                        // SNI (RFC 6066 section 3) and certificate name check for the host.
                        SSL_set_tlsext_host_name(im.tls->native_handle(), base_.host.c_str());
                        im.tls->set_verify_callback(asio::ssl::host_name_verification(base_.host));
                    } else {
                        im.plain.emplace(im.ioc);
                    }
                    im.lowest().expires_after(im.options.timeout);
                    co_await im.lowest().async_connect(endpoints, asio::use_awaitable);
                    if (im.tls) {
                        im.lowest().expires_after(im.options.timeout);
                        co_await im.tls->async_handshake(asio::ssl::stream_base::client,
                                                         asio::use_awaitable);
                    }
                }
                http::response_parser<http::string_body> parser;
                parser.body_limit(body_limit);
                // RFC 9110 §9.3.2: a response to HEAD has no content, whatever
                // Content-Length says.
                if (req.method() == http::verb::head) parser.skip(true);
                im.lowest().expires_after(im.options.timeout);
                if (im.tls) {
                    co_await http::async_write(*im.tls, req, asio::use_awaitable);
                    co_await http::async_read(*im.tls, im.buffer, parser, asio::use_awaitable);
                } else {
                    co_await http::async_write(*im.plain, req, asio::use_awaitable);
                    co_await http::async_read(*im.plain, im.buffer, parser, asio::use_awaitable);
                }
                auto res = parser.release();
                out.status = static_cast<int>(res.result_int());
                for (const auto& f : res) {
                    std::string name(f.name_string());
                    for (char& c : name) c = static_cast<char>(std::tolower(c));
                    out.headers[name] = std::string(f.value());
                }
                out.body = std::move(res.body());
                if (!res.keep_alive()) im.reset();
            } catch (const boost::system::system_error& e) {
                if (e.code() == beast::error::timeout) code = ErrorCode::kTimedOut;
                error = e.code().message();
                im.reset();
            } catch (const std::exception& e) {
                error = e.what();
                im.reset();
            }
        };
        asio::co_spawn(im.ioc, op(), asio::detached);
        im.ioc.restart();
        im.ioc.run();
        if (!error) return out;
        if (!reused) {
            return make_error(method + " " + base_.scheme + "://" + base_.host + ":" + base_.port +
                                  base_.path + rel + ": " + *error,
                              code);
        }
    }
    return make_error("unreachable");
}

}  // namespace anyedge::replicate
