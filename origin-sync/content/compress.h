// Compression for publish and for a --site folder: brotli (RFC 7932) and gzip (RFC 1952) variants of a blob.
// Deterministic: the same input always gives the same bytes (gzip header mtime 0), so
// re-publishing unchanged content produces the same variant hashes and uploads nothing.
#pragma once

#include <string>
#include <string_view>

#include "origin-sync/content/result.h"

namespace anyedge {

Result<std::string> brotli_compress(std::string_view in);
Result<std::string> gzip_compress(std::string_view in);

// Inverses, used by tests and by whoever wants to check a variant.
Result<std::string> brotli_decompress(std::string_view in);
Result<std::string> gzip_decompress(std::string_view in);

}  // namespace anyedge
