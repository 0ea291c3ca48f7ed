// A self-signed certificate for a given key, as a CA would issue one for a CSR's key: for the
// tests of the issuer's leaf checks and of cdn-sync's certificate install.
#pragma once

#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace anyedge::testing_util {

inline EVP_PKEY* read_private_key(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return k;
}

// PEM certificate for `key_pem`: subject CN and subjectAltName `name`, valid `days` from now.
inline std::string certificate_for(const std::string& key_pem, const std::string& name, long serial,
                                   long days) {
    EVP_PKEY* k = read_private_key(key_pem);
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_set_pubkey(x, k);
    X509_NAME* n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, n);
    const std::string san = "DNS:" + name;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, k, EVP_sha256());
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* data = nullptr;
    const long len = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    return out;
}

}  // namespace anyedge::testing_util
