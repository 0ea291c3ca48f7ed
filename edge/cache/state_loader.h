// Loads a node state directory (DESIGN.md "Content format"): the live generation named by
// `current`, and the one before it for skew protection. cdn-sync verified everything before it
// flipped `current`; sizes and hashes are checked again here, so bytes that changed on disk
// never go live under a manifest's ETag.
#pragma once

#include <filesystem>
#include <memory>

#include "edge/cache/snapshot.h"
#include "origin-sync/base/result.h"
#include "origin-sync/content/manifest.h"

namespace anyedge::cache {

struct LoadedState {
    std::shared_ptr<const Snapshot> live;
    std::shared_ptr<const Snapshot> previous;  // null when there is none or it is incomplete
    int64_t live_issued = 0;                   // from `current`, unix seconds
};

Result<std::shared_ptr<const Snapshot>> build_generation_snapshot(
    const std::filesystem::path& state_dir, const Manifest& manifest,
    const SnapshotOptions& options);

Result<LoadedState> load_state(const std::filesystem::path& state_dir,
                               const SnapshotOptions& options);

}  // namespace anyedge::cache
