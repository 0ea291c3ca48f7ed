// Snapshot: one immutable, fully built version of the site, shared by all workers.
//
// Every file is loaded once (small files copied into memory, large ones mmapped) with its
// response header block serialized up front, so that serving a hit is a lookup plus one send.
// Invariants: a Snapshot never changes after build(); it is held by shared_ptr<const Snapshot>
// and every response in flight keeps its snapshot alive, so a generation switch never frees
// bytes that are being sent. Safe to read from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "edge/cache/mapped_file.h"
#include "edge/http/response_head.h"
#include "origin-sync/base/result.h"

namespace anyedge::cache {

struct CacheRule {
    std::string pattern;        // fnmatch(3) pattern on the URL path, e.g. "/assets/*", "*.html"
    std::string cache_control;  // header value
};

struct SnapshotOptions {
    std::string node_name;  // sent as X-Served-By when not empty
    std::vector<std::pair<std::string, std::string>> extra_headers;
    std::vector<CacheRule> cache_rules;  // first match wins; defaults apply after
    size_t mmap_threshold = 256 * 1024;  // files at least this large are mmapped
};

// One representation of a file: identity or a content-coding (br, zstd, gzip).
struct Representation {
    std::string encoding;  // "" for identity
    std::string_view body;
    std::string etag;  // strong, quoted hex SHA-256 of exactly these bytes
    // "HTTP/1.1 200 OK\r\n" + every static header line (ends with "\r\n", no blank line);
    // Date and Connection are added per response.
    std::string head_200;
    // head_200 as HTTP/2 and HTTP/3 fields, translated once here rather than per response.
    http::HeadFields fields_200;
    // Header lines a 304 repeats (RFC 9110 §15.4.5): ETag, Cache-Control, Vary, ...
    std::string validators;
};

struct Entry {
    std::string path;  // URL path, e.g. "/post/x/index.html"
    std::string content_type;
    std::string cache_control;
    int64_t last_modified = 0;  // unix seconds
    std::string last_modified_text;
    Representation identity;
    std::vector<Representation> encoded;  // br, zstd, gzip; empty when none is smaller
    bool compressed_at_load = false;      // `encoded` was made by the loader (--compress)
    // Lines every response about this entry carries (Vary, nosniff, X-Served-By, extras).
    std::string common_headers;
};

enum class LookupKind { kFile, kRedirectToSlash, kNotFound };

struct Lookup {
    LookupKind kind = LookupKind::kNotFound;
    const Entry* entry = nullptr;
};

// A file's bytes before they become an Entry: owned memory or a mapping.
using Bytes = std::variant<std::string, MappedFile>;

inline std::string_view view_of(const Bytes& b) {
    if (const auto* s = std::get_if<std::string>(&b)) return *s;
    return std::get<MappedFile>(b).bytes();
}

struct FileSpec {
    std::string path;  // URL path starting with '/'
    std::string content_type;
    int64_t last_modified = 0;
    std::string cache_control;  // empty: chosen from options.cache_rules and the defaults
    Bytes bytes;
    std::vector<std::pair<std::string, Bytes>> encodings;  // "br"/"zstd"/"gzip" -> bytes
    // Precomputed hex SHA-256 of bytes / encodings (from a manifest); empty: computed here.
    std::string sha256_hex;
    std::vector<std::string> encoding_sha256_hex;
    bool compressed_at_load = false;  // encodings made by the loader, not read from siblings
};

class Snapshot : public std::enable_shared_from_this<Snapshot> {
  public:
    // Builds a snapshot; takes ownership of the bytes.
    static std::shared_ptr<const Snapshot> build(std::vector<FileSpec> files,
                                                 const SnapshotOptions& options,
                                                 uint64_t generation);

    Lookup find(std::string_view path) const;
    const Entry* not_found_page() const { return not_found_; }
    uint64_t generation() const { return generation_; }
    size_t file_count() const { return entries_.size(); }
    const std::string& common_headers() const { return common_headers_; }

  private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
    std::unordered_set<std::string, Hash, std::equal_to<>> directories_;
    std::deque<Bytes> storage_;  // deque: stable addresses (views point into small strings)
    const Entry* not_found_ = nullptr;
    uint64_t generation_ = 0;
    std::string common_headers_;  // X-Served-By, nosniff, extras: for generated responses
};

}  // namespace anyedge::cache
