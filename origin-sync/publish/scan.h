// Walks a site directory and decides, before anything is written anywhere, whether it can be
// published: every refusal of `cdnctl publish` that depends on the input is found here.
// Blocking file-system reads; no writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::publish {

struct SiteFile {
    std::string path;              // site path, no leading slash
    std::filesystem::path source;  // file to read (a symlink's target inside the site)
    uint64_t size = 0;
    int64_t modified = 0;  // unix seconds
};

// Lists the regular files under `dir`, sorted by path. Refuses (error naming the file): a
// missing or unreadable dir, an unreadable file, a symlink leading outside `dir` or dangling,
// a symlink to a directory, a special file (fifo, socket, device), a path the edge could not
// serve (validate_site_path), and a site with no files.
Result<std::vector<SiteFile>> scan_site(const std::filesystem::path& dir);

}  // namespace anyedge::publish
