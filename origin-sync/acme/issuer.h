// The fleet's certificate issuer (`cdnctl acme issue` once, `cdnctl acme run` as a daemon):
// decides whether a certificate is due, orders it from the CA, seals its key to every node
// and publishes the signed bundle and its own status through the origin (cert_bundle.h).
//
// Due when: no bundle yet; the names changed; a configured node has no sealed key (a node
// joined: its key cannot be sealed later, the issuer never keeps it); two thirds of the
// lifetime passed (renew_at); or forced. A failure is published in certs/issuer.json with the
// CA's problem document, and the next attempt backs off exponentially (retry_min_s doubling up
// to retry_max_s); the nodes keep serving the certificate they have.
//
// The certificate's key lives in this process only between its generation and its sealing,
// before the CA is contacted; it never touches the issuer's disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "origin-sync/acme/cert_bundle.h"
#include "origin-sync/base/result.h"
#include "origin-sync/publish/origin.h"

namespace anyedge::acme {

struct IssuerConfig {
    std::string directory;             // the CA's directory URL
    std::string ca_file;               // trust store for the CA's HTTPS; empty: the system's
    std::string account_key;           // ES256 account key PEM (made on first use, 0600)
    std::vector<std::string> contact;  // "mailto:..." (optional)
    std::vector<std::string> names;    // DNS names on the certificate
    std::map<std::string, std::string> nodes;  // node name -> its sealing public key (base64)
    std::string origin;                 // origin directory or http(s):// URL (as for publish)
    std::string origin_token_file;      // bearer token for an upload origin
    std::string origin_ca_file;         // trust store for an https origin
    std::string signing_key;            // the publisher's Ed25519 private key PEM
    double renew_at = 2.0 / 3.0;        // fraction of the lifetime after which to renew
    bool preflight = true;              // check each challenge through the fleet first
    std::string challenge_port = "80";  // where the CA validates http-01 (a test CA may differ)
    int64_t retry_min_s = 60, retry_max_s = 6 * 3600;
    int64_t check_interval_s = 3600;  // `run`: the longest sleep between checks
    int64_t poll_limit_s = 120;       // bound on one order's polling
    int64_t timeout_ms = 30000;       // per request to the CA
};

// Reads the issuer's JSON config; errors name the key ("nodes.e1: not a node public key").
Result<IssuerConfig> load_issuer_config(const std::filesystem::path& file);

struct Decision {
    bool due = false;
    std::string why;         // "node e3 has no sealed key", "renewal time reached", ...
    int64_t renew_time = 0;  // when the present certificate falls due (0: now)
};

// Pure: is a new certificate due, given the published bundle (nullptr: none)?
Decision renewal_decision(const IssuerConfig& config, const CertBundle* bundle, int64_t now);
// Pure: the backoff after `failures` consecutive failures.
int64_t retry_delay_s(const IssuerConfig& config, int failures);

struct IssueOutcome {
    bool issued = false;
    std::string why;         // the decision's reason, or why nothing was done
    int64_t next_check = 0;  // Unix seconds when `run` should look again
    std::string serial;
    int64_t not_after = 0;
};

using IssuerLog = std::function<void(const std::string&)>;

// One check: issue when due (or forced), publish the bundle and the status. Errors are
// returned after the failure has been published in certs/issuer.json.
Result<IssueOutcome> issue_once(const IssuerConfig& config, publish::Origin& origin, bool force,
                                const IssuerLog& log);

}  // namespace anyedge::acme
