#include "edge/tls/self_signed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "edge/tls/openssl_ptr.h"
#include "origin-sync/base/file_io.h"

namespace anyedge::tls {
namespace {

bool is_ip_literal(const std::string& name) {
    unsigned char buf[16];
    return inet_pton(AF_INET, name.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

Status add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (ext == nullptr) {
        return make_error(openssl_error(std::string("certificate extension ") + value));
    }
    const int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) {
        return make_error(openssl_error("X509_add_ext"));
    }
    return ok_status();
}

// subjectAltName built from GENERAL_NAMEs rather than a config string, so that no name can
// inject further entries.
Status add_subject_alt_names(X509* cert, std::span<const std::string> names) {
    GENERAL_NAMES* gens = sk_GENERAL_NAME_new_null();
    if (gens == nullptr) {
        return make_error("out of memory");
    }
    Status status = ok_status();
    for (const std::string& name : names) {
        GENERAL_NAME* gn = nullptr;
        if (is_ip_literal(name)) {
            ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
            gn = ip != nullptr ? GENERAL_NAME_new() : nullptr;
            if (gn == nullptr) {
                ASN1_OCTET_STRING_free(ip);
            } else {
                GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
            }
        } else {
            ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
            if (dns != nullptr &&
                ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()))) {
                gn = GENERAL_NAME_new();
            }
            if (gn == nullptr) {
                ASN1_IA5STRING_free(dns);
            } else {
                GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
            }
        }
        if (gn == nullptr || sk_GENERAL_NAME_push(gens, gn) == 0) {
            GENERAL_NAME_free(gn);
            status = make_error(openssl_error("subjectAltName " + name));
            break;
        }
    }
    if (status.ok() &&
        X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
        status = make_error(openssl_error("X509_add1_ext_i2d subjectAltName"));
    }
    GENERAL_NAMES_free(gens);
    return status;
}

Result<std::string> to_pem(const std::function<int(BIO*)>& write) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) {
        return make_error(openssl_error("PEM encoding"));
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

Result<CertificatePem> make_self_signed(KeyType type, std::span<const std::string> names,
                                        int valid_days) {
    if (names.empty()) {
        return make_error("a certificate needs at least one name");
    }
    EvpPkeyPtr key(type == KeyType::ecdsa_p256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048));
    if (!key) {
        return make_error(openssl_error("key generation"));
    }
    X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
        return make_error(openssl_error("X509_new"));
    }
    // A random positive 127-bit serial (RFC 5280 §4.1.2.2: unique per issuer, at most 20 bytes).
    BIGNUM* serial = BN_new();
    const bool serial_ok = serial != nullptr &&
                           BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
                           BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr;
    BN_free(serial);
    if (!serial_ok) {
        return make_error(openssl_error("certificate serial"));
    }
    // Backdated an hour for clients whose clocks lag.
    if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * valid_days) == nullptr ||
        X509_set_pubkey(cert.get(), key.get()) != 1) {
        return make_error(openssl_error("certificate validity"));
    }
    X509_NAME* subject = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(names[0].c_str()), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(cert.get(), subject) != 1) {
        return make_error(openssl_error("certificate subject"));
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    const char* key_usage = type == KeyType::ecdsa_p256
                                ? "critical,digitalSignature"
                                : "critical,digitalSignature,keyEncipherment";
    for (auto [nid, value] :
         {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
          std::pair{NID_key_usage, key_usage}, std::pair{NID_ext_key_usage, "serverAuth"},
          std::pair{NID_subject_key_identifier, "hash"}}) {
        if (Status s = add_extension(cert.get(), &ctx, nid, value); !s) {
            return make_error(s.error());
        }
    }
    if (Status s = add_subject_alt_names(cert.get(), names); !s) {
        return make_error(s.error());
    }
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        return make_error(openssl_error("X509_sign"));
    }
    auto cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
    auto key_pem = to_pem([&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    if (!cert_pem) {
        return make_error(cert_pem.error());
    }
    if (!key_pem) {
        return make_error(key_pem.error());
    }
    return CertificatePem{std::move(*cert_pem), std::move(*key_pem)};
}

Status generate_self_signed(const std::string& cert_path, const std::string& key_path,
                            std::span<const std::string> hostnames) {
    std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
    names.insert(names.end(), hostnames.begin(), hostnames.end());
    auto pem = make_self_signed(KeyType::ecdsa_p256, names);
    if (!pem) {
        return make_error(pem.error());
    }
    // Key first: whoever sees the new certificate must find its key.
    if (Status s = atomic_write_file(key_path, pem->private_key, 0600); !s) {
        return s;
    }
    return atomic_write_file(cert_path, pem->certificate, 0644);
}

}  // namespace anyedge::tls
