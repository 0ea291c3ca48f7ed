// Loads a plain folder (--site DIR) into FileSpecs for Snapshot::build.
//
// Nothing outside the folder is ever loaded: symlinks are followed only when their target
// resolves inside the folder; hidden names (".git", ".env") are skipped. "x.br" and "x.gz"
// next to "x" become x's precompressed representations.
#pragma once

#include <filesystem>
#include <vector>

#include "edge/cache/snapshot.h"
#include "origin-sync/content/result.h"

namespace anyedge::cache {

Result<std::vector<FileSpec>> load_site_dir(const std::filesystem::path& dir,
                                            size_t mmap_threshold);

}  // namespace anyedge::cache
