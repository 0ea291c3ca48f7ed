#include "origin-sync/acme/certificate_key.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "origin-sync/content/openssl_error.h"

namespace anyedge::acme {

namespace {

std::string bio_string(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
}

std::string public_pem_of(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    std::string out = bio_string(b);
    BIO_free(b);
    return out;
}

int64_t unix_time(const ASN1_TIME* t) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return static_cast<int64_t>(timegm(&tm));
}

X509* read_first_certificate(const std::string& chain_pem) {
    BIO* b = BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return x;
}

}  // namespace

Result<CertificateKey> CertificateKey::generate(const std::vector<std::string>& names) {
    if (names.empty()) return make_error("a certificate needs at least one name");
    EVP_PKEY* k = EVP_EC_gen("P-256");
    if (k == nullptr) return make_error(openssl_error("EVP_EC_gen"));
    X509_REQ* req = X509_REQ_new();
    X509_NAME* subject = X509_NAME_new();
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    std::string san;
    for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    const bool made =
        req != nullptr && subject != nullptr && exts != nullptr && ext != nullptr &&
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1,
                                   0) == 1 &&
        X509_REQ_set_subject_name(req, subject) == 1 && X509_REQ_set_pubkey(req, k) == 1 &&
        sk_X509_EXTENSION_push(exts, ext) > 0 && X509_REQ_add_extensions(req, exts) == 1 &&
        X509_REQ_sign(req, k, EVP_sha256()) > 0;
    if (!made && ext != nullptr && sk_X509_EXTENSION_find(exts, ext) < 0) X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    CertificateKey out;
    std::string error;
    if (made) {
        unsigned char* der = nullptr;
        const int len = i2d_X509_REQ(req, &der);
        if (len > 0) {
            out.csr_der_.assign(reinterpret_cast<char*>(der), static_cast<size_t>(len));
            OPENSSL_free(der);
        }
        BIO* b = BIO_new(BIO_s_secmem());
        if (b != nullptr && PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr)) {
            out.private_pem_ = bio_string(b);
        }
        BIO_free(b);  // BIO_s_secmem clears its buffer when freed
        out.public_pem_ = public_pem_of(k);
    } else {
        error = openssl_error("certificate signing request");
    }
    X509_REQ_free(req);
    EVP_PKEY_free(k);
    if (!made) return make_error(error);
    if (out.csr_der_.empty() || out.private_pem_.empty()) {
        return make_error(openssl_error("encoding the key or the CSR"));
    }
    return out;
}

CertificateKey::~CertificateKey() { forget_private_key(); }

void CertificateKey::forget_private_key() {
    if (!private_pem_.empty()) OPENSSL_cleanse(private_pem_.data(), private_pem_.size());
    private_pem_.clear();
    private_pem_.shrink_to_fit();
}

Result<LeafInfo> read_leaf(const std::string& chain_pem) {
    X509* x = read_first_certificate(chain_pem);
    if (x == nullptr) return make_error(openssl_error("no PEM certificate in the chain"));
    LeafInfo info;
    if (const ASN1_INTEGER* serial = X509_get0_serialNumber(x)) {
        BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
        if (char* hex = bn ? BN_bn2hex(bn) : nullptr) {
            info.serial_hex = hex;
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    info.not_before = unix_time(X509_get0_notBefore(x));
    info.not_after = unix_time(X509_get0_notAfter(x));
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS) continue;
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
    if (EVP_PKEY* pk = X509_get0_pubkey(x)) info.public_pem = public_pem_of(pk);
    X509_free(x);
    if (info.not_after == 0) return make_error("the leaf certificate has no readable validity");
    return info;
}

Status check_key_matches(const std::string& chain_pem, const std::string& key_pem) {
    X509* x = read_first_certificate(chain_pem);
    if (x == nullptr) return make_error(openssl_error("no PEM certificate in the chain"));
    BIO* b = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    const bool match = k != nullptr && X509_check_private_key(x, k) == 1;
    EVP_PKEY_free(k);
    X509_free(x);
    ERR_clear_error();
    if (!match) return make_error("the private key does not belong to the leaf certificate");
    return ok_status();
}

}  // namespace anyedge::acme
