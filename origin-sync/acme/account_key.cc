#include "origin-sync/acme/account_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "origin-sync/base/base64.h"
#include "origin-sync/base/file_io.h"
#include "origin-sync/base/json_object.h"
#include "origin-sync/content/digest.h"
#include "origin-sync/content/openssl_error.h"

namespace anyedge::acme {

namespace {

// A coordinate as the fixed 32 bytes JWK (RFC 7518 §6.2.1.2) and JWS (§3.4) require.
std::string fixed32(const BIGNUM* n) {
    std::string out(32, '\0');
    BN_bn2binpad(n, reinterpret_cast<unsigned char*>(out.data()), 32);
    return out;
}

std::string coordinate(EVP_PKEY* k, const char* name) {
    BIGNUM* n = nullptr;
    if (EVP_PKEY_get_bn_param(k, name, &n) != 1) return {};
    std::string out = fixed32(n);
    BN_free(n);
    return out;
}

bool is_p256(EVP_PKEY* k) {
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) return false;
    char group[64] = {};
    size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           std::string_view(group, len) == "prime256v1";
}

}  // namespace

Result<AccountKey> AccountKey::generate() {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    if (k == nullptr) return make_error(openssl_error("EVP_EC_gen"));
    return AccountKey(PkeyPtr(k));
}

Result<AccountKey> AccountKey::from_pem(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) return make_error(openssl_error("BIO_new_mem_buf"));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (k == nullptr) return make_error(openssl_error("not a PEM private key"));
    PkeyPtr key(k);
    if (!is_p256(k)) return make_error("the ACME account key must be ECDSA P-256 (ES256)");
    return AccountKey(std::move(key));
}

Result<AccountKey> AccountKey::load(const std::filesystem::path& pem_file) {
    auto pem = read_file(pem_file, 64 * 1024);
    if (!pem) return pem.forward_error();
    auto key = from_pem(*pem);
    if (!key) return key.forward_error(pem_file.string() + ": ");
    return key;
}

Result<AccountKey> AccountKey::load_or_create(const std::filesystem::path& pem_file) {
    std::error_code ec;
    if (std::filesystem::exists(pem_file, ec)) return load(pem_file);
    auto key = generate();
    if (!key) return key;
    if (Status s = atomic_write_file(pem_file, key->private_pem(), 0600); !s) {
        return s.forward_error();
    }
    return key;
}

nlohmann::json AccountKey::jwk() const {
    // Members in lexicographic order: dump() of this object is the thumbprint input.
    return nlohmann::json{
        {"crv", "P-256"},
        {"kty", "EC"},
        {"x", base64url_encode(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X))},
        {"y", base64url_encode(coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y))},
    };
}

std::string AccountKey::thumbprint() const {
    const Sha256 d = sha256(json_dump(jwk()));
    return base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

Result<std::string> AccountKey::sign(std::string_view message) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return make_error(openssl_error("EVP_MD_CTX_new"));
    std::string der(128, '\0');
    size_t der_len = der.size();
    const bool signed_ok =
        EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &der_len,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!signed_ok) return make_error(openssl_error("ES256 signature"));
    // OpenSSL gives DER (SEQUENCE of r, s); JWS wants r || s, 32 bytes each.
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    if (sig == nullptr) return make_error(openssl_error("ES256 signature encoding"));
    std::string out = fixed32(ECDSA_SIG_get0_r(sig)) + fixed32(ECDSA_SIG_get0_s(sig));
    ECDSA_SIG_free(sig);
    return out;
}

std::string AccountKey::private_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

Result<std::string> sign_jws(const AccountKey& key, std::string_view url, std::string_view nonce,
                             std::string_view kid, const std::string& payload) {
    nlohmann::json header{{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
    if (kid.empty()) {
        header["jwk"] = key.jwk();
    } else {
        header["kid"] = kid;
    }
    const std::string protected64 = base64url_encode(json_dump(header));
    const std::string payload64 = base64url_encode(payload);
    auto sig = key.sign(protected64 + "." + payload64);
    if (!sig) return sig.forward_error();
    return nlohmann::json{
        {"protected", protected64}, {"payload", payload64}, {"signature", base64url_encode(*sig)}}
        .dump();
}

}  // namespace anyedge::acme
