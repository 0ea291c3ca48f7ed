// The fleet's ACME account key: ECDSA P-256, signing JWS with ES256 (RFC 7518 §3.4), its JWK
// (RFC 7517) and the JWK's SHA-256 thumbprint (RFC 7638), which every node's config carries
// so that it can answer HTTP-01 challenges (RFC 8555 §8.1, §8.3).
//
// The PEM file is PKCS#8 "PRIVATE KEY", mode 0600, made once by `cdnctl acme account`.
// Immutable after loading; OpenSSL 3 allows signing from several threads with one EVP_PKEY.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "origin-sync/base/result.h"
#include "origin-sync/content/signing.h"

namespace anyedge::acme {

class AccountKey {
  public:
    static Result<AccountKey> generate();
    static Result<AccountKey> from_pem(std::string_view pem);
    static Result<AccountKey> load(const std::filesystem::path& pem_file);
    // Loads the key, or makes one and writes it (0600) when the file does not exist yet.
    static Result<AccountKey> load_or_create(const std::filesystem::path& pem_file);

    // {"crv":"P-256","kty":"EC","x":...,"y":...}
    nlohmann::json jwk() const;
    // base64url(SHA-256(the JWK's members in lexicographic order, no white space)): 43 chars.
    std::string thumbprint() const;
    // The 64-byte JWS signature R || S of `message` (ES256).
    Result<std::string> sign(std::string_view message) const;
    std::string private_pem() const;

  private:
    explicit AccountKey(PkeyPtr k) : key_(std::move(k)) {}
    std::shared_ptr<EVP_PKEY> key_;
};

// A JWS in the flattened JSON serialization (RFC 7515 §7.2.2), as RFC 8555 §6.2 requires:
// protected header {alg: ES256, nonce, url, and kid (the account URL) or jwk (before the
// account exists)}. An empty `payload` with `post_as_get` signs "" (POST-as-GET, §6.3).
Result<std::string> sign_jws(const AccountKey& key, std::string_view url, std::string_view nonce,
                             std::string_view kid, const std::string& payload);

}  // namespace anyedge::acme
