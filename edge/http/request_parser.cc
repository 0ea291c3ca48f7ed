#include "edge/http/request_parser.h"

#include <algorithm>
#include <cstring>
#include <optional>

// GCC 12 with -fsanitize=address reports the boost::optional inside Beast's
// basic_parser::content_length_unchecked() as maybe-uninitialized: a false positive of that
// combination (the plain build does not see it), silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "edge/http/chunked_body.h"
#include "edge/http/tokens.h"

namespace anyedge::http {
namespace beast_http = boost::beast::http;
using boost::beast::error_code;

namespace {

Method method_of(beast_http::verb verb) {
    switch (verb) {
        case beast_http::verb::get:
            return Method::kGet;
        case beast_http::verb::head:
            return Method::kHead;
        case beast_http::verb::options:
            return Method::kOptions;
        case beast_http::verb::unknown:
            return Method::kUnrecognized;
        default:
            return Method::kOther;
    }
}

// RFC 9112 §6.1: a Transfer-Encoding we accept is a list whose last coding is "chunked" and
// in which "chunked" appears only once. Anything else cannot be framed safely.
bool is_final_chunked(std::string_view te) {
    bool saw_chunked = false;
    bool last_chunked = false;
    while (!te.empty()) {
        const auto comma = te.find(',');
        std::string_view item = trim_ows(te.substr(0, comma));
        te = comma == std::string_view::npos ? std::string_view{} : te.substr(comma + 1);
        if (item.empty()) continue;
        if (item.find(';') != std::string_view::npos) return false;  // no coding parameters
        last_chunked = iequals(item, "chunked");
        if (last_chunked) {
            if (saw_chunked) return false;
            saw_chunked = true;
        }
    }
    return last_chunked;
}

// Beast unfolds obs-fold and tolerates some sloppy lines; RFC 9112 §5.1/§5.2 say a server must
// reject whitespace between field name and colon, and may reject obs-fold: we reject both,
// along with bare LF, because front proxies may frame such requests differently.
std::string_view check_raw_header(std::string_view header) {
    const auto first_crlf = header.find("\r\n");
    if (first_crlf == std::string_view::npos) return "malformed request line";
    size_t pos = first_crlf + 2;
    while (pos < header.size()) {
        const auto eol = header.find("\r\n", pos);
        if (eol == std::string_view::npos) return "malformed header line";
        std::string_view line = header.substr(pos, eol - pos);
        pos = eol + 2;
        if (line.empty()) break;  // end of header block
        if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return "header line without name";
        for (size_t i = 0; i < colon; ++i) {
            const char c = line[i];
            if (c == ' ' || c == '\t') return "whitespace before colon";
        }
        if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
            return "bare CR or LF in header";
    }
    for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == '\n' && (i == 0 || header[i - 1] != '\r')) return "bare LF";
        if (header[i] == '\0') return "NUL in header";
    }
    return {};
}

class BeastRequestParser final : public beast_http::basic_parser<true> {
  public:
    explicit BeastRequestParser(Request& out) : out_(out) {}

    int host_count = 0;
    int content_length_count = 0;
    int transfer_encoding_count = 0;
    bool bad_content_length = false;
    std::string_view transfer_encoding;

  private:
    void on_request_impl(beast_http::verb verb, boost::beast::string_view method_bv,
                         boost::beast::string_view target_bv, int version, error_code&) override {
        const std::string_view method(method_bv.data(), method_bv.size());
        const std::string_view target(target_bv.data(), target_bv.size());
        out_.method = method_of(verb);
        out_.method_name = method;
        out_.target = target;
        out_.version = version;
    }

    void on_response_impl(int, boost::beast::string_view, int, error_code& ec) override {
        ec = beast_http::error::bad_method;
    }

    void on_field_impl(beast_http::field name, boost::beast::string_view,
                       boost::beast::string_view value_bv, error_code&) override {
        const std::string_view value(value_bv.data(), value_bv.size());
        using F = beast_http::field;
        switch (name) {
            case F::host:
                ++host_count;
                out_.host = value;
                break;
            case F::content_length:
                ++content_length_count;
                // RFC 9110 §8.6 lets a server fold "1, 1"; we refuse lists outright.
                if (value.empty() || value.find_first_not_of("0123456789") != value.npos) {
                    bad_content_length = true;
                }
                break;
            case F::transfer_encoding:
                ++transfer_encoding_count;
                transfer_encoding = value;
                break;
            case F::if_match:
                out_.if_match = value;
                break;
            case F::if_none_match:
                out_.if_none_match = value;
                break;
            case F::if_modified_since:
                out_.if_modified_since = value;
                break;
            case F::if_unmodified_since:
                out_.if_unmodified_since = value;
                break;
            case F::range:
                out_.range = value;
                break;
            case F::if_range:
                out_.if_range = value;
                break;
            case F::accept_encoding:
                out_.accept_encoding = value;
                break;
            case F::authorization:
                out_.authorization = value;
                break;
            case F::expect:
                out_.expect_continue = out_.version >= 11 && iequals(value, "100-continue");
                break;
            default:
                break;
        }
    }

    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    // Beast is given the header only; the body is framed by RequestParser.
    std::size_t on_body_impl(boost::beast::string_view body, error_code&) override {
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                   error_code&) override {
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    Request& out_;
};

}  // namespace

// RFC 9112 §3.2: a Host value must be an RFC 3986 authority without userinfo: reg-name,
// IPv4 or a bracketed IP literal, then an optional ":" port. Anything else (spaces, "/", "@")
// gets 400; such a value would otherwise flow into redirects and logs.
bool valid_host(std::string_view host) {
    static constexpr auto kNameChar = alnum_or("-._~!$&'()*+,;=");  // unreserved / sub-delims
    auto is_name_char = [](char c) { return kNameChar[static_cast<unsigned char>(c)]; };
    size_t i = 0;
    if (!host.empty() && host.front() == '[') {
        const size_t close = host.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (i = 1; i < close; ++i) {  // IPv6address or IPvFuture
            if (!is_name_char(host[i]) && host[i] != ':') return false;
        }
        i = close + 1;
    } else {
        while (i < host.size() && host[i] != ':') {
            if (host[i] == '%') {
                if (i + 2 >= host.size() || hex_value(host[i + 1]) < 0 ||
                    hex_value(host[i + 2]) < 0) {
                    return false;
                }
                i += 3;
            } else if (is_name_char(host[i])) {
                ++i;
            } else {
                return false;
            }
        }
    }
    if (i == host.size()) return true;
    if (host[i] != ':') return false;
    const std::string_view port = host.substr(i + 1);
    return port.find_first_not_of("0123456789") == std::string_view::npos;
}

Method method_from_name(std::string_view name) {
    return method_of(
        beast_http::string_to_verb(boost::beast::string_view(name.data(), name.size())));
}

namespace {

// RFC 9110 §4.2.4: userinfo in an http(s) URI is an error, and an absolute-form target's
// authority must be one a Host field could carry (RFC 9112 §3.2.2).
bool valid_absolute_form(std::string_view target) {
    if (target.empty() || target.front() == '/' || target == "*") return true;
    const auto sep = target.find("://");
    if (sep == std::string_view::npos) return true;  // not absolute-form: the path rules judge
    const std::string_view rest = target.substr(sep + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    return valid_host(authority);
}

}  // namespace

struct RequestParser::Impl {
    std::optional<BeastRequestParser> parser;
    bool header_done = false;
    size_t scan_from = 0;   // where the search for the header's end resumes
    size_t line_end = 0;    // offset of the request-line's LF once seen
    size_t line_start = 0;  // where the line being scanned begins
    size_t skipped = 0;     // empty lines skipped before the request-line (offsets follow them)
    std::optional<ChunkedBody> chunked;  // the body's decoder, for a chunked request
    uint64_t length_left = 0;            // Content-Length bytes still to come
    std::string* sink = nullptr;         // body bytes go here when set (uploads)
};

RequestParser::RequestParser(ParserLimits limits)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
    reset();
}

RequestParser::~RequestParser() = default;

void RequestParser::reset() {
    request_ = Request{};
    error_status_ = 0;
    error_reason_ = {};
    impl_->header_done = false;
    impl_->scan_from = 0;
    impl_->line_end = 0;
    impl_->line_start = 0;
    impl_->skipped = 0;
    impl_->chunked.reset();
    impl_->length_left = 0;
    auto& p = impl_->parser.emplace(request_);
    p.header_limit(limits_.max_header_bytes);
    p.body_limit(limits_.max_body_bytes);
}

void RequestParser::capture_body(std::string* sink) { impl_->sink = sink; }

ParseStatus RequestParser::fail(int status, std::string_view reason) {
    error_status_ = status;
    error_reason_ = reason;
    return ParseStatus::kError;
}

ParseStatus RequestParser::feed(std::string_view data, size_t& consumed) {
    consumed = 0;
    if (error_status_ != 0) return ParseStatus::kError;
    auto& p = *impl_->parser;

    if (!impl_->header_done) {
        // RFC 9112 §2.2: ignore at least one empty line before the request-line.
        size_t skipped = 0;
        while (data.substr(skipped).starts_with("\r\n") && skipped < 4) skipped += 2;
        data.remove_prefix(skipped);
        consumed = skipped;
        if (skipped != impl_->skipped) {  // the offsets of an earlier scan moved: start over
            impl_->skipped = skipped;
            impl_->scan_from = impl_->line_end = impl_->line_start = 0;
        }

        // Find the end of the header ourselves before Beast sees it: Beast consumes a
        // complete request-line even when the fields are not there yet, which would leave
        // our views pointing into bytes the caller is about to move.
        size_t header_end = 0;
        for (size_t i = impl_->scan_from; i < data.size(); ++i) {
            const char* nl =
                static_cast<const char*>(memchr(data.data() + i, '\n', data.size() - i));
            if (!nl) break;
            const size_t at = static_cast<size_t>(nl - data.data());
            if (at == 0 || data[at - 1] != '\r') return fail(400, "bare LF");
            // One field line past its own limit gets 431 even when the block would fit
            // (RFC 6585 §5; nginx's large_client_header_buffers is per line).
            if (impl_->line_end != 0 && at - 1 - impl_->line_start > limits_.max_field_bytes) {
                return fail(431, "header field too large");
            }
            if (at >= 3 && data[at - 2] == '\n' && data[at - 3] == '\r') {
                header_end = at + 1;
                break;
            }
            if (impl_->line_end == 0) impl_->line_end = at;
            impl_->line_start = at + 1;
            i = at;
        }
        // RFC 9112 §3: a request-line longer than we accept gets 414, before the header limit.
        const size_t line_len = impl_->line_end ? impl_->line_end : data.size();
        if (line_len > limits_.max_target_bytes) return fail(414, "request-line too long");
        if (header_end == 0 && impl_->line_end != 0 &&
            data.size() - impl_->line_start > limits_.max_field_bytes + 1) {
            return fail(431, "header field too large");
        }
        if (header_end == 0) {
            if (data.size() > limits_.max_header_bytes) return fail(431, "header too large");
            // Resume the scan at the end next time: no quadratic rescans on slow clients. Each
            // line end found looks back for the blank line, so no byte needs a second look.
            impl_->scan_from = data.size();
            return ParseStatus::kNeedMore;
        }
        if (header_end > limits_.max_header_bytes) return fail(431, "header too large");

        error_code ec;
        const size_t n = p.put(boost::asio::const_buffer(data.data(), header_end), ec);
        if (ec == beast_http::error::header_limit) return fail(431, "header too large");
        if (ec == beast_http::error::body_limit) return fail(413, "request body too large");
        if (ec || !p.is_header_done() || n != header_end) return fail(400, "malformed request");

        if (auto why = check_raw_header(data.substr(0, n)); !why.empty()) return fail(400, why);
        if (request_.version < 10 || request_.version >= 20) {
            return fail(505, "HTTP version not supported");
        }
        if (request_.version >= 11 && p.host_count != 1) return fail(400, "need exactly one Host");
        if (p.host_count > 1) return fail(400, "duplicate Host");
        if (p.host_count == 1 && !valid_host(request_.host)) return fail(400, "invalid Host");
        if (!valid_absolute_form(request_.target))
            return fail(400, "userinfo or bad authority in target");
        if (p.content_length_count > 1) return fail(400, "duplicate Content-Length");
        if (p.bad_content_length) return fail(400, "malformed Content-Length");
        if (p.transfer_encoding_count > 0) {
            if (request_.version < 11) return fail(400, "Transfer-Encoding on HTTP/1.0");
            if (p.content_length_count > 0)
                return fail(400, "Content-Length with Transfer-Encoding");
            if (p.transfer_encoding_count > 1) return fail(400, "repeated Transfer-Encoding");
            if (!is_final_chunked(p.transfer_encoding)) {
                return fail(400, "Transfer-Encoding other than a final chunked");
            }
        }
        request_.keep_alive = p.keep_alive();
        request_.chunked = p.chunked();
        if (auto cl = p.content_length()) request_.content_length = *cl;
        impl_->header_done = true;
        consumed = skipped + n;
        if (request_.chunked) {
            impl_->chunked.emplace(ChunkedLimits{.max_body_bytes = limits_.max_body_bytes,
                                                 .max_trailer_bytes = limits_.max_header_bytes});
            return ParseStatus::kHeaderDone;
        }
        impl_->length_left = request_.content_length.value_or(0);
        return impl_->length_left > 0 ? ParseStatus::kHeaderDone : ParseStatus::kDone;
    }

    // Body bytes, framed here (Beast saw only the header): kept in the sink or discarded.
    if (impl_->chunked) {
        const ChunkedBody::Status st = impl_->chunked->feed(data, consumed, impl_->sink);
        if (st == ChunkedBody::Status::kError) {
            return fail(impl_->chunked->error_status(), impl_->chunked->error_reason());
        }
        return st == ChunkedBody::Status::kDone ? ParseStatus::kDone : ParseStatus::kNeedMore;
    }
    const size_t n = size_t(std::min<uint64_t>(impl_->length_left, data.size()));
    if (impl_->sink) impl_->sink->append(data.data(), n);
    impl_->length_left -= n;
    consumed = n;
    return impl_->length_left == 0 ? ParseStatus::kDone : ParseStatus::kNeedMore;
}

}  // namespace anyedge::http
