// The on-disk store: path layout of a state directory (origin and node share it), durable
// atomic writes, and loading the live generation.
//
//   objects/sha256/ab/cdef...      blobs named by the SHA-256 of their bytes
//   generations/<n>.json[.sig]     manifests and their Ed25519 signatures
//   current, current.sig           the signed pointer to the live generation
//   next, next.sig                 the signed pointer to a generation being staged (phase 1)
//
// Writers (cdnctl, cdn-sync) only ever make a file visible by rename(2) after fsync, so a
// reader (cdn-edge) sees either the old or the new complete file. A blob or manifest is
// written before anything that names it. Functions here are blocking file I/O, any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "origin-sync/base/file_io.h"
#include "origin-sync/base/result.h"
#include "origin-sync/content/manifest.h"

namespace anyedge {

class VerifyKey;

namespace fs = std::filesystem;

// root/objects/sha256/ab/cdef... for sha = "abcdef..." (64 hex).
fs::path blob_path(const fs::path& root, std::string_view sha);
fs::path manifest_path(const fs::path& root, uint64_t generation);
fs::path manifest_sig_path(const fs::path& root, uint64_t generation);
fs::path current_file_path(const fs::path& root);
fs::path current_sig_path(const fs::path& root);
fs::path next_file_path(const fs::path& root);
fs::path next_sig_path(const fs::path& root);
// Relative URL paths of the same objects, for fetching them from an origin over HTTP.
std::string blob_url_path(std::string_view sha);
std::string manifest_url_path(uint64_t generation);

// Generation numbers that have a manifest under root/generations, ascending.
std::vector<uint64_t> list_generations(const fs::path& root);

struct Generation {
    Manifest manifest;
    std::string manifest_bytes;  // exact bytes, as hashed and signed
};

struct LiveGeneration {
    CurrentPointer current;
    Manifest manifest;
    std::string manifest_bytes;
};

// Loads generations/<n>.json and checks that it parses and carries generation n. When
// `expected_sha256` is given the bytes must hash to it. When `key` is given the manifest's .sig
// must verify.
Result<Generation> load_generation(const fs::path& state_dir, uint64_t generation,
                                   const std::string* expected_sha256 = nullptr,
                                   const VerifyKey* key = nullptr);

// Reads `current`, then the manifest it names, checks the manifest's hash against the pointer
// and its generation number. With `key`, also verifies current.sig and the manifest's .sig.
// Does not read blobs (see check_blobs).
Result<LiveGeneration> load_live_generation(const fs::path& state_dir,
                                            const VerifyKey* key = nullptr);

// The generation that was live before `live` (its manifest's parent), for skew protection: the
// edge keeps serving paths missing from the live generation from this one during a grace.
// Errors when there is no parent (first generation) or its manifest is not on disk.
Result<Generation> load_previous_generation(const fs::path& state_dir, const Manifest& live,
                                            const VerifyKey* key = nullptr);

// Every blob the manifest names (identity and encodings) as a list of unique hashes.
std::vector<std::string> referenced_blobs(const Manifest& m);

// OK when every blob the manifest names is present; identity blobs must have the listed size.
// Does not hash (that is done once, when the blob is written).
Status check_blobs(const fs::path& root, const Manifest& m);

}  // namespace anyedge
