// brotli (RFC 7932), zstd (RFC 8878) and gzip (RFC 1952) variants of a blob, for publish and
// for a --site folder. Deterministic: the same input always gives the same bytes (gzip header mtime
// 0), so re-publishing unchanged content produces the same variant hashes and uploads nothing.
#pragma once

#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge {

// kBest: publish, which runs once per content (brotli 11 and zstd 19, or 9 past 4 MiB; gzip 9):
// under 1 MB/s for brotli. kFast: an edge loading a folder at every start and reload (brotli
// 5, zstd 3, gzip 6): 20-60 MB/s, br output about 15% larger on the sample blog's pages.
enum class Effort { kBest, kFast };

Result<std::string> brotli_compress(std::string_view in, Effort effort = Effort::kBest);
Result<std::string> gzip_compress(std::string_view in, Effort effort = Effort::kBest);
// A single zstd frame with the content size and no dictionary. Its window is at most 8 MiB, as
// HTTP's "zstd" coding requires (RFC 9659 §3): browsers refuse larger windows.
Result<std::string> zstd_compress(std::string_view in, Effort effort = Effort::kBest);

// Inverses, used by tests and by whoever wants to check a variant.
Result<std::string> brotli_decompress(std::string_view in);
Result<std::string> gzip_decompress(std::string_view in);
Result<std::string> zstd_decompress(std::string_view in);

}  // namespace anyedge
