#include "origin-sync/replicate/cert_follower.h"

#include <tuple>

#include "origin-sync/acme/certificate_key.h"
#include "origin-sync/base/clock.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"

#include <sodium.h>

namespace anyedge::replicate {

namespace {

constexpr const char* kInstalledFile = "certificate.json";

}  // namespace

Result<CertFollower> CertFollower::open(CertFollowOptions options, VerifyKey key,
                                        std::function<void(const std::string&)> log) {
    if (options.node_name.empty()) return make_error("a node name is needed for certificates");
    auto node_key = acme::NodeKey::load_or_create(options.node_key_file);
    if (!node_key) return node_key.forward_error("node key: ");
    log("node " + options.node_name +
        " sealing key (for the issuer's config): " + node_key->public_base64());
    CertFollower f(std::move(options), std::move(key), std::move(*node_key), std::move(log));
    // What was installed before a restart.
    if (auto text = read_file(f.opt_.state_dir / kInstalledFile, 64 * 1024)) {
        auto r = read_json_object(*text, kInstalledFile, [](JsonObject& o) {
            return std::tuple(o.str("serial"), o.integer("not_after"), o.integer("issued"));
        });
        if (r) std::tie(f.installed_serial_, f.installed_not_after_, f.installed_issued_) = *r;
    }
    return f;
}

CertFollower::CertFollower(CertFollowOptions options, VerifyKey key, acme::NodeKey node_key,
                           std::function<void(const std::string&)> log)
    : opt_(std::move(options)),
      key_(std::move(key)),
      node_key_(std::move(node_key)),
      log_(std::move(log)) {}

CertFollower::Fetch CertFollower::fetch_from(net::HttpClient& origin) {
    return [&origin](const std::string& rel) -> Result<std::optional<std::string>> {
        auto r = origin.request("GET", rel, {}, {}, 1 << 20);
        if (!r) return r.forward_error();
        if (r->status == 404) return std::optional<std::string>();
        if (r->status != 200) return make_error(rel + ": HTTP " + std::to_string(r->status));
        return std::optional<std::string>(std::move(r->body));
    };
}

Result<std::optional<std::string>> CertFollower::fetch_signed(const Fetch& fetch,
                                                              const std::string& rel) {
    auto doc = fetch(rel);
    if (!doc || !doc->has_value()) return doc;
    auto sig = fetch(rel + ".sig");
    if (!sig) return sig.forward_error();
    if (!sig->has_value()) return make_error(rel + ".sig: missing");
    if (Status s = key_.verify(**doc, **sig); !s) {
        return make_error(rel + ": signature does not verify (" + s.error() + ")");
    }
    return doc;
}

Result<bool> CertFollower::poll(const Fetch& fetch, bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now < next_check_) return false;
    next_check_ = now + opt_.interval;
    auto r = check(fetch);
    const std::string error = r ? std::string() : r.error();
    if (error != error_ && !error.empty()) log_("certificate: " + error);
    error_ = error;
    return r;
}

Result<bool> CertFollower::check(const Fetch& fetch) {
    if (auto st = fetch_signed(fetch, acme::kIssuerStatusPath); st && st->has_value()) {
        if (auto s = acme::decode_issuer_status(**st)) issuer_ = *s;
    }
    auto doc = fetch_signed(fetch, acme::kBundlePath);
    if (!doc) return doc.forward_error();
    if (!doc->has_value()) return false;  // no certificate issued yet: keep the configured one
    if (**doc == last_bundle_) return false;
    auto bundle = acme::decode_bundle(**doc);
    if (!bundle) return bundle.forward_error();
    if (bundle->serial == installed_serial_) {
        last_bundle_ = **doc;
        return false;
    }
    if (bundle->issued < installed_issued_) {
        return make_error("the origin offers certificate " + bundle->serial +
                          ", older than the installed " + installed_serial_ +
                          ": refusing it (a replayed bundle)");
    }
    if (bundle->not_after <= unix_now()) {
        return make_error("the origin's certificate " + bundle->serial + " has expired");
    }
    if (Status s = install(*bundle); !s) return s.forward_error();
    last_bundle_ = **doc;
    return true;
}

Status CertFollower::install(const acme::CertBundle& bundle) {
    auto sealed = bundle.sealed_keys.find(opt_.node_name);
    if (sealed == bundle.sealed_keys.end()) {
        return make_error("certificate " + bundle.serial + " has no key sealed to node " +
                          opt_.node_name + " (add its public key to the issuer's nodes)");
    }
    auto key_pem = node_key_.open(sealed->second);
    if (!key_pem) return key_pem.forward_error("certificate " + bundle.serial + ": ");
    Status ok = acme::check_key_matches(bundle.chain_pem, *key_pem);
    // The key first: an edge reload between the two writes refuses the mismatched pair and
    // keeps serving the old certificate; the reload after both writes takes the new one.
    if (ok) ok = atomic_write_file(opt_.key_file, *key_pem, 0600);
    sodium_memzero(key_pem->data(), key_pem->size());
    if (!ok) return ok.forward_error("certificate " + bundle.serial + ": ");
    if (Status s = atomic_write_file(opt_.cert_file, bundle.chain_pem); !s) return s;
    installed_serial_ = bundle.serial;
    installed_not_after_ = bundle.not_after;
    installed_issued_ = bundle.issued;
    const nlohmann::json installed{{"serial", bundle.serial},
                                   {"not_after", bundle.not_after},
                                   {"issued", bundle.issued},
                                   {"installed_at", unix_now()}};
    if (Status s = atomic_write_file(opt_.state_dir / kInstalledFile, installed.dump() + "\n");
        !s) {
        log_("certificate: could not record the installed certificate: " + s.error());
    }
    log_("certificate " + bundle.serial + " installed (valid until " +
         std::to_string(bundle.not_after) + ")");
    return ok_status();
}

nlohmann::json CertFollower::status() const {
    nlohmann::json j{{"state", !error_.empty()             ? "error"
                               : installed_serial_.empty() ? "none"
                                                           : "ok"},
                     {"error", error_},
                     {"serial", installed_serial_},
                     {"not_after", installed_not_after_},
                     {"issued", installed_issued_}};
    if (issuer_) {
        j["issuer"] = {{"state", issuer_->state},
                       {"error", issuer_->error},
                       {"last_attempt", issuer_->last_attempt},
                       {"last_success", issuer_->last_success},
                       {"next_attempt", issuer_->next_attempt},
                       {"failures", issuer_->failures}};
    }
    return j;
}

}  // namespace anyedge::replicate
