#include "edge/cache/state_loader.h"

#include <sys/stat.h>

#include "origin-sync/content/digest.h"
#include "origin-sync/content/store.h"

namespace anyedge::cache {
namespace fs = std::filesystem;

namespace {

Result<Bytes> load_blob(const fs::path& root, const std::string& sha, uint64_t expected_size,
                        size_t mmap_threshold) {
    const fs::path p = blob_path(root, sha);
    Bytes bytes;
    if (expected_size >= mmap_threshold) {
        auto m = MappedFile::open(p.string());
        if (!m) return make_error(m.error());
        bytes = std::move(*m);
    } else {
        auto s = read_file(p, expected_size + 1);
        if (!s) return make_error(s.error());
        bytes = std::move(*s);
    }
    const std::string_view v = view_of(bytes);
    if (expected_size != UINT64_MAX && v.size() != expected_size) {
        return make_error("blob " + sha + " has " + std::to_string(v.size()) +
                          " bytes, manifest says " + std::to_string(expected_size));
    }
    if (sha256_hex(v) != sha) return make_error("blob " + sha + " does not match its hash");
    return bytes;
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> build_generation_snapshot(const fs::path& state_dir,
                                                                  const Manifest& manifest,
                                                                  const SnapshotOptions& options) {
    std::vector<FileSpec> specs;
    specs.reserve(manifest.files.size());
    for (const auto& [path, f] : manifest.files) {
        FileSpec spec;
        spec.path = "/" + path;
        spec.content_type = f.type;
        spec.last_modified = f.modified ? f.modified : manifest.created;
        spec.cache_control = f.cache_control;
        spec.sha256_hex = f.sha256;
        auto bytes = load_blob(state_dir, f.sha256, f.size, options.mmap_threshold);
        if (!bytes) return make_error(path + ": " + bytes.error());
        spec.bytes = std::move(*bytes);
        for (std::string_view coding : kEncodings) {  // br first: preferred on equal weight
            auto it = f.encodings.find(std::string(coding));
            if (it == f.encodings.end()) continue;
            auto enc = load_blob(state_dir, it->second, UINT64_MAX, options.mmap_threshold);
            if (!enc) return make_error(path + " (" + it->first + "): " + enc.error());
            spec.encodings.emplace_back(it->first, std::move(*enc));
            spec.encoding_sha256_hex.push_back(it->second);
        }
        specs.push_back(std::move(spec));
    }
    return Snapshot::build(std::move(specs), options, manifest.generation);
}

Result<LoadedState> load_state(const fs::path& state_dir, const SnapshotOptions& options) {
    auto live = load_live_generation(state_dir);
    if (!live) return make_error(state_dir.string() + ": " + live.error());
    auto snap = build_generation_snapshot(state_dir, live->manifest, options);
    if (!snap)
        return make_error("generation " + std::to_string(live->manifest.generation) + ": " +
                          snap.error());
    LoadedState out;
    out.live = std::move(*snap);
    out.live_issued = live->current.issued;
    // The previous generation is a courtesy for browsers mid-page-load: best effort.
    if (auto prev = load_previous_generation(state_dir, live->manifest); prev) {
        if (auto p = build_generation_snapshot(state_dir, prev->manifest, options); p) {
            out.previous = std::move(*p);
        }
    }
    return out;
}

}  // namespace anyedge::cache
