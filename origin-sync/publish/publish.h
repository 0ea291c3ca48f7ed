// `cdnctl publish` and `cdnctl rollback` as library calls.
//
// Publishing is two-phase (DESIGN.md): blobs, then the signed manifest generations/<n>.json
// and a signed `next` pointer (nodes stage: download and verify every blob), then, last, the
// signed `current` pointer (nodes flip). Every check that can refuse the publish (input
// directory, key, origin state) runs before the first write, so a refusal changes nothing at
// the origin. Blobs already at the origin are not uploaded again.
//
// Runs on the caller's thread; the progress callback is called synchronously from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "origin-sync/base/result.h"
#include "origin-sync/content/manifest.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/publish/origin.h"

namespace anyedge::publish {

struct Progress {
    enum class Phase { kHashing, kUploading, kStaging, kCommitting };
    Phase phase;
    uint64_t files_done = 0;
    uint64_t files_total = 0;
    uint64_t bytes_uploaded = 0;
    std::string item;  // the file being processed, when there is one
};
using ProgressFn = std::function<void(const Progress&)>;

struct PublishOptions {
    std::filesystem::path site_dir;
    int64_t expires_seconds = 7 * 24 * 3600;  // lifetime of the signed `current`
    int64_t stage_seconds = 0;                // pause between `next` (stage) and `current` (flip)
    // Called once `next` is at the origin, before `current` moves: waits (bounded) until the
    // fleet has staged the generation, so that the flip is only a switch on every node.
    std::function<void(uint64_t generation)> wait_staged;
    // When set, the signing key must match it (besides the origin's own public.pem).
    std::optional<VerifyKey> expected_public_key;
    ProgressFn progress;
    std::function<int64_t()> now;  // unix seconds; defaults to the system clock
};

struct PublishReport {
    uint64_t generation = 0;
    uint64_t parent = 0;
    uint64_t files = 0;
    uint64_t blobs_uploaded = 0;
    uint64_t blobs_present = 0;
    uint64_t bytes_uploaded = 0;
    std::string manifest_sha256;
};

Result<PublishReport> publish_site(const PublishOptions& opts, const SigningKey& key,
                                   Origin& origin);

struct RollbackOptions {
    std::optional<uint64_t> to;  // default: the live generation's parent
    int64_t expires_seconds = 7 * 24 * 3600;
    std::optional<VerifyKey> expected_public_key;
    std::function<int64_t()> now;
};

// Publishes the files of manifest `to` again as a new, higher generation (nodes refuse lower
// generation numbers, so going back must go forward). Checks that every blob it names is
// still at the origin.
Result<PublishReport> rollback(const RollbackOptions& opts, const SigningKey& key, Origin& origin);

// Builds the manifest entry for one file's bytes (type, cache-control, variants). Exposed for
// tests. `variants` receives encoding -> compressed bytes for variants that are smaller.
Result<FileEntry> build_entry(const std::string& path, std::string_view bytes, int64_t modified,
                              std::map<std::string, std::string>* variants);

}  // namespace anyedge::publish
