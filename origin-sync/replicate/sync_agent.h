// cdn-sync's engine: follows an origin and keeps a node's state directory on its live
// generation (DESIGN.md "Processes on one node").
//
// One poll: GET `current` (+ .sig, conditional with If-None-Match), verify it with the
// configured public key, refuse a generation lower than the local one (rollback attack); stage
// the generation it names (manifest + .sig verified, missing blobs fetched in parallel, each
// checked against its hash and size, written tmp + fsync + rename); then flip the local
// `current` atomically and POST the edge's /reload. Also stages the origin's signed `next`
// pointer ahead of time (phase 1 of a publish). Nothing unverified is ever named by a local
// manifest or pointer, so a bad or partial download never becomes visible, and a restart
// after a crash reuses every blob already on disk. Old generations beyond `keep` (never the
// live one or its parent, which the edge serves during the skew grace) are removed with the
// blobs only they used.
//
// Single-threaded except for the blob download pool inside a poll. State is reported in
// STATE/sync-status.json and through the logger.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "origin-sync/base/result.h"
#include "origin-sync/content/manifest.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/net/http_client.h"
#include "origin-sync/replicate/cert_follower.h"

namespace anyedge::replicate {

struct SyncOptions {
    std::string origin_url;
    std::filesystem::path state_dir;
    std::string edge_admin_url;   // empty: do not notify an edge
    std::string edge_token_file;  // bearer token for POST /reload
    std::string ca_file;          // trust store for https origins; empty: system default
    std::chrono::milliseconds interval{1000};
    std::chrono::milliseconds max_backoff{30000};
    std::chrono::milliseconds timeout{10000};
    std::chrono::milliseconds throttle{0};  // pause after each blob per connection
    int keep = 3;      // generations kept on disk (the live one and its parent always)
    int parallel = 4;  // concurrent blob downloads
};

using Logger = std::function<void(const std::string&)>;

class SyncAgent {
  public:
    SyncAgent(SyncOptions options, VerifyKey key, Logger log);
    ~SyncAgent();

    // Also installs the fleet certificate for this node (cert_follower.h) on every poll.
    void follow_certificates(CertFollower follower);

    // One poll cycle. OK when the node is on the origin's generation (or nothing changed).
    Status poll_once();
    // Polls until `stop`, backing off exponentially (up to max_backoff) while polls fail.
    void run(const std::atomic<bool>& stop);

    // Removes generations beyond `keep` and blobs no kept generation references, plus
    // temporary files left by a crash. Called after each flip (never at start: blobs of an
    // interrupted download are unreferenced until its manifest is written).
    void collect_garbage();
    // Removes temporary files left by a crash (kill -9 in the middle of a write).
    void remove_temporaries();

  private:
    struct Staged {
        uint64_t generation = 0;
        std::string manifest_sha256;
    };
    Result<CurrentPointer> fetch_pointer(const std::string& name, std::string* etag,
                                         std::string* bytes, std::string* sig, bool* unchanged);
    Status stage(uint64_t generation, const std::string& manifest_sha256);
    Status fetch_blobs(const Manifest& m, uint64_t* fetched, uint64_t* bytes, uint64_t* reused);
    Status flip(const CurrentPointer& ptr, const std::string& bytes, const std::string& sig);
    Status reload_edge();
    uint64_t local_generation();
    void write_status(const std::string& error);

    SyncOptions opt_;
    VerifyKey key_;
    Logger log_;
    std::optional<net::Url> origin_;
    std::unique_ptr<net::HttpClient> client_;
    std::string current_etag_, next_etag_;
    std::optional<Staged> staged_;
    bool reload_pending_ = false;
    std::string last_status_;
    std::string last_logged_error_;
    std::optional<CertFollower> cert_;
};

}  // namespace anyedge::replicate
