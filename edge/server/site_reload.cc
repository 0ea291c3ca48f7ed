#include "edge/server/site_reload.h"

#include <ctime>
#include <filesystem>
#include <string>

#include "edge/cache/site_loader.h"
#include "edge/cache/state_loader.h"
#include "edge/server/quic_tls_files.h"
#include "edge/tls/tls_context.h"
#include "origin-sync/base/log_line.h"
#include "origin-sync/content/store.h"

namespace anyedge::server {

SiteReload::SiteReload(const EdgeConfig& cfg, cache::SnapshotOptions options, SharedState& shared,
                       tls::TlsContext* tls, bool reload_certificates, quic::QuicTlsStore* quic)
    : cfg_(cfg),
      options_(std::move(options)),
      shared_(shared),
      tls_(tls),
      quic_(quic),
      reload_certificates_(reload_certificates) {}

// `previous` is the snapshot being replaced (kept servable for the skew grace).
Result<PublishedSite> SiteReload::load(std::shared_ptr<const cache::Snapshot> previous) const {
    PublishedSite site;
    site.published_at = time(nullptr);
    if (!cfg_.site.empty()) {
        auto files = cache::load_site_dir(cfg_.site, {.mmap_threshold = options_.mmap_threshold,
                                                      .compress = cfg_.compress,
                                                      .previous = previous.get()});
        if (!files) return files.forward_error();
        site.live = cache::Snapshot::build(std::move(*files), options_, 0);
        return site;
    }
    auto state = cache::load_state(cfg_.state, options_);
    if (!state) return state.forward_error();
    site.live = std::move(state->live);
    site.previous = previous && previous->generation() != site.live->generation()
                        ? std::move(previous)
                        : std::move(state->previous);
    site.previous_until = site.published_at + cfg_.skew_grace_s;
    return site;
}

Status SiteReload::load_initial() {
    std::lock_guard lock(mu_);
    auto site = load(nullptr);
    if (!site && !cfg_.state.empty() && !std::filesystem::exists(current_file_path(cfg_.state))) {
        log_line(cfg_.state + " has no generation yet: waiting for one");
        PublishedSite empty;
        empty.live = cache::Snapshot::build({}, options_, 0);
        empty.published_at = time(nullptr);
        site = std::move(empty);
    }
    if (!site) return site.forward_error();
    log_line("serving generation " + std::to_string(site->live->generation()) + " (" +
             std::to_string(site->live->file_count()) + " files) from " +
             (cfg_.site.empty() ? cfg_.state : cfg_.site));
    shared_.publish(std::move(*site));
    return ok_status();
}

Result<uint64_t> SiteReload::reload() {
    std::lock_guard lock(mu_);
    reload_tls_locked("reload");
    auto site = load(shared_.current());
    if (!site) {
        log_line("reload failed, still serving the previous generation: " + site.error());
        return site.forward_error();
    }
    const uint64_t generation = site->live->generation();
    shared_.publish(std::move(*site));
    log_line("now serving generation " + std::to_string(generation));
    return generation;
}

void SiteReload::reload_tls(const char* why) {
    std::lock_guard lock(mu_);
    reload_tls_locked(why);
}

void SiteReload::reload_tls_locked(const char* why) {
    if (!tls_) return;
    if (reload_certificates_) {
        auto st = tls_->reload_certificates();
        log_line(std::string(why) + ": certificates " +
                 (st ? std::string("reloaded") : "not reloaded: " + st.error()));
    }
    if (!cfg_.ticket_keys.empty()) {
        auto st = tls_->reload_ticket_keys();
        log_line(std::string(why) + ": ticket keys " +
                 (st ? std::string("reloaded") : "not reloaded: " + st.error()));
    }
    // HTTP/3 loads the same files through GnuTLS; new handshakes take the new credentials.
    if (quic_ != nullptr && (reload_certificates_ || !cfg_.ticket_keys.empty())) {
        std::vector<quic::CertificateFiles> files;
        for (size_t i = 0; i < cfg_.cert.size() && i < cfg_.key.size(); ++i) {
            files.push_back({cfg_.cert[i], cfg_.key[i]});
        }
        auto q = load_quic_tls(files, cfg_.ticket_keys);
        if (q) quic_->set(std::move(*q));
        log_line(std::string(why) + ": HTTP/3 certificates and tickets " +
                 (q ? std::string("reloaded") : "not reloaded: " + q.error()));
    }
}

}  // namespace anyedge::server
