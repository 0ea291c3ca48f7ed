// An RFC 8555 client: the directory, replay nonces, JWS-signed POSTs and POST-as-GETs, the
// account, and the CA's problem documents (§6.7) as errors. The order flow is in
// certificate_order.h; this file knows only the protocol's envelope.
//
// Nonces: every response's Replay-Nonce is kept for the next request; a `badNonce` problem is
// retried with the fresh nonce it carries (§6.5), a bounded number of times.
// Blocking; one thread. Uses the project's one HTTP client, one connection per CA origin.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "origin-sync/acme/account_key.h"
#include "origin-sync/base/result.h"
#include "origin-sync/net/http_client.h"

namespace anyedge::acme {

struct AcmeResponse {
    int status = 0;
    std::string location;                 // Location header (account, order URLs)
    std::chrono::seconds retry_after{0};  // Retry-After in seconds; 0 when absent
    std::string content_type;
    std::string body;
    nlohmann::json json;  // the body parsed when it is JSON, else null
};

struct AcmeClientOptions {
    std::string directory_url;  // e.g. https://acme-v02.api.letsencrypt.org/directory
    std::string ca_file;        // trust store for the CA's HTTPS; empty: the system's
    std::chrono::milliseconds timeout{30000};
    int nonce_retries = 5;  // badNonce retries per request
};

class AcmeClient {
  public:
    AcmeClient(AcmeClientOptions options, AccountKey key);
    ~AcmeClient();

    // Fetches the directory (§7.1.1) once; later calls reuse it.
    Status load_directory();
    // A URL from the directory ("newNonce", "newAccount", "newOrder"), after load_directory().
    Result<std::string> endpoint(const std::string& name) const;

    // newAccount with termsOfServiceAgreed (§7.3): makes the account or finds the existing one
    // for this key, and remembers its URL (the JWS "kid") for every later request.
    Result<std::string> account(const std::vector<std::string>& contact);

    // A signed POST of `payload`, or a POST-as-GET when it is nullopt (§6.3). A response with
    // an error status becomes an error holding the CA's problem document: "POST URL: HTTP 403:
    // urn:ietf:params:acme:error:unauthorized: detail".
    Result<AcmeResponse> post(const std::string& url, const std::optional<nlohmann::json>& payload);

    const std::string& account_url() const { return kid_; }
    const AccountKey& key() const { return key_; }

  private:
    Result<AcmeResponse> send(const std::string& method, const std::string& url,
                              const std::string& body);
    Status fresh_nonce();

    AcmeClientOptions options_;
    AccountKey key_;
    nlohmann::json directory_;
    std::string nonce_;
    std::string kid_;
    std::map<std::string, std::unique_ptr<net::HttpClient>> clients_;  // by scheme://authority
};

// "HTTP 403: urn:ietf:params:acme:error:unauthorized: detail" from an error response.
std::string describe_problem(const AcmeResponse& r);

}  // namespace anyedge::acme
