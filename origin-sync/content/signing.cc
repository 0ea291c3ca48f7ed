#include "origin-sync/content/signing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "origin-sync/content/openssl_error.h"
#include "origin-sync/content/store.h"

namespace anyedge {

void PkeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

Status check_ed25519(EVP_PKEY* k) {
    if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) return make_error("not an Ed25519 key");
    return ok_status();
}

std::string bio_to_string(BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<std::string> slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return make_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Result<VerifyKey> VerifyKey::from_pem(std::string_view pem) {
    ERR_clear_error();
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!k) return make_error(openssl_error("not a PEM public key"));
    if (Status s = check_ed25519(k.get()); !s) return s.forward_error();
    return VerifyKey(std::move(k));
}

Result<VerifyKey> VerifyKey::load(const std::filesystem::path& pem_file) {
    auto text = slurp(pem_file);
    if (!text) return text.forward_error();
    auto k = from_pem(*text);
    if (!k) return make_error(pem_file.string() + ": " + k.error());
    return k;
}

Status VerifyKey::verify(std::string_view message, std::string_view signature) const {
    if (signature.size() != kSignatureSize) {
        return make_error("signature is " + std::to_string(signature.size()) +
                          " bytes, expected 64");
    }
    ERR_clear_error();
    MdCtxPtr ctx(EVP_MD_CTX_new());
    // Ed25519 is a one-shot scheme: no digest, EVP_DigestVerify over the whole message.
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
        return make_error(openssl_error("verify init failed"));
    }
    int rc = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
        reinterpret_cast<const unsigned char*>(message.data()), message.size());
    ERR_clear_error();
    if (rc != 1) return make_error("bad signature");
    return ok_status();
}

std::string VerifyKey::raw() const {
    unsigned char buf[32];
    size_t len = sizeof buf;
    if (EVP_PKEY_get_raw_public_key(key_.get(), buf, &len) != 1) return {};
    return std::string(reinterpret_cast<char*>(buf), len);
}

std::string VerifyKey::pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    return bio_to_string(bio.get());
}

Result<SigningKey> SigningKey::generate() {
    ERR_clear_error();
    PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!k) return make_error(openssl_error("Ed25519 key generation failed"));
    return SigningKey(std::move(k));
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem) {
    ERR_clear_error();
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!k) return make_error(openssl_error("not a PEM private key"));
    if (Status s = check_ed25519(k.get()); !s) return s.forward_error();
    return SigningKey(std::move(k));
}

Result<SigningKey> SigningKey::load(const std::filesystem::path& pem_file) {
    auto text = slurp(pem_file);
    if (!text) return text.forward_error();
    auto k = from_pem(*text);
    if (!k) return make_error(pem_file.string() + ": " + k.error());
    return k;
}

Result<std::string> SigningKey::sign(std::string_view message) const {
    ERR_clear_error();
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
        return make_error(openssl_error("sign init failed"));
    }
    std::string sig(kSignatureSize, '\0');
    size_t len = sig.size();
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1 ||
        len != kSignatureSize) {
        return make_error(openssl_error("signing failed"));
    }
    return sig;
}

VerifyKey SigningKey::public_key() const {
    // Round-trip through the public PEM so the VerifyKey holds no private material.
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(bio.get(), key_.get());
    PkeyPtr pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    return VerifyKey(std::move(pub));
}

std::string SigningKey::private_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    return bio_to_string(bio.get());
}

Status write_keypair(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());
    auto priv_path = dir / "private.pem";
    if (std::filesystem::exists(priv_path, ec)) {
        return make_error(priv_path.string() + " already exists; refusing to overwrite a key");
    }
    auto key = SigningKey::generate();
    if (!key) return key.forward_error();
    // The private key file is created 0600 from the start: no window where it is readable.
    if (Status s = atomic_write_file(priv_path, key->private_pem(), 0600); !s) return s;
    return atomic_write_file(dir / "public.pem", key->public_key().pem(), 0644);
}

}  // namespace anyedge
