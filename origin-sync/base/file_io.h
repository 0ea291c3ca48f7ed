// Whole-file reads, durable atomic writes and the bearer-token file, for every component.
// Blocking file I/O; any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge {

// Whole-file read. Refuses files larger than max_bytes (manifests and pointers are small; a
// hostile or corrupt file must not exhaust memory). A missing file is ErrorCode::kNotFound.
Result<std::string> read_file(const std::filesystem::path& path, uint64_t max_bytes = UINT64_MAX);

// Writes bytes to a temporary file next to `path`, fsyncs it, renames it over `path` and fsyncs
// the directory (rename(2) is atomic; the directory fsync makes the new name durable). The file
// gets exactly `mode` (not reduced by the umask). Creates missing parent directories.
Status atomic_write_file(const std::filesystem::path& path, std::string_view bytes,
                         mode_t mode = 0644);
Status fsync_dir(const std::filesystem::path& dir);

// A bearer token file: its first line without trailing white space; empty or missing is an
// error naming the file. At most 4 KiB is read.
Result<std::string> read_token_file(const std::filesystem::path& path);

}  // namespace anyedge
