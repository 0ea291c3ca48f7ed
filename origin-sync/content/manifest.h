// Manifest and `current` pointer: the on-disk generation format shared by the origin, cdn-sync
// and cdn-edge (DESIGN.md "Content format").
//
// A manifest maps site paths to content-addressed blobs. Paths are stored without a leading
// slash ("post/x/index.html") and are validated so that every accepted path is one the edge can
// serve and none can escape a directory. Header-bound strings (type, cache-control) are checked
// for control characters, so a manifest cannot inject response headers.
//
// serialize_*() produce canonical bytes (sorted keys, no whitespace): the bytes that are hashed
// and signed. parse_*() are strict: unknown or mistyped fields are errors naming the field.
// Pure functions, no I/O, safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge {

struct FileEntry {
    std::string sha256;  // 64 lowercase hex: hash of the identity bytes
    uint64_t size = 0;   // identity size in bytes
    std::string type;    // Content-Type, with "; charset=utf-8" on text types
    std::map<std::string, std::string> encodings;  // "br"/"zstd"/"gzip" -> sha256 of it
    std::string cache_control;
    int64_t modified = 0;  // unix seconds, for Last-Modified

    bool operator==(const FileEntry&) const = default;
};

struct Manifest {
    uint64_t generation = 0;
    uint64_t parent = 0;  // generation live at the origin when this one was published; 0: none
    int64_t created = 0;  // unix seconds
    std::map<std::string, FileEntry> files;  // key: site path without leading slash

    bool operator==(const Manifest&) const = default;
};

struct CurrentPointer {
    uint64_t generation = 0;
    std::string manifest_sha256;  // hash of the manifest's exact bytes
    int64_t issued = 0;           // unix seconds
    int64_t expires = 0;          // unix seconds; after this a node knows its content is stale

    bool operator==(const CurrentPointer&) const = default;
};

// Content encodings a manifest may list (the edge negotiates exactly these).
inline constexpr std::string_view kEncodings[] = {"br", "zstd", "gzip"};

// RFC 3629 UTF-8 (no overlong forms, no surrogates).
bool is_valid_utf8(std::string_view s);

// True for 64 lowercase hex characters.
bool is_sha256_hex(std::string_view s);

// OK when `path` (no leading slash) is a site path the edge can serve: non-empty, at most 1024
// bytes, valid UTF-8, no empty, "." or ".." segment, no leading or trailing "/", no backslash, NUL,
// control character, '?' or '#'. The error message says what is wrong, not where (callers add
// that).
Status validate_site_path(std::string_view path);

Result<Manifest> parse_manifest(std::string_view json);
std::string serialize_manifest(const Manifest& m);

Result<CurrentPointer> parse_current(std::string_view json);
std::string serialize_current(const CurrentPointer& c);

}  // namespace anyedge
