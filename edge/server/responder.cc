#include "edge/server/responder.h"

#include <string>

#include "edge/http/accept_encoding.h"
#include "edge/http/conditional.h"
#include "edge/http/path.h"
#include "edge/http/range.h"
#include "origin-sync/content/acme.h"

namespace anyedge::server {
namespace {

constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";

void add_line(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

void status_line(std::string& out, int status) {
    out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
    out.append(status_text(status)).append("\r\n");
}

// RFC 9112 §9.3: HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with "keep-alive".
bool finish_head(std::string& head, const http::Request& req, const ResponseContext& ctx) {
    const bool keep = req.keep_alive && !ctx.force_close;
    head.append(ctx.date_line);
    head.append(ctx.extra_headers);
    if (!keep) {
        head.append("Connection: close\r\n");
    } else if (req.version < 11) {
        head.append("Connection: keep-alive\r\n");
    }
    head.append("\r\n");
    return keep;
}

// Percent-encodes a decoded path for a Location header (RFC 3986 §2.1: pchar plus '/').
std::string encode_path(std::string_view path) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : path) {
        const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') ||
                          std::string_view("-._~/!$&'()*+,;=:@").find(static_cast<char>(c)) !=
                              std::string_view::npos;
        if (safe) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

ResponseInfo small_response(int status, const http::Request& req, std::string_view extra,
                            std::string_view body_type, std::string_view body,
                            const cache::Snapshot* snap, const ResponseContext& ctx,
                            ResponseSink& out) {
    std::string head;
    head.reserve(256 + body.size());
    status_line(head, status);
    if (!body_type.empty()) add_line(head, "Content-Type", body_type);
    add_line(head, "Content-Length", std::to_string(body.size()));
    head.append(extra);
    if (snap) head.append(snap->common_headers());
    ResponseInfo info;
    info.status = status;
    info.keep_alive = finish_head(head, req, ctx);
    if (req.method != http::Method::kHead) {
        head.append(body);
        info.body_bytes = body.size();
    }
    out.copy(head);
    return info;
}

void copy_lines(ResponseSink& out, std::string_view text, const http::HeadFields* fields) {
    if (fields != nullptr) {
        out.copy_prebuilt(text, *fields);
    } else {
        out.copy(text);
    }
}

// Per-response lines after the static ones: Date, listener extras, Connection, blank line.
bool finish_to_sink(ResponseSink& out, const http::Request& req, const ResponseContext& ctx) {
    const bool keep = req.keep_alive && !ctx.force_close;
    copy_lines(out, ctx.date_line, ctx.date_fields);
    copy_lines(out, ctx.extra_headers, ctx.extra_fields);
    if (!keep) {
        out.copy("Connection: close\r\n\r\n");
    } else if (req.version < 11) {
        out.copy("Connection: keep-alive\r\n\r\n");
    } else {
        out.copy("\r\n");
    }
    return keep;
}

// RFC 9110 §12.5.3: pick br, zstd or gzip when the client accepts it (the smallest of equals). A
// Range request always gets the identity representation, so a range never applies to bytes the
// client did not ask for.
const cache::Representation& choose_representation(const cache::Entry& e,
                                                   const http::Request& req) {
    if (e.encoded.empty() || req.accept_encoding.empty() || !req.range.empty()) return e.identity;
    http::CodingSet available;
    available.add(http::ContentCoding::identity, e.identity.body.size());
    for (const auto& rep : e.encoded) {
        if (const auto coding = http::content_coding_of(rep.encoding)) {
            available.add(*coding, rep.body.size());
        }
    }
    const auto chosen = http::choose_content_coding(req.accept_encoding, available);
    if (!chosen || *chosen == http::ContentCoding::identity) return e.identity;
    const std::string_view token = http::content_coding_token(*chosen);
    for (const auto& rep : e.encoded) {
        if (rep.encoding == token) return rep;
    }
    return e.identity;
}

ResponseInfo send_partial(const cache::Entry& e, const cache::Representation& rep,
                          const std::vector<http::ByteRange>& ranges, const http::Request& req,
                          const ResponseContext& ctx, ResponseSink& out,
                          const cache::Snapshot& snap) {
    const uint64_t length = rep.body.size();
    std::string head = "HTTP/1.1 206 Partial Content\r\n";
    ResponseInfo info;
    info.status = 206;
    const bool with_body = req.method != http::Method::kHead;
    if (ranges.size() == 1) {
        const http::ByteRange& r = ranges.front();
        add_line(head, "Content-Type", e.content_type);
        add_line(head, "Content-Length", std::to_string(r.size()));
        add_line(head, "Content-Range", http::content_range(r, length));
        head.append("Accept-Ranges: bytes\r\n").append(rep.validators);
        out.copy(head);
        info.keep_alive = finish_to_sink(out, req, ctx);
        if (with_body) {
            out.reference(rep.body.substr(r.first, r.size()), snap);
            info.body_bytes = r.size();
        }
        return info;
    }
    // The boundary comes from the ETag so that every node sends identical bytes.
    const std::string boundary = "anyedge-" + rep.etag.substr(1, 24);
    const http::MultipartBody mp =
        http::build_multipart_byteranges(ranges, e.content_type, length, boundary);
    add_line(head, "Content-Type", mp.content_type);
    add_line(head, "Content-Length", std::to_string(mp.content_length));
    head.append("Accept-Ranges: bytes\r\n").append(rep.validators);
    out.copy(head);
    info.keep_alive = finish_to_sink(out, req, ctx);
    if (with_body) {
        for (const auto& part : mp.parts) {
            out.copy(part.header);
            out.reference(rep.body.substr(part.range.first, part.range.size()), snap);
        }
        out.copy(mp.trailer);
        info.body_bytes = mp.content_length;
    }
    return info;
}

ResponseInfo send_entry(const cache::Entry& e, const http::Request& req, const ResponseContext& ctx,
                        ResponseSink& out, const cache::Snapshot& snap) {
    const cache::Representation& rep = choose_representation(e, req);
    ResponseInfo info;

    const bool conditional = !req.if_match.empty() || !req.if_none_match.empty() ||
                             !req.if_modified_since.empty() || !req.if_unmodified_since.empty();
    if (conditional) {
        http::ConditionalFields fields{req.if_match, req.if_none_match, req.if_modified_since,
                                       req.if_unmodified_since};
        const http::Precondition pc = http::evaluate_preconditions(
            http::MethodClass::get_or_head, fields, http::Validators{rep.etag, e.last_modified});
        if (pc == http::Precondition::not_modified) {
            // RFC 9110 §15.4.5: a 304 carries the validators and caching headers, no body.
            out.copy("HTTP/1.1 304 Not Modified\r\n");
            out.copy(rep.validators);
            info.status = 304;
            info.keep_alive = finish_to_sink(out, req, ctx);
            return info;
        }
        if (pc == http::Precondition::precondition_failed) {
            return small_response(412, req, {}, "text/plain; charset=utf-8",
                                  "412 Precondition Failed\n", &snap, ctx, out);
        }
    }

    if (!req.range.empty() &&
        (req.if_range.empty() || http::if_range_allows(req.if_range, rep.etag, e.last_modified))) {
        const http::RangeDecision d = http::evaluate_range(req.range, rep.body.size());
        if (d.outcome == http::RangeOutcome::partial) {
            return send_partial(e, rep, d.ranges, req, ctx, out, snap);
        }
        if (d.outcome == http::RangeOutcome::unsatisfiable) {
            std::string extra;
            add_line(extra, "Content-Range", http::unsatisfied_content_range(rep.body.size()));
            extra.append(rep.validators);
            return small_response(416, req, extra, "text/plain; charset=utf-8",
                                  "416 Range Not Satisfiable\n", nullptr, ctx, out);
        }
    }

    // The hot path: the prebuilt head, then the per-response lines, straight into the sink.
    out.copy_prebuilt(rep.head_200, rep.fields_200);
    info.status = 200;
    info.keep_alive = finish_to_sink(out, req, ctx);
    if (req.method != http::Method::kHead && !rep.body.empty()) {
        out.reference(rep.body, snap);
        info.body_bytes = rep.body.size();
    }
    return info;
}

// The 404 page: the file's bytes with a 404 status line, revalidated every time.
ResponseInfo send_not_found_page(const cache::Entry& e, const http::Request& req,
                                 const ResponseContext& ctx, ResponseSink& out,
                                 const cache::Snapshot& snap) {
    std::string head;
    status_line(head, 404);
    add_line(head, "Content-Type", e.content_type);
    add_line(head, "Content-Length", std::to_string(e.identity.body.size()));
    add_line(head, "Cache-Control", "no-cache");
    head.append(e.common_headers);
    out.copy(head);
    ResponseInfo info;
    info.status = 404;
    info.keep_alive = finish_to_sink(out, req, ctx);
    if (req.method != http::Method::kHead && !e.identity.body.empty()) {
        out.reference(e.identity.body, snap);
        info.body_bytes = e.identity.body.size();
    }
    return info;
}

}  // namespace

ResponseInfo respond_with(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers, const http::Request& request,
                          const ResponseContext& context, ResponseSink& out) {
    return small_response(status, request, extra_headers, content_type, body, nullptr, context,
                          out);
}

std::string_view status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 416:
            return "Range Not Satisfiable";
        case 425:
            return "Too Early";
        case 431:
            return "Request Header Fields Too Large";
        case 401:
            return "Unauthorized";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

ResponseInfo respond_error(int status, std::string_view reason, const cache::Snapshot* snapshot,
                           const ResponseContext& context, ResponseSink& out) {
    http::Request req;
    req.method = http::Method::kGet;
    req.keep_alive = false;
    std::string body;
    body.append(std::to_string(status)).append(" ").append(status_text(status));
    if (!reason.empty()) body.append(": ").append(reason);
    body.append("\n");
    return small_response(status, req, {}, "text/plain; charset=utf-8", body, snapshot, context,
                          out);
}

ResponseInfo respond(const http::Request& req, const cache::Snapshot& snap,
                     const ResponseContext& ctx, ResponseSink& out) {
    using http::Method;
    if (req.method == Method::kOptions) {
        std::string extra;
        add_line(extra, "Allow", kAllow);
        return small_response(204, req, extra, {}, {}, &snap, ctx, out);
    }
    if (req.method == Method::kUnrecognized) {
        return small_response(501, req, {}, "text/plain; charset=utf-8", "501 Not Implemented\n",
                              &snap, ctx, out);
    }
    if (req.method != Method::kGet && req.method != Method::kHead) {
        std::string extra;
        add_line(extra, "Allow", kAllow);
        return small_response(405, req, extra, "text/plain; charset=utf-8",
                              "405 Method Not Allowed\n", &snap, ctx, out);
    }
    if (req.target == "*") {
        return small_response(400, req, {}, "text/plain; charset=utf-8",
                              "400 Bad Request: '*' is only for OPTIONS\n", &snap, ctx, out);
    }
    const http::PathResult path = http::normalize_target(req.target);
    if (!path.ok) {
        std::string body = "400 Bad Request: ";
        body.append(http::describe(path.error)).append("\n");
        return small_response(400, req, {}, "text/plain; charset=utf-8", body, &snap, ctx, out);
    }

    if (!ctx.acme_thumbprint.empty()) {
        if (const auto token = acme_challenge_token(path.target.path)) {
            // RFC 8555 §8.3: the CA fetches the key authorization over plain HTTP, from
            // several vantage points that reach different nodes: every node answers it from
            // the account's thumbprint, with no per-challenge state, and before any redirect
            // to HTTPS. Tokens are base64url (§8.1); anything else names no challenge.
            if (!is_base64url(*token)) {
                return small_response(404, req, {}, "text/plain; charset=utf-8", "404 Not Found\n",
                                      &snap, ctx, out);
            }
            std::string extra;
            add_line(extra, "Cache-Control", "no-store");
            return small_response(200, req, extra, "application/octet-stream",
                                  key_authorization(*token, ctx.acme_thumbprint), &snap, ctx, out);
        }
    }
    if (ctx.redirect_https_port != 0) {
        // Plain HTTP on a node that serves HTTPS: send the browser to the same URL over TLS.
        std::string_view host = req.host;
        if (const auto colon = host.rfind(':');
            colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
            host = host.substr(0, colon);
        }
        std::string location = "https://";
        location.append(host.empty() ? std::string_view("localhost") : host);
        if (ctx.redirect_https_port != 443) {
            location.append(":").append(std::to_string(ctx.redirect_https_port));
        }
        location.append(encode_path(path.target.path));
        if (path.target.has_query) location.append("?").append(path.target.query);
        std::string extra;
        add_line(extra, "Location", location);
        return small_response(301, req, extra, "text/plain; charset=utf-8",
                              "301 Moved Permanently\n", &snap, ctx, out);
    }
    const cache::Lookup found = snap.find(path.target.path);
    switch (found.kind) {
        case cache::LookupKind::kFile:
            return send_entry(*found.entry, req, ctx, out, snap);
        case cache::LookupKind::kRedirectToSlash: {
            std::string location = encode_path(path.target.path) + "/";
            if (path.target.has_query) location.append("?").append(path.target.query);
            std::string extra;
            add_line(extra, "Location", location);
            add_line(extra, "Cache-Control", "public, max-age=3600");
            return small_response(301, req, extra, "text/plain; charset=utf-8",
                                  "301 Moved Permanently\n", &snap, ctx, out);
        }
        case cache::LookupKind::kNotFound:
            break;
    }
    if (ctx.fallback) {
        const cache::Lookup old = ctx.fallback->find(path.target.path);
        if (old.kind == cache::LookupKind::kFile) {
            return send_entry(*old.entry, req, ctx, out, *ctx.fallback);
        }
    }
    if (const cache::Entry* page = snap.not_found_page()) {
        return send_not_found_page(*page, req, ctx, out, snap);
    }
    return small_response(404, req, {}, "text/plain; charset=utf-8", "404 Not Found\n", &snap, ctx,
                          out);
}

}  // namespace anyedge::server
