// The fleet certificate as it travels through the origin: one signed JSON document holding
// the chain and, for each node, the private key sealed to that node's key (node_key.h).
//
//   certs/bundle.json      {"format": "anyedge-certificate-bundle/1", "names": [...],
//                           "serial": "hex", "not_before": s, "not_after": s, "issued": s,
//                           "chain": "PEM", "keys": {"<node>": "base64(sealed key PEM)"}}
//   certs/bundle.json.sig  Ed25519 signature by the publisher's key (as for `current`)
//   certs/issuer.json(.sig) the issuer's last attempt: {"state": "ok"|"error", "error": "...",
//                           "last_attempt": s, "last_success": s, "next_attempt": s,
//                           "serial": "hex", "not_after": s}
//
// Nodes verify the signature, open only their own entry and check that the key is the leaf's
// before anything is written: a bad bundle changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "origin-sync/base/result.h"
#include "origin-sync/content/signing.h"

namespace anyedge::acme {

inline constexpr const char* kBundlePath = "certs/bundle.json";
inline constexpr const char* kIssuerStatusPath = "certs/issuer.json";
inline constexpr const char* kBundleFormat = "anyedge-certificate-bundle/1";

struct CertBundle {
    std::vector<std::string> names;
    std::string serial;
    int64_t not_before = 0, not_after = 0, issued = 0;
    std::string chain_pem;
    std::map<std::string, std::string> sealed_keys;  // node name -> sealed key PEM (raw bytes)
};

std::string encode_bundle(const CertBundle& b);
Result<CertBundle> decode_bundle(const std::string& json_text);

struct IssuerStatus {
    std::string state;  // "ok" or "error"
    std::string error;  // the last failure, with the CA's problem document
    int64_t last_attempt = 0, last_success = 0, next_attempt = 0;
    std::string serial;
    int64_t not_after = 0;
    int failures = 0;  // consecutive failed attempts (drives the backoff)
};

std::string encode_issuer_status(const IssuerStatus& s);
Result<IssuerStatus> decode_issuer_status(const std::string& json_text);

}  // namespace anyedge::acme
