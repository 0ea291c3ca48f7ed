// The node's half of fleet certificates (origin-sync/acme/cert_bundle.h), run by cdn-sync:
// fetch the signed bundle and the issuer's status from the origin, open this node's sealed
// key, check that it belongs to the chain's leaf, and install key and chain for the edge
// (atomic writes, key 0600), then the caller reloads the edge (its certificate reload keeps
// every connection).
//
// Nothing changes on a bad signature, a bundle without this node, a key that does not match,
// an expired certificate or a bundle older than the installed one (a replay). The installed
// certificate's facts are kept in STATE/certificate.json so a restart does not reinstall.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "origin-sync/acme/cert_bundle.h"
#include "origin-sync/acme/node_key.h"
#include "origin-sync/base/result.h"
#include "origin-sync/content/signing.h"
#include "origin-sync/net/http_client.h"

namespace anyedge::replicate {

struct CertFollowOptions {
    std::string node_name;
    std::filesystem::path node_key_file;  // made on first use; its public half is logged
    std::filesystem::path cert_file;      // the edge's --cert
    std::filesystem::path key_file;       // the edge's --key
    std::filesystem::path state_dir;
    std::chrono::milliseconds interval{10000};
};

class CertFollower {
  public:
    static Result<CertFollower> open(CertFollowOptions options, VerifyKey key,
                                     std::function<void(const std::string&)> log);

    // How documents are read from the origin: the bytes, nullopt when absent (404).
    using Fetch = std::function<Result<std::optional<std::string>>(const std::string& rel)>;
    static Fetch fetch_from(net::HttpClient& origin);

    // Checks the origin when `interval` has passed since the last check (or when forced).
    // True when a new certificate was installed: reload the edge.
    Result<bool> poll(const Fetch& fetch, bool force = false);

    // For sync-status.json: {"state", "error", "serial", "not_after", "issued", "issuer": ...}.
    nlohmann::json status() const;

  private:
    CertFollower(CertFollowOptions options, VerifyKey key, acme::NodeKey node_key,
                 std::function<void(const std::string&)> log);
    Result<std::optional<std::string>> fetch_signed(const Fetch& fetch, const std::string& rel);
    Result<bool> check(const Fetch& fetch);
    Status install(const acme::CertBundle& bundle);

    CertFollowOptions opt_;
    VerifyKey key_;
    acme::NodeKey node_key_;
    std::function<void(const std::string&)> log_;
    std::chrono::steady_clock::time_point next_check_{};
    std::string last_bundle_;  // bytes of the last bundle acted on
    std::string error_;
    std::string installed_serial_;
    int64_t installed_not_after_ = 0, installed_issued_ = 0;
    std::optional<acme::IssuerStatus> issuer_;
};

}  // namespace anyedge::replicate
