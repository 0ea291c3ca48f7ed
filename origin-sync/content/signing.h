// Ed25519 signing and verification (RFC 8032) over OpenSSL's EVP API.
//
// Keys live in PEM files: PKCS#8 "PRIVATE KEY" for the private key (file mode 0600), SPKI
// "PUBLIC KEY" for the public one. A signature file holds the raw 64-byte Ed25519 signature of
// the exact bytes of the file it signs (no encoding, no newline): "<file>.sig".
//
// SigningKey and VerifyKey own an EVP_PKEY; they are immutable after loading, and OpenSSL 3
// allows one EVP_PKEY to be used from several threads at once for sign/verify.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace anyedge {

inline constexpr size_t kSignatureSize = 64;

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class VerifyKey {
  public:
    static Result<VerifyKey> from_pem(std::string_view pem);
    static Result<VerifyKey> load(const std::filesystem::path& pem_file);

    // OK when `signature` is a valid Ed25519 signature of `message` by this key.
    Status verify(std::string_view message, std::string_view signature) const;
    // The 32 raw public key bytes, for comparing keys.
    std::string raw() const;
    std::string pem() const;

  private:
    friend class SigningKey;
    explicit VerifyKey(PkeyPtr k) : key_(std::move(k)) {}
    std::shared_ptr<EVP_PKEY> key_;
};

class SigningKey {
  public:
    static Result<SigningKey> generate();
    static Result<SigningKey> from_pem(std::string_view pem);
    static Result<SigningKey> load(const std::filesystem::path& pem_file);

    // Returns the 64-byte signature of `message`.
    Result<std::string> sign(std::string_view message) const;
    VerifyKey public_key() const;
    std::string private_pem() const;

  private:
    explicit SigningKey(PkeyPtr k) : key_(std::move(k)) {}
    std::shared_ptr<EVP_PKEY> key_;
};

// Writes DIR/private.pem (mode 0600) and DIR/public.pem for a fresh key pair. Refuses to
// overwrite an existing private.pem.
Status write_keypair(const std::filesystem::path& dir);

}  // namespace anyedge
