#include "origin-sync/publish/publish.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "origin-sync/content/compress.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/media_types.h"
#include "origin-sync/content/store.h"
#include "origin-sync/publish/scan.h"

namespace anyedge::publish {

namespace {

int64_t now_or_clock(const std::function<int64_t()>& now) {
    return now ? now() : static_cast<int64_t>(std::time(nullptr));
}

// What the origin holds before we change anything.
struct OriginState {
    std::optional<CurrentPointer> live;
    std::optional<Manifest> live_manifest;  // absent when unreadable: only an optimisation
    uint64_t next_generation = 1;
    bool has_public_pem = false;
};

Result<std::optional<CurrentPointer>> read_pointer(Origin& origin, const std::string& name,
                                                   const VerifyKey& pub) {
    auto bytes = origin.get(name);
    if (!bytes) return bytes.forward_error();
    if (!bytes->has_value()) return std::optional<CurrentPointer>{};
    auto sig = origin.get(name + ".sig");
    if (!sig) return sig.forward_error();
    if (!sig->has_value()) {
        return make_error("the origin has `" + name + "` but no `" + name + ".sig`");
    }
    if (!pub.verify(**bytes, **sig)) {
        return make_error("`" + name + "` at the origin is not signed by this key: wrong key?");
    }
    auto ptr = parse_current(**bytes);
    if (!ptr) return make_error("`" + name + "` at the origin: " + ptr.error());
    return std::optional<CurrentPointer>(*ptr);
}

// Every check that could refuse the publish because of the key or the origin. Reads only.
Result<OriginState> inspect_origin(Origin& origin, const SigningKey& key,
                                   const std::optional<VerifyKey>& expected) {
    VerifyKey pub = key.public_key();
    if (expected && expected->raw() != pub.raw()) {
        return make_error("the signing key does not match the configured public key");
    }
    OriginState st;
    auto pem = origin.get("public.pem");
    if (!pem) return pem.forward_error();
    if (pem->has_value()) {
        st.has_public_pem = true;
        auto origin_key = VerifyKey::from_pem(**pem);
        if (!origin_key) return make_error("public.pem at the origin: " + origin_key.error());
        if (origin_key->raw() != pub.raw()) {
            return make_error("the signing key does not match the origin's public.pem");
        }
    }
    auto live = read_pointer(origin, "current", pub);
    if (!live) return live.forward_error();
    auto next = read_pointer(origin, "next", pub);
    if (!next) return next.forward_error();
    st.live = *live;
    uint64_t top = 0;
    if (st.live) top = st.live->generation;
    if (*next) top = std::max(top, (*next)->generation);
    for (uint64_t g : origin.list_generations()) top = std::max(top, g);
    st.next_generation = top + 1;
    if (st.live) {
        auto bytes = origin.get(manifest_url_path(st.live->generation));
        if (bytes && bytes->has_value() && sha256_hex(**bytes) == st.live->manifest_sha256) {
            auto m = parse_manifest(**bytes);
            if (m) st.live_manifest = std::move(*m);
        }
    }
    return st;
}

// Writes manifest, `next`, waits, then `current`: the two phases.
Result<PublishReport> commit(const Manifest& m, const SigningKey& key, Origin& origin, int64_t now,
                             int64_t expires_seconds, int64_t stage_seconds,
                             const ProgressFn& progress, PublishReport report,
                             const std::function<void(uint64_t)>& wait_staged = nullptr) {
    std::string bytes = serialize_manifest(m);
    auto msig = key.sign(bytes);
    if (!msig) return msig.forward_error();
    std::string mpath = manifest_url_path(m.generation);
    if (Status s = origin.put(mpath + ".sig", *msig); !s) return s.forward_error();
    if (Status s = origin.put(mpath, bytes); !s) return s.forward_error();

    CurrentPointer ptr{m.generation, sha256_hex(bytes), now, now + expires_seconds};
    std::string pbytes = serialize_current(ptr);
    auto psig = key.sign(pbytes);
    if (!psig) return psig.forward_error();
    if (progress)
        progress(Progress{Progress::Phase::kStaging, report.files, report.files,
                          report.bytes_uploaded, mpath});
    if (Status s = origin.put("next.sig", *psig); !s) return s.forward_error();
    if (Status s = origin.put("next", pbytes); !s) return s.forward_error();
    if (stage_seconds > 0) std::this_thread::sleep_for(std::chrono::seconds(stage_seconds));
    if (wait_staged) wait_staged(m.generation);

    if (progress)
        progress(Progress{Progress::Phase::kCommitting, report.files, report.files,
                          report.bytes_uploaded, "current"});
    // `current` goes last: until it is written no node switches.
    if (Status s = origin.put("current.sig", *psig); !s) return s.forward_error();
    if (Status s = origin.put("current", pbytes); !s) return s.forward_error();
    report.generation = m.generation;
    report.parent = m.parent;
    report.manifest_sha256 = ptr.manifest_sha256;
    return report;
}

}  // namespace

Result<FileEntry> build_entry(const std::string& path, std::string_view bytes, int64_t modified,
                              std::map<std::string, std::string>* variants) {
    FileEntry e;
    e.sha256 = sha256_hex(bytes);
    e.size = bytes.size();
    e.type = mime_type(path);
    e.cache_control = cache_control_for(path, e.type);
    e.modified = modified;
    if (!is_compressible(e.type) || bytes.empty()) return e;
    auto br = brotli_compress(bytes);
    if (!br) return br.forward_error();
    auto zst = zstd_compress(bytes);
    if (!zst) return zst.forward_error();
    auto gz = gzip_compress(bytes);
    if (!gz) return gz.forward_error();
    // A variant is only worth a blob (and a Vary negotiation) when it is smaller.
    for (auto& [coding, variant] : {std::pair<const char*, std::string*>{"br", &*br},
                                    std::pair<const char*, std::string*>{"zstd", &*zst},
                                    std::pair<const char*, std::string*>{"gzip", &*gz}}) {
        if (variant->size() >= bytes.size()) continue;
        e.encodings[coding] = sha256_hex(*variant);
        if (variants) (*variants)[coding] = std::move(*variant);
    }
    return e;
}

Result<PublishReport> publish_site(const PublishOptions& opts, const SigningKey& key,
                                   Origin& origin) {
    // Phase 0: every refusal, before any write.
    auto files = scan_site(opts.site_dir);
    if (!files) return files.forward_error();
    if (opts.expires_seconds <= 0) return make_error("expiry must be positive");
    if (Status s = origin.lock(); !s) return s.forward_error();
    auto st = inspect_origin(origin, key, opts.expected_public_key);
    if (!st) return st.forward_error();
    int64_t now = now_or_clock(opts.now);

    // Variants of content already published are reused instead of compressed again. The key
    // includes compressibility: the same bytes under another extension may differ.
    std::map<std::string, std::map<std::string, std::string>> known_encodings;
    auto known_key = [](const std::string& sha, const std::string& type) {
        return sha + (is_compressible(type) ? "+z" : "");
    };
    if (st->live_manifest) {
        for (const auto& [_, f] : st->live_manifest->files) {
            known_encodings[known_key(f.sha256, f.type)] = f.encodings;
        }
    }

    PublishReport report;
    report.files = files->size();
    std::set<std::string> handled;
    auto upload = [&](const std::string& sha, std::string_view bytes) -> Status {
        if (!handled.insert(sha).second) return ok_status();
        auto have = origin.exists(blob_url_path(sha));
        if (!have) return have.forward_error();
        if (*have) {
            ++report.blobs_present;
            return ok_status();
        }
        if (Status s = origin.put(blob_url_path(sha), bytes); !s) return s;
        ++report.blobs_uploaded;
        report.bytes_uploaded += bytes.size();
        return ok_status();
    };

    Manifest m;
    m.generation = st->next_generation;
    m.parent = st->live ? st->live->generation : 0;
    m.created = now;
    uint64_t done = 0;
    for (const SiteFile& f : *files) {
        if (opts.progress) {
            opts.progress(Progress{Progress::Phase::kHashing, done, files->size(),
                                   report.bytes_uploaded, f.path});
        }
        auto bytes = read_file(f.source);
        if (!bytes) return make_error(f.path + ": " + bytes.error());
        std::string sha = sha256_hex(*bytes);
        FileEntry e;
        std::map<std::string, std::string> variants;
        std::string type = mime_type(f.path);
        auto known = known_encodings.find(known_key(sha, type));
        bool reuse = known != known_encodings.end();
        if (reuse) {
            for (const auto& [enc, vsha] : known->second) {
                auto have = origin.exists(blob_url_path(vsha));
                if (!have || !*have) reuse = false;
            }
        }
        if (reuse) {
            e = FileEntry{sha, bytes->size(), type, known->second, "", f.modified};
            e.cache_control = cache_control_for(f.path, e.type);
            for (const auto& [_, vsha] : e.encodings) {
                handled.insert(vsha);
                ++report.blobs_present;
            }
        } else {
            auto built = build_entry(f.path, *bytes, f.modified, &variants);
            if (!built) return make_error(f.path + ": " + built.error());
            e = std::move(*built);
        }
        if (Status s = upload(sha, *bytes); !s) return s.forward_error();
        for (const auto& [enc, vbytes] : variants) {
            if (Status s = upload(e.encodings.at(enc), vbytes); !s) return s.forward_error();
        }
        m.files.emplace(f.path, std::move(e));
        ++done;
    }
    if (opts.progress) {
        opts.progress(
            Progress{Progress::Phase::kHashing, done, files->size(), report.bytes_uploaded, ""});
    }
    // Nodes verify with the key they are configured with; public.pem at the origin lets a
    // later publish with another key be refused (trust on first publish).
    if (!st->has_public_pem) {
        if (Status s = origin.put("public.pem", key.public_key().pem()); !s) {
            return s.forward_error();
        }
    }
    return commit(m, key, origin, now, opts.expires_seconds, opts.stage_seconds, opts.progress,
                  report, opts.wait_staged);
}

Result<PublishReport> rollback(const RollbackOptions& opts, const SigningKey& key, Origin& origin) {
    if (opts.expires_seconds <= 0) return make_error("expiry must be positive");
    if (Status s = origin.lock(); !s) return s.forward_error();
    auto st = inspect_origin(origin, key, opts.expected_public_key);
    if (!st) return st.forward_error();
    if (!st->live) return make_error("nothing is published at " + origin.describe());
    uint64_t target = 0;
    if (opts.to) {
        target = *opts.to;
    } else if (st->live_manifest) {
        target = st->live_manifest->parent;
    } else {
        return make_error("cannot read the live manifest to find its parent; use --to N");
    }
    if (target == 0) return make_error("the live generation has no previous one; use --to N");
    if (target == st->live->generation) {
        return make_error("generation " + std::to_string(target) + " is already live");
    }
    std::string mpath = manifest_url_path(target);
    auto bytes = origin.get(mpath);
    if (!bytes) return bytes.forward_error();
    if (!bytes->has_value()) {
        return make_error("generation " + std::to_string(target) + " is not at the origin");
    }
    auto sig = origin.get(mpath + ".sig");
    if (!sig) return sig.forward_error();
    if (!sig->has_value() || !key.public_key().verify(**bytes, **sig)) {
        return make_error(mpath + " is not signed by this key");
    }
    auto old = parse_manifest(**bytes);
    if (!old) return make_error(mpath + ": " + old.error());
    if (old->generation != target) return make_error(mpath + ": wrong generation inside");
    for (const std::string& sha : referenced_blobs(*old)) {
        auto have = origin.exists(blob_url_path(sha));
        if (!have) return have.forward_error();
        if (!*have) {
            return make_error("blob " + sha + " of generation " + std::to_string(target) +
                              " is gone from the origin; publish the site again instead");
        }
    }
    int64_t now = now_or_clock(opts.now);
    Manifest m = *old;
    m.generation = st->next_generation;
    m.parent = st->live->generation;
    m.created = now;
    PublishReport report;
    report.files = m.files.size();
    return commit(m, key, origin, now, opts.expires_seconds, 0, nullptr, report);
}

}  // namespace anyedge::publish
