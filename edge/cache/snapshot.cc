#include "edge/cache/snapshot.h"

#include "edge/http/http_date.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/media_types.h"
#include "origin-sync/content/site_rules.h"

#include <fnmatch.h>

namespace anyedge::cache {
namespace {

void add_line(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::build(std::vector<FileSpec> files,
                                                const SnapshotOptions& options,
                                                uint64_t generation) {
    auto snap = std::make_shared<Snapshot>();
    snap->generation_ = generation;

    std::string common;
    add_line(common, "X-Content-Type-Options", "nosniff");
    if (!options.node_name.empty()) add_line(common, "X-Served-By", options.node_name);
    for (const auto& [name, value] : options.extra_headers) add_line(common, name, value);
    snap->common_headers_ = common;

    for (auto& spec : files) {
        Entry e;
        e.path = spec.path;
        e.content_type = spec.content_type;
        e.last_modified = spec.last_modified;
        e.last_modified_text = http::format_http_date(spec.last_modified);
        e.cache_control = spec.cache_control;
        if (e.cache_control.empty()) {
            for (const auto& rule : options.cache_rules) {
                if (fnmatch(rule.pattern.c_str(), spec.path.c_str(), 0) == 0) {
                    e.cache_control = rule.cache_control;
                    break;
                }
            }
        }
        if (e.cache_control.empty()) e.cache_control = cache_control_for(e.path, e.content_type);

        const bool has_variants = !spec.encodings.empty();
        e.common_headers = common;
        if (has_variants) add_line(e.common_headers, "Vary", "Accept-Encoding");

        auto make_rep = [&](std::string encoding, Bytes bytes, const std::string& hex) {
            Representation r;
            r.encoding = std::move(encoding);
            snap->storage_.push_back(std::move(bytes));
            r.body = view_of(snap->storage_.back());
            r.etag = etag_for(hex.empty() ? sha256_hex(r.body) : hex);
            std::string validators;
            add_line(validators, "ETag", r.etag);
            add_line(validators, "Last-Modified", e.last_modified_text);
            add_line(validators, "Cache-Control", e.cache_control);
            r.validators = validators + e.common_headers;
            std::string head = "HTTP/1.1 200 OK\r\n";
            add_line(head, "Content-Type", e.content_type);
            add_line(head, "Content-Length", std::to_string(r.body.size()));
            if (!r.encoding.empty()) add_line(head, "Content-Encoding", r.encoding);
            add_line(head, "Accept-Ranges", "bytes");
            head += r.validators;
            r.head_200 = std::move(head);
            r.fields_200 = http::HeadFields::of(r.head_200);
            return r;
        };
        e.identity = make_rep("", std::move(spec.bytes), spec.sha256_hex);
        e.compressed_at_load = spec.compressed_at_load;
        for (size_t i = 0; i < spec.encodings.size(); ++i) {
            auto& [enc, bytes] = spec.encodings[i];
            const std::string hex =
                i < spec.encoding_sha256_hex.size() ? spec.encoding_sha256_hex[i] : "";
            e.encoded.push_back(make_rep(enc, std::move(bytes), hex));
        }

        // Every ancestor of a file is a directory that may be asked for without its slash.
        for (auto pos = e.path.find('/', 1); pos != std::string::npos;
             pos = e.path.find('/', pos + 1)) {
            snap->directories_.insert(e.path.substr(0, pos));
        }
        snap->entries_.emplace(e.path, std::move(e));
    }
    if (auto it = snap->entries_.find(std::string_view("/404.html")); it != snap->entries_.end()) {
        snap->not_found_ = &it->second;
    }
    return snap;
}

Lookup Snapshot::find(std::string_view path) const {
    Lookup result;
    if (path.empty() || path.front() != '/') return result;
    if (path.back() == '/') {
        if (auto it = entries_.find(std::string_view(resolve_index(path))); it != entries_.end()) {
            result.kind = LookupKind::kFile;
            result.entry = &it->second;
        }
        return result;
    }
    if (auto it = entries_.find(path); it != entries_.end()) {
        result.kind = LookupKind::kFile;
        result.entry = &it->second;
        return result;
    }
    if (directories_.find(path) != directories_.end()) result.kind = LookupKind::kRedirectToSlash;
    return result;
}

}  // namespace anyedge::cache
