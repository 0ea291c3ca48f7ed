#include "origin-sync/replicate/sync_agent.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "origin-sync/base/clock.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/store.h"

namespace anyedge::replicate {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxPointerBytes = 64 << 10;
constexpr uint64_t kMaxManifestBytes = 256ull << 20;

}  // namespace

SyncAgent::SyncAgent(SyncOptions options, VerifyKey key, Logger log)
    : opt_(std::move(options)), key_(std::move(key)), log_(std::move(log)) {
    auto url = net::parse_url(opt_.origin_url);
    if (url) {
        origin_ = *url;
        client_ = std::make_unique<net::HttpClient>(*origin_, opt_.ca_file, opt_.timeout);
    } else {
        log_("bad --origin: " + url.error());
    }
    if (opt_.keep < 1) opt_.keep = 1;
    if (opt_.parallel < 1) opt_.parallel = 1;
}

SyncAgent::~SyncAgent() = default;

uint64_t SyncAgent::local_generation() {
    std::error_code ec;
    if (!fs::exists(current_file_path(opt_.state_dir), ec)) return 0;
    auto live = load_live_generation(opt_.state_dir, &key_);
    if (!live) {
        log_("local state unusable, starting over: " + live.error());
        return 0;
    }
    return live->current.generation;
}

// GETs NAME and NAME.sig and verifies them. Sets *unchanged (and returns an empty pointer)
// when the origin answered 304 to If-None-Match: `etag`. A 404 is an error mentioning "(404)".
Result<CurrentPointer> SyncAgent::fetch_pointer(const std::string& name, std::string* etag,
                                                std::string* bytes, std::string* sig,
                                                bool* unchanged) {
    *unchanged = false;
    // The publisher writes NAME.sig then NAME; fetched in between, the pair does not match.
    // A few quick retries tell that race apart from a real signature failure.
    for (int attempt = 0;; ++attempt) {
        std::map<std::string, std::string> h;
        if (!etag->empty()) h["If-None-Match"] = *etag;
        auto r = client_->request("GET", name, h, {}, kMaxPointerBytes);
        if (!r) return r.forward_error();
        if (r->status == 304) {
            *unchanged = true;
            return CurrentPointer{};
        }
        if (r->status == 404) {
            return make_error("the origin has no `" + name + "` (404)", ErrorCode::kNotFound);
        }
        if (r->status != 200) {
            return make_error("GET " + name + ": HTTP " + std::to_string(r->status));
        }
        auto s = client_->request("GET", name + ".sig", {}, {}, kMaxPointerBytes);
        if (!s) return s.forward_error();
        if (s->status != 200) {
            return make_error("GET " + name + ".sig: HTTP " + std::to_string(s->status));
        }
        if (Status v = key_.verify(r->body, s->body); !v) {
            if (attempt < 3) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
                continue;
            }
            return make_error("`" + name + "` from the origin fails signature verification (" +
                              v.error() + "): signed by another key? refusing it");
        }
        auto ptr = parse_current(r->body);
        if (!ptr) return make_error("`" + name + "` from the origin: " + ptr.error());
        *etag = r->header("etag");
        *bytes = std::move(r->body);
        *sig = std::move(s->body);
        return ptr;
    }
}

Status SyncAgent::fetch_blobs(const Manifest& m, uint64_t* fetched, uint64_t* bytes,
                              uint64_t* reused) {
    // Each blob's size limit: identity blobs must have exactly their size; variants are only
    // kept when smaller than the identity (publish rule), so it bounds them too.
    struct Job {
        std::string sha;
        uint64_t limit;
        bool exact;
    };
    std::map<std::string, Job> jobs;
    for (const auto& [_, f] : m.files) {
        jobs[f.sha256] = Job{f.sha256, f.size, true};
        for (const auto& [__, vsha] : f.encodings) {
            if (!jobs.count(vsha)) jobs[vsha] = Job{vsha, f.size, false};
        }
    }
    std::vector<Job> todo;
    for (const auto& [sha, job] : jobs) {
        std::error_code ec;
        if (fs::exists(blob_path(opt_.state_dir, sha), ec)) {
            ++*reused;  // written only after its hash was checked
        } else {
            todo.push_back(job);
        }
    }
    if (todo.empty()) return ok_status();

    std::atomic<size_t> next{0};
    std::atomic<uint64_t> done{0}, done_bytes{0};
    std::mutex mu;
    std::string first_error;
    auto worker = [&] {
        net::HttpClient client(*origin_, opt_.ca_file, opt_.timeout);
        while (true) {
            {
                std::lock_guard<std::mutex> lock(mu);
                if (!first_error.empty()) return;
            }
            size_t i = next++;
            if (i >= todo.size()) return;
            const Job& job = todo[i];
            auto fail = [&](const std::string& msg) {
                std::lock_guard<std::mutex> lock(mu);
                if (first_error.empty()) first_error = "blob " + job.sha + ": " + msg;
            };
            auto r = client.request("GET", blob_url_path(job.sha), {}, {}, job.limit + 1);
            if (!r) return fail(r.error());
            if (r->status != 200) return fail("HTTP " + std::to_string(r->status));
            if (job.exact && r->body.size() != job.limit) {
                return fail("size " + std::to_string(r->body.size()) + ", manifest says " +
                            std::to_string(job.limit));
            }
            if (sha256_hex(r->body) != job.sha) {
                return fail("content does not match its hash (corrupted at the origin?)");
            }
            if (Status s = atomic_write_file(blob_path(opt_.state_dir, job.sha), r->body); !s) {
                return fail(s.error());
            }
            ++done;
            done_bytes += r->body.size();
            if (opt_.throttle.count() > 0) std::this_thread::sleep_for(opt_.throttle);
        }
    };
    std::vector<std::thread> threads;
    size_t n = std::min<size_t>(static_cast<size_t>(opt_.parallel), todo.size());
    for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    *fetched += done.load();
    *bytes += done_bytes.load();
    if (!first_error.empty()) return make_error(first_error);
    return ok_status();
}

Status SyncAgent::stage(uint64_t generation, const std::string& manifest_sha256) {
    std::string mrel = manifest_url_path(generation);
    std::string mbytes, msig;
    bool local = false;
    // A manifest on disk was verified when it was written; reuse it if it is the same one.
    auto have = read_file(manifest_path(opt_.state_dir, generation), kMaxManifestBytes);
    auto have_sig = read_file(manifest_sig_path(opt_.state_dir, generation), kMaxPointerBytes);
    // An empty manifest_sha256 (the live generation's parent, named by no pointer) relies on
    // the manifest's own signature alone.
    bool pinned = !manifest_sha256.empty();
    if (have && have_sig && (!pinned || sha256_hex(*have) == manifest_sha256)) {
        mbytes = std::move(*have);
        msig = std::move(*have_sig);
        local = true;
    } else {
        auto r = client_->request("GET", mrel, {}, {}, kMaxManifestBytes);
        if (!r) return r.forward_error();
        if (r->status != 200)
            return make_error("GET " + mrel + ": HTTP " + std::to_string(r->status));
        if (pinned && sha256_hex(r->body) != manifest_sha256) {
            return make_error(mrel + " from the origin does not match the hash in its pointer");
        }
        auto s = client_->request("GET", mrel + ".sig", {}, {}, kMaxPointerBytes);
        if (!s) return s.forward_error();
        if (s->status != 200) {
            return make_error("GET " + mrel + ".sig: HTTP " + std::to_string(s->status));
        }
        if (Status v = key_.verify(r->body, s->body); !v) {
            return make_error(mrel + " fails signature verification: refusing it");
        }
        mbytes = std::move(r->body);
        msig = std::move(s->body);
    }
    auto m = parse_manifest(mbytes);
    if (!m) return make_error(mrel + ": " + m.error());
    if (m->generation != generation) return make_error(mrel + ": carries another generation");

    uint64_t fetched = 0, bytes = 0, reused = 0;
    Status blobs = fetch_blobs(*m, &fetched, &bytes, &reused);
    if (!blobs) {
        return make_error("staging generation " + std::to_string(generation) +
                          " failed: " + blobs.error());
    }
    // The manifest goes to disk only once every blob it names is there.
    if (!local) {
        if (Status s = atomic_write_file(manifest_sig_path(opt_.state_dir, generation), msig); !s) {
            return s;
        }
        if (Status s = atomic_write_file(manifest_path(opt_.state_dir, generation), mbytes); !s) {
            return s;
        }
    }
    if (!staged_ || staged_->generation != generation || fetched > 0) {
        log_("staged " + std::to_string(generation) + " (" + std::to_string(fetched) +
             " blobs fetched, " + std::to_string(bytes) + " bytes; " + std::to_string(reused) +
             " already here)");
    }
    if (!manifest_sha256.empty()) staged_ = Staged{generation, manifest_sha256};
    return ok_status();
}

Status SyncAgent::flip(const CurrentPointer& ptr, const std::string& bytes,
                       const std::string& sig) {
    if (Status s = atomic_write_file(current_sig_path(opt_.state_dir), sig); !s) return s;
    if (Status s = atomic_write_file(current_file_path(opt_.state_dir), bytes); !s) return s;
    log_("live " + std::to_string(ptr.generation));
    reload_pending_ = !opt_.edge_admin_url.empty();
    return ok_status();
}

Status SyncAgent::reload_edge() {
    auto url = net::parse_url(opt_.edge_admin_url);
    if (!url) return make_error("--edge-admin: " + url.error());
    url->path = "/";
    std::map<std::string, std::string> h;
    if (!opt_.edge_token_file.empty()) {
        auto token = read_token_file(opt_.edge_token_file);
        if (!token) return token.forward_error("edge token: ");
        h["Authorization"] = "Bearer " + *token;
    }
    net::HttpClient admin(*url, opt_.ca_file, opt_.timeout);
    auto r = admin.request("POST", "reload", h);
    if (!r) return make_error("edge reload failed: " + r.error());
    if (r->status < 200 || r->status > 299) {
        return make_error("edge reload failed: HTTP " + std::to_string(r->status) + " " + r->body);
    }
    reload_pending_ = false;
    log_("edge reloaded");
    return ok_status();
}

void SyncAgent::follow_certificates(CertFollower follower) { cert_.emplace(std::move(follower)); }

Status SyncAgent::poll_once() {
    if (!client_) return make_error("bad --origin URL " + opt_.origin_url);
    // Certificates first: a content problem must not hold back a renewal.
    if (cert_) {
        auto installed = cert_->poll(CertFollower::fetch_from(*client_));
        if (installed && *installed && !opt_.edge_admin_url.empty()) {
            reload_pending_ = true;
            if (Status s = reload_edge(); !s) log_("certificate installed, but " + s.error());
        }
    }
    auto finish = [&](Status s) {
        write_status(s ? std::string() : s.error());
        return s;
    };
    uint64_t live = local_generation();

    std::string bytes, sig, etag = current_etag_;
    bool unchanged = false;
    auto cur = fetch_pointer("current", &etag, &bytes, &sig, &unchanged);
    if (!cur) return finish(cur.forward_error());
    bool flipped = false;
    if (!unchanged) {
        const CurrentPointer& ptr = *cur;
        if (ptr.generation < live) {
            return finish(make_error("the origin offers generation " +
                                     std::to_string(ptr.generation) + ", lower than live " +
                                     std::to_string(live) +
                                     ": refusing it (replayed or rolled-back pointer)"));
        }
        if (ptr.generation == live) {
            auto local = load_live_generation(opt_.state_dir);
            if (local && local->current.manifest_sha256 != ptr.manifest_sha256) {
                return finish(make_error("the origin's generation " +
                                         std::to_string(ptr.generation) +
                                         " names another manifest than ours: refusing it"));
            }
            // Same generation re-signed with a later expiry: keep the fresher pointer.
            if (local && ptr.expires > local->current.expires) {
                if (Status s = flip(ptr, bytes, sig); !s) return finish(s);
            }
        } else {
            if (Status s = stage(ptr.generation, ptr.manifest_sha256); !s) return finish(s);
            if (Status s = flip(ptr, bytes, sig); !s) return finish(s);
            flipped = true;
            live = ptr.generation;
        }
        current_etag_ = etag;
    }
    if (reload_pending_) {
        if (Status s = reload_edge(); !s) return finish(s);
    }
    if (flipped) {
        // Skew protection: the edge also serves the live generation's parent for a grace, so
        // a node that skipped it (offline, or just joined) fetches it too. Best effort.
        auto now_live = load_live_generation(opt_.state_dir);
        uint64_t parent = now_live ? now_live->manifest.parent : 0;
        std::error_code ec;
        if (parent && !fs::exists(manifest_path(opt_.state_dir, parent), ec)) {
            if (Status s = stage(parent, ""); !s) {
                log_("previous generation " + std::to_string(parent) +
                     " not available for skew protection: " + s.error());
            }
        }
        collect_garbage();
    }

    // Phase 1 of a publish: stage the announced next generation before `current` moves.
    std::string nbytes, nsig, netag = next_etag_;
    auto next = fetch_pointer("next", &netag, &nbytes, &nsig, &unchanged);
    if (next && !unchanged) {
        if (next->generation > live && !(staged_ && staged_->generation == next->generation &&
                                         staged_->manifest_sha256 == next->manifest_sha256)) {
            if (Status s = stage(next->generation, next->manifest_sha256); !s) return finish(s);
        }
        next_etag_ = netag;
    } else if (!next && next.error_code() != ErrorCode::kNotFound) {
        return finish(next.forward_error());
    }
    return finish(ok_status());
}

void SyncAgent::remove_temporaries() {
    std::error_code ec;
    // Temporary files are only ever in flight inside this process's own calls, so any found
    // now were left by a crash (kill -9 in the middle of a download).
    for (auto it = fs::recursive_directory_iterator(opt_.state_dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file() &&
            it->path().filename().string().find(".tmp.") != std::string::npos) {
            std::error_code rm;
            fs::remove(it->path(), rm);
        }
    }
}

void SyncAgent::collect_garbage() {
    const fs::path& root = opt_.state_dir;
    std::error_code ec;
    remove_temporaries();
    auto live = load_live_generation(root);
    if (!live) return;  // nothing live yet: keep everything that was staged
    std::set<uint64_t> keep = {live->current.generation};
    if (live->manifest.parent) keep.insert(live->manifest.parent);
    if (staged_ && staged_->generation > live->current.generation) {
        keep.insert(staged_->generation);
    }
    std::vector<uint64_t> gens = list_generations(root);
    int kept_older = 0;
    for (auto it = gens.rbegin(); it != gens.rend(); ++it) {
        if (*it > live->current.generation) {
            keep.insert(*it);  // staged ahead of `current`
        } else if (kept_older < opt_.keep) {
            keep.insert(*it);
            ++kept_older;
        }
    }
    std::set<std::string> referenced;
    for (uint64_t g : gens) {
        if (!keep.count(g)) {
            fs::remove(manifest_path(root, g), ec);
            fs::remove(manifest_sig_path(root, g), ec);
            log_("removed generation " + std::to_string(g));
            continue;
        }
        auto m = load_generation(root, g);
        if (!m) {
            log_("garbage collection skipped: " + m.error());
            return;  // never delete blobs on an incomplete view
        }
        for (auto& sha : referenced_blobs(m->manifest)) referenced.insert(std::move(sha));
    }
    size_t removed = 0;
    fs::path objects = root / "objects" / "sha256";
    for (auto it = fs::recursive_directory_iterator(objects, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string sha =
            it->path().parent_path().filename().string() + it->path().filename().string();
        if (!referenced.count(sha)) {
            std::error_code rm;
            if (fs::remove(it->path(), rm)) ++removed;
        }
    }
    if (removed) log_("removed " + std::to_string(removed) + " unreferenced blobs");
}

void SyncAgent::write_status(const std::string& error) {
    nlohmann::json j;
    j["origin"] = opt_.origin_url;
    auto live = load_live_generation(opt_.state_dir);
    j["live_generation"] = live ? live->current.generation : 0;
    j["live_expires"] = live ? live->current.expires : 0;
    j["stale"] = live ? unix_now() > live->current.expires : true;
    j["staged_generation"] = staged_ ? staged_->generation : 0;
    j["state"] = error.empty() ? "ok" : "error";
    j["last_error"] = error;
    if (cert_) j["certificate"] = cert_->status();
    std::string text = json_dump(j);
    if (error != last_logged_error_) {
        log_(error.empty() ? "ok: in sync with the origin" : "error: " + error);
        last_logged_error_ = error;
    }
    if (text == last_status_) return;  // only changes are written (no fsync every second)
    j["updated_at"] = unix_now();
    if (atomic_write_file(opt_.state_dir / "sync-status.json", json_dump(j, 2) + "\n")) {
        last_status_ = text;
    }
}

void SyncAgent::run(const std::atomic<bool>& stop) {
    std::error_code ec;
    fs::create_directories(opt_.state_dir, ec);
    // Not a full collection: verified blobs of a generation whose download a crash interrupted
    // are named by no manifest yet, and resuming must find them. They are collected after the
    // next flip if no generation claims them by then.
    remove_temporaries();
    int failures = 0;
    while (!stop.load()) {
        Status s = poll_once();
        failures = s ? 0 : std::min(failures + 1, 16);
        auto delay = opt_.interval;
        for (int i = 0; i < failures && delay < opt_.max_backoff; ++i) delay *= 2;
        delay =
            failures ? std::min(delay, std::max(opt_.max_backoff, opt_.interval)) : opt_.interval;
        auto until = std::chrono::steady_clock::now() + delay;
        while (!stop.load() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
}

}  // namespace anyedge::replicate
