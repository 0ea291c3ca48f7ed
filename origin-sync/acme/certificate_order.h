// One certificate order (RFC 8555 §7.4): newOrder for the names, answer each authorization's
// http-01 challenge through the fleet, finalize with the CSR, download the chain.
//
// The fleet answers every challenge statelessly (token.thumbprint), so nothing is sent to the
// nodes here. Before the CA is told to validate, the issuer fetches the challenge URL itself
// (the preflight): a name that does not reach the fleet, or nodes configured with another
// account's thumbprint, fail here with a clear error instead of an invalid authorization.
// Every wait is bounded by `poll_limit`.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "origin-sync/acme/acme_client.h"
#include "origin-sync/base/result.h"

namespace anyedge::acme {

struct OrderOptions {
    std::vector<std::string> names;
    bool preflight = true;
    std::chrono::milliseconds preflight_timeout{5000};
    // The port the CA validates http-01 on: 80 (RFC 8555 §8.3); a test CA may use another.
    std::string challenge_port = "80";
    std::chrono::seconds poll_limit{120};
    std::function<void(const std::string&)> log;
};

// Returns the PEM chain (leaf first) for `csr_der`.
Result<std::string> order_certificate(AcmeClient& client, const std::string& csr_der,
                                      const OrderOptions& options);

// GET http://NAME/.well-known/acme-challenge/TOKEN and compare with the key authorization.
Status preflight_challenge(const std::string& name, const std::string& port,
                           const std::string& token, const std::string& expected,
                           std::chrono::milliseconds timeout);

}  // namespace anyedge::acme
