#include "edge/server/responder.h"

#include <string>

#include "edge/http/path.h"

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
                          (c >= '0' && c <= '9') || std::string_view("-._~/!$&'()*+,;=:@").find(
                                                        static_cast<char>(c)) != std::string_view::npos;
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

ResponseInfo send_entry(int status, const cache::Entry& e, const http::Request& req,
                        const ResponseContext& ctx, ResponseSink& out) {
    const cache::Representation& rep = e.identity;
    ResponseInfo info;
    info.status = status;
    if (status == 200) {
        // The hot path: the prebuilt head, then the per-response lines, straight into the sink.
        out.copy(rep.head_200);
        const bool keep = req.keep_alive && !ctx.force_close;
        out.copy(ctx.date_line);
        out.copy(ctx.extra_headers);
        if (!keep) {
            out.copy("Connection: close\r\n\r\n");
        } else if (req.version < 11) {
            out.copy("Connection: keep-alive\r\n\r\n");
        } else {
            out.copy("\r\n");
        }
        info.keep_alive = keep;
        if (req.method != http::Method::kHead && !rep.body.empty()) {
            out.reference(rep.body);
            info.body_bytes = rep.body.size();
        }
        return info;
    }
    std::string head;
    {
        // The 404 page: same bytes as the file, a different status line, no caching for long.
        status_line(head, status);
        add_line(head, "Content-Type", e.content_type);
        add_line(head, "Content-Length", std::to_string(rep.body.size()));
        add_line(head, "Cache-Control", "no-cache");
        head.append(e.common_headers);
    }
    info.keep_alive = finish_head(head, req, ctx);
    out.copy(head);
    if (req.method != http::Method::kHead && !rep.body.empty()) {
        out.reference(rep.body);
        info.body_bytes = rep.body.size();
    }
    return info;
}

}  // namespace

std::string_view status_text(int status) {
    switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 416: return "Range Not Satisfiable";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
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

    const cache::Lookup found = snap.find(path.target.path);
    switch (found.kind) {
        case cache::LookupKind::kFile: return send_entry(200, *found.entry, req, ctx, out);
        case cache::LookupKind::kRedirectToSlash: {
            std::string location = encode_path(path.target.path) + "/";
            if (path.target.has_query) location.append("?").append(path.target.query);
            std::string extra;
            add_line(extra, "Location", location);
            add_line(extra, "Cache-Control", "public, max-age=3600");
            return small_response(301, req, extra, "text/plain; charset=utf-8",
                                  "301 Moved Permanently\n", &snap, ctx, out);
        }
        case cache::LookupKind::kNotFound: break;
    }
    if (const cache::Entry* page = snap.not_found_page()) {
        return send_entry(404, *page, req, ctx, out);
    }
    return small_response(404, req, {}, "text/plain; charset=utf-8", "404 Not Found\n", &snap,
                          ctx, out);
}

}  // namespace anyedge::server
