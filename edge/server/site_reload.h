// What the node serves and how it is replaced: the site (a plain folder, or the live generation
// of a state directory) is loaded into a snapshot and published to the workers; a reload also
// re-reads the TLS files (renewed certificates, rotated ticket keys).
//
// Reloads come from the admin API's thread, from an origin upload and from SIGHUP (TLS files
// only); they are serialized, so two never interleave. A site or file that does not load leaves
// what is serving in place. Logs one line per outcome.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "edge/cache/snapshot.h"
#include "edge/server/config.h"
#include "edge/server/shared_state.h"
#include "origin-sync/base/result.h"

namespace anyedge::tls {
class TlsContext;
}
namespace anyedge::quic {
class QuicTlsStore;
}

namespace anyedge::server {

class SiteReload {
  public:
    // `tls` may be null (no TLS listener); `reload_certificates` is false for a self-signed
    // certificate made at start (it has no files to re-read). All must outlive this object.
    // `quic` (HTTP/3's certificates and tickets, may be null) is reloaded with `tls`.
    SiteReload(const EdgeConfig& cfg, cache::SnapshotOptions options, SharedState& shared,
               tls::TlsContext* tls, bool reload_certificates, quic::QuicTlsStore* quic = nullptr);

    // The first load at start. A node whose state directory has no generation yet serves an
    // empty site (404s, /healthz 503) until cdn-sync fetches one and asks for a reload.
    Status load_initial();
    // Loads the site again and publishes it; returns the generation now served.
    Result<uint64_t> reload();
    // Re-reads the certificates and the ticket keys only (SIGHUP); `why` goes into the log.
    void reload_tls(const char* why);

  private:
    Result<PublishedSite> load(std::shared_ptr<const cache::Snapshot> previous) const;
    void reload_tls_locked(const char* why);

    const EdgeConfig& cfg_;
    const cache::SnapshotOptions options_;
    SharedState& shared_;
    tls::TlsContext* tls_;
    quic::QuicTlsStore* quic_;
    const bool reload_certificates_;
    std::mutex mu_;
};

}  // namespace anyedge::server
