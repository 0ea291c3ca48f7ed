// Loads a plain folder (--site DIR) into FileSpecs for Snapshot::build.
//
// Nothing outside the folder is ever loaded: symlinks are followed only when their target
// resolves inside the folder; hidden names (".git", ".env") are skipped. "x.br", "x.zst" and
// "x.gz" next to "x" become x's precompressed representations. A text file with none gets them
// made at load when `compress` is on (publish's compressors at their fast setting), so a
// browser gets br, zstd or gzip from a plain folder too; a reload reuses what the snapshot it
// replaces made for files whose bytes did not change.
#pragma once

#include <filesystem>
#include <vector>

#include "edge/cache/snapshot.h"
#include "origin-sync/base/result.h"

namespace anyedge::cache {

struct SiteLoadOptions {
    size_t mmap_threshold = 256 * 1024;  // files this large are mapped, not read
    bool compress = false;               // make br/zstd/gzip of text files with no sibling
    // The snapshot a reload replaces: a file whose bytes it served unchanged takes the variants
    // made for it then instead of compressing again (about 25 MB/s of text otherwise).
    const Snapshot* previous = nullptr;
};

Result<std::vector<FileSpec>> load_site_dir(const std::filesystem::path& dir,
                                            const SiteLoadOptions& options);

}  // namespace anyedge::cache
