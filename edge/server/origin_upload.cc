#include "edge/server/origin_upload.h"

#include <system_error>

#include "edge/http/path.h"
#include "edge/server/bearer_token.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/store.h"

namespace anyedge::server {
namespace {

bool all_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

}  // namespace

UploadKind classify_upload(std::string_view p) {
    // objects/sha256/ab/<62 hex>: the layout of DESIGN.md "Content format".
    if (p.starts_with("objects/sha256/") && p.size() == 15 + 2 + 1 + 62 && p[17] == '/' &&
        all_hex(p.substr(15, 2)) && all_hex(p.substr(18))) {
        return UploadKind::kBlob;
    }
    if (p.starts_with("generations/")) {
        std::string_view name = p.substr(12);
        if (name.ends_with(".json.sig")) {
            name.remove_suffix(9);
        } else if (name.ends_with(".json")) {
            name.remove_suffix(5);
        } else {
            return UploadKind::kRefused;
        }
        return all_digits(name) ? UploadKind::kManifest : UploadKind::kRefused;
    }
    if (p == "current" || p == "current.sig" || p == "next" || p == "next.sig") {
        return UploadKind::kPointer;
    }
    // The fleet certificate bundle and the issuer's status (origin-sync/acme/cert_bundle.h):
    // small signed documents, like the pointers.
    if (p == "certs/bundle.json" || p == "certs/bundle.json.sig" || p == "certs/issuer.json" ||
        p == "certs/issuer.json.sig") {
        return UploadKind::kPointer;
    }
    if (p == "public.pem") return UploadKind::kPublicKey;
    return UploadKind::kRefused;
}

UploadTarget upload_target(std::string_view request_target) {
    const http::PathResult path = http::normalize_target(request_target);
    if (!path.ok || path.target.has_query) return {true, UploadKind::kRefused, {}};
    std::string rel = path.target.path.substr(1);
    const UploadKind kind = classify_upload(rel);
    return {false, kind, std::move(rel)};
}

OriginUpload::OriginUpload(std::filesystem::path root, std::string token,
                           std::function<Result<uint64_t>()> reload)
    : root_(std::move(root)), token_(std::move(token)), reload_(std::move(reload)) {}

bool OriginUpload::wants_body(const http::Request& request) const {
    // Only an upload that will be stored is worth reading into memory (up to the body limit):
    // a wrong token or path is answered from the header alone.
    if (request.method_name != "PUT" || !bearer_token_matches(request.authorization, token_)) {
        return false;
    }
    const UploadTarget t = upload_target(request.target);
    return !t.bad_path && t.kind != UploadKind::kRefused;
}

ResponseInfo OriginUpload::handle(const http::Request& request, const cache::Snapshot& snapshot,
                                  const ResponseContext& context, ResponseSink& out) {
    if (request.method_name == "PUT") {
        // A PUT refused from its header, or one without a body: answer it, and close rather
        // than read a body that will not be stored.
        ResponseContext last = context;
        last.force_close = true;
        return handle_with_body(request, {}, snapshot, last, out);
    }
    return respond(request, snapshot, context, out);
}

ResponseInfo OriginUpload::handle_with_body(const http::Request& req, std::string_view body,
                                            const cache::Snapshot&, const ResponseContext& ctx,
                                            ResponseSink& out) {
    if (!bearer_token_matches(req.authorization, token_)) {
        return respond_with(401, kText, "401 Unauthorized: bad or missing bearer token\n",
                            "WWW-Authenticate: Bearer\r\n", req, ctx, out);
    }
    const UploadTarget upload = upload_target(req.target);
    if (upload.bad_path) {
        return respond_with(400, kText, "400 Bad Request: bad upload path\n", {}, req, ctx, out);
    }
    const std::string& rel = upload.rel;
    const UploadKind kind = upload.kind;
    if (kind == UploadKind::kRefused) {
        return respond_with(403, kText, "403 Forbidden: not a file an origin stores\n", {}, req,
                            ctx, out);
    }
    if (kind == UploadKind::kBlob) {
        // A blob is named by the hash of its bytes: anything else is corrupt or forged.
        const std::string want = rel.substr(15, 2) + rel.substr(18);
        if (sha256_hex(body) != want) {
            return respond_with(400, kText, "400 Bad Request: blob does not match its hash\n", {},
                                req, ctx, out);
        }
    }
    const std::filesystem::path target = root_ / rel;
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
        return respond_with(500, kText, "500 cannot create " + rel + ": " + ec.message() + "\n", {},
                            req, ctx, out);
    }
    if (auto st = atomic_write_file(target, body); !st) {
        return respond_with(500, kText, "500 " + st.error() + "\n", {}, req, ctx, out);
    }
    // Pointers, manifests and the key are what followers ask for next: serve them now.
    if (kind != UploadKind::kBlob && reload_) {
        if (auto r = reload_(); !r) {
            return respond_with(500, kText,
                                "500 stored, but the reload failed: " + r.error() + "\n", {}, req,
                                ctx, out);
        }
    }
    return respond_with(201, kText, "201 Created\n", {}, req, ctx, out);
}

}  // namespace anyedge::server
