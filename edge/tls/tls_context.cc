#include "edge/tls/tls_context.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <limits>
#include <set>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "edge/tls/provider/crypto_provider.h"
#include "edge/tls/traffic_secrets.h"

namespace anyedge::tls {
namespace {

// Mozilla "intermediate" suites (ECDHE with AEAD ciphers only), in our preference order.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Session ids and tickets are bound to this context id; all our SSL_CTXs share it so that a
// session survives the SNI switch (SSL_set_SSL_CTX).
constexpr unsigned char kSessionIdContext[] = "anyedge";

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Lower-cases and drops one trailing dot (an absolute DNS name is the same host).
std::string normalize_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    std::string out(name);
    std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
    return out;
}

Result<X509Ptr> read_leaf(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        return make_error(openssl_error("cannot open certificate " + path));
    }
    X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) {
        return make_error(openssl_error("no PEM certificate in " + path));
    }
    return leaf;
}

std::vector<std::string> certificate_names(X509* leaf) {
    std::vector<std::string> names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type == GEN_DNS) {
                const ASN1_IA5STRING* s = gn->d.dNSName;
                names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<std::size_t>(ASN1_STRING_length(s)));
            }
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        const X509_NAME* subject = X509_get_subject_name(leaf);
        const int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        if (idx >= 0) {
            const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
            names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                               static_cast<std::size_t>(ASN1_STRING_length(cn)));
        }
    }
    return names;
}

std::int64_t unix_seconds(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return static_cast<std::int64_t>(timegm(&tm));
}

// A usable SNI name: "*." only as the whole first label, no other '*', no empty labels.
bool valid_server_name(const std::string& name) {
    std::string_view rest = name;
    if (rest.starts_with("*.")) {
        rest.remove_prefix(2);
    }
    if (rest.empty() || rest.size() > 253 || rest.find('*') != std::string_view::npos ||
        rest.front() == '.' || rest.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(rest.begin(), rest.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7F;
    });
}

}  // namespace

struct CertificateSet {
    std::vector<SslCtxPtr> contexts;                        // [0] is the default
    std::map<std::string, SSL_CTX*, std::less<>> exact;     // "www.example.com"
    std::map<std::string, SSL_CTX*, std::less<>> wildcard;  // "example.com" for *.example.com

    std::vector<CertificateInfo> info;  // one per configured certificate, in config order

    SSL_CTX* default_context() const { return contexts.front().get(); }
    SSL_CTX* for_name(std::string_view server_name) const;
};

TlsContext::TlsContext(TlsConfig config) : config_(std::move(config)) {}

TlsContext::~TlsContext() { EVP_CIPHER_free(ticket_cipher_); }

Result<std::unique_ptr<TlsContext>> TlsContext::create(TlsConfig config) {
    if (config.certificates.empty()) {
        return make_error("TLS needs at least one certificate");
    }
    if (config.tickets_per_handshake < 0 || config.session_lifetime_seconds <= 0 ||
        config.session_lifetime_seconds > 7 * 86400) {
        return make_error("TLS tickets_per_handshake must be >= 0 and session lifetime 1s..7d");
    }
    std::unique_ptr<TlsContext> self(new TlsContext(std::move(config)));
    // Fetched once: EVP_aes_256_cbc() would repeat the provider lookup on every handshake.
    self->ticket_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    if (self->ticket_cipher_ == nullptr) {
        return make_error(openssl_error("AES-256-CBC for session tickets"));
    }
    auto library = crypto_library({.x25519_by_libsodium = self->config_.x25519_by_libsodium,
                                   .tls13_kdf_by_anyedge = self->config_.tls13_kdf_by_anyedge});
    if (!library) {
        return make_error(library.error());
    }
    self->crypto_ = std::move(*library);
    auto records = RecordAlgorithms::fetch(
        self->crypto_.libctx,
        self->crypto_.property_query.empty() ? nullptr : self->crypto_.property_query.c_str());
    if (!records) {
        return make_error(records.error());
    }
    self->records_ = std::move(*records);
    for (const std::string& proto : self->config_.alpn) {
        // RFC 7301 §3.1: each protocol name is 1 to 255 bytes.
        if (proto.empty() || proto.size() > 255) {
            return make_error("ALPN protocol names must be 1-255 bytes");
        }
        self->alpn_.push_back(proto);
    }
    if (self->config_.ticket_key_file.empty()) {
        auto key = random_ticket_key(0, std::numeric_limits<std::int64_t>::max());
        if (!key) {
            return make_error(key.error());
        }
        if (Status s = self->set_ticket_keys({*key}); !s) {
            return make_error(s.error());
        }
    } else if (Status s = self->reload_ticket_keys(); !s) {
        return make_error(s.error());
    }
    auto set = self->load_certificates();
    if (!set) {
        return make_error(set.error());
    }
    self->certs_ = std::move(*set);
    return self;
}

Status TlsContext::configure(SSL_CTX* ctx, const CertificateSet* set) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        return make_error(openssl_error("TLS protocol versions"));
    }
    if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, kTls13Ciphersuites) != 1) {
        return make_error(openssl_error("TLS cipher suites"));
    }
    if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
        return make_error(openssl_error("TLS groups"));
    }
    // Renegotiation is refused (RFC 7457 §2.2 attacks, and a CPU DoS vector); compression is
    // off (CRIME, RFC 7457 §2.6). Truncation is an error (SSL_OP_IGNORE_UNEXPECTED_EOF off).
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Who orders the suites: see TlsConfig::server_cipher_preference.
    constexpr std::uint64_t kServerOrder =
        SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
    if (config_.server_cipher_preference) {
        SSL_CTX_set_options(ctx, kServerOrder);
    } else {
        SSL_CTX_clear_options(ctx, kServerOrder);
    }
    if (config_.tickets_per_handshake == 0) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    } else {
        SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    }
    // TLS 1.3 tickets go out the moment the handshake ends (OpenSSL's default), not with the
    // first response: a client that leaves right after the handshake (`openssl s_client
    // </dev/null`, testssl's resumption check) would otherwise never see one.
    SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(config_.tickets_per_handshake));
    // Partial writes let TlsSession push a large response record by record into a bounded
    // output buffer; the caller's buffer may move between retries.
    // The chain is what the certificate file holds: no chain building from the (empty)
    // verification store on every handshake (SSL_MODE_NO_AUTO_CHAIN).
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_NO_AUTO_CHAIN);
    // Stateless tickets only: a server-side cache would tie resumption to this process.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1) != 1) {
        return make_error(openssl_error("TLS session id context"));
    }
    SSL_CTX_set_timeout(ctx, config_.session_lifetime_seconds);
    SSL_CTX_set_app_data(ctx, this);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TlsContext::on_ticket_key);
    SSL_CTX_set_tlsext_servername_callback(ctx, &TlsContext::on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, const_cast<CertificateSet*>(set));
    if (!alpn_.empty()) {
        SSL_CTX_set_alpn_select_cb(ctx, &TlsContext::on_alpn, this);
    }
    // TlsSession takes the traffic secrets at the end of a TLS 1.3 handshake: from our KDF
    // when it is the one libssl uses, else from the key-log callback.
    if (!config_.tls13_kdf_by_anyedge) catch_traffic_secrets(ctx);
    return ok_status();
}

Result<std::shared_ptr<const CertificateSet>> TlsContext::load_certificates() {
    auto set = std::make_shared<CertificateSet>();
    struct Group {
        SSL_CTX* ctx;
        std::set<int> key_types;
    };
    std::map<std::string, Group> groups;  // by normalized, sorted name list
    for (const CertificateConfig& cc : config_.certificates) {
        auto leaf = read_leaf(cc.cert_path);
        if (!leaf) {
            return make_error(leaf.error());
        }
        std::vector<std::string> raw = cc.names.empty() ? certificate_names(leaf->get()) : cc.names;
        std::set<std::string> names;
        for (const std::string& n : raw) {
            std::string norm = normalize_name(n);
            if (!valid_server_name(norm)) {
                return make_error(cc.cert_path + ": unusable server name '" + n + "'");
            }
            names.insert(std::move(norm));
        }
        if (names.empty()) {
            return make_error(cc.cert_path + ": no server name (no dNSName, no CN, none given)");
        }
        std::string group_key;
        for (const std::string& n : names) {
            group_key += n;
            group_key += '\n';
        }
        auto [it, inserted] = groups.try_emplace(group_key, Group{nullptr, {}});
        Group& group = it->second;
        if (inserted) {
            SslCtxPtr ctx(SSL_CTX_new_ex(
                crypto_.libctx,
                crypto_.property_query.empty() ? nullptr : crypto_.property_query.c_str(),
                TLS_server_method()));
            if (!ctx) {
                return make_error(openssl_error("SSL_CTX_new"));
            }
            if (Status s = configure(ctx.get(), set.get()); !s) {
                return make_error(s.error());
            }
            group.ctx = ctx.get();
            set->contexts.push_back(std::move(ctx));
            for (const std::string& n : names) {
                auto& map = n.starts_with("*.") ? set->wildcard : set->exact;
                const std::string key = n.starts_with("*.") ? n.substr(2) : n;
                if (!map.emplace(key, group.ctx).second) {
                    return make_error(cc.cert_path + ": name '" + n +
                                      "' is already served by another certificate");
                }
            }
        }
        const int key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(leaf->get()));
        set->info.push_back({cc.label.empty() ? cc.cert_path : cc.label,
                             std::vector<std::string>(names.begin(), names.end()),
                             key_type == EVP_PKEY_RSA  ? "RSA"
                             : key_type == EVP_PKEY_EC ? "EC"
                                                       : "other",
                             unix_seconds(X509_get0_notBefore(leaf->get())),
                             unix_seconds(X509_get0_notAfter(leaf->get()))});
        if (!group.key_types.insert(key_type).second) {
            return make_error(cc.cert_path +
                              ": a certificate of the same key type already serves these names");
        }
        if (SSL_CTX_use_certificate_chain_file(group.ctx, cc.cert_path.c_str()) != 1) {
            return make_error(openssl_error("cannot load certificate chain " + cc.cert_path));
        }
        if (SSL_CTX_use_PrivateKey_file(group.ctx, cc.key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
            const unsigned long code = ERR_peek_last_error();
            if (ERR_GET_LIB(code) == ERR_LIB_X509 &&
                ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
                return make_error(
                    openssl_error(cc.key_path + " does not match certificate " + cc.cert_path));
            }
            return make_error(openssl_error("cannot load private key " + cc.key_path));
        }
        if (SSL_CTX_check_private_key(group.ctx) != 1) {
            return make_error(
                openssl_error(cc.key_path + " does not match certificate " + cc.cert_path));
        }
    }
    return std::shared_ptr<const CertificateSet>(std::move(set));
}

SslPtr TlsContext::new_ssl(std::shared_ptr<const CertificateSet>& certificates) const {
    certificates = this->certificates();
    SslPtr ssl(SSL_new(certificates->default_context()));
    if (ssl) {
        SSL_set_accept_state(ssl.get());
    }
    return ssl;
}

std::shared_ptr<const CertificateSet> TlsContext::certificates() const {
    std::lock_guard lock(certs_mutex_);
    return certs_;
}

Status TlsContext::reload_certificates() {
    auto set = load_certificates();
    std::lock_guard lock(certs_mutex_);
    if (!set) {
        ++cert_reloads_.failures;
        cert_reloads_.last_error = set.error();
        return make_error(set.error());
    }
    ++cert_reloads_.reloads;
    cert_reloads_.last_error.clear();
    // The old set dies when the lock is released if no connection holds it, else with the last.
    certs_.swap(*set);
    return ok_status();
}

std::vector<CertificateInfo> TlsContext::certificate_info() const { return certificates()->info; }

CertificateReloads TlsContext::certificate_reloads() const {
    std::lock_guard lock(certs_mutex_);
    return cert_reloads_;
}

SSL_CTX* TlsContext::default_context() const { return certificates()->default_context(); }

SSL_CTX* TlsContext::context_for_name(std::string_view server_name) const {
    return certificates()->for_name(server_name);
}

SSL_CTX* CertificateSet::for_name(std::string_view server_name) const {
    // Host names are at most 253 characters (RFC 1035 §2.3.4); longer cannot match.
    char buf[256];
    if (!server_name.empty() && server_name.back() == '.') {
        server_name.remove_suffix(1);
    }
    if (server_name.empty() || server_name.size() > 253) {
        return default_context();
    }
    for (std::size_t i = 0; i < server_name.size(); ++i) {
        buf[i] = ascii_lower(server_name[i]);
    }
    const std::string_view name(buf, server_name.size());
    if (auto it = exact.find(name); it != exact.end()) {
        return it->second;
    }
    // "*.example.com" stands for exactly one label (RFC 6125 §6.4.3).
    const std::size_t dot = name.find('.');
    if (dot != std::string_view::npos && dot > 0) {
        if (auto it = wildcard.find(name.substr(dot + 1)); it != wildcard.end()) {
            return it->second;
        }
    }
    return default_context();
}

int TlsContext::on_servername(SSL* ssl, int* alert, void* arg) {
    // The set this SSL was made from (see new_ssl): the connection keeps it alive.
    const auto* set = static_cast<const CertificateSet*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) {
        return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    }
    SSL_CTX* target = set->for_name(name);
    if (target != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, target) != target) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

int TlsContext::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                        const unsigned char* in, unsigned int inlen, void* arg) {
    const auto* self = static_cast<const TlsContext*>(arg);
    // Server preference: the first of ours that the client lists (RFC 7301 §3.2).
    for (const std::string& ours : self->alpn_) {
        unsigned int pos = 0;
        while (pos < inlen) {
            const unsigned int len = in[pos];
            if (len == 0 || pos + 1 + len > inlen) {
                break;  // malformed list: stop looking at it
            }
            if (len == ours.size() && std::memcmp(in + pos + 1, ours.data(), len) == 0) {
                *out = in + pos + 1;
                *outlen = static_cast<unsigned char>(len);
                return SSL_TLSEXT_ERR_OK;
            }
            pos += 1 + len;
        }
    }
    // RFC 7301 §3.2: no protocol in common -> fatal no_application_protocol alert.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// RFC 5077 §4 ticket protection: AES-256-CBC plus HMAC-SHA256, keys chosen by 16-byte name.
// Returns 1 (use), 2 (use, and issue a fresh ticket), 0 (no such key: full handshake, or no
// ticket issued), -1 (internal error).
int TlsContext::on_ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                              EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
    const auto* self = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (self == nullptr) {
        return -1;
    }
    const std::shared_ptr<const TicketKeyRing> ring = self->ticket_keys();
    const std::int64_t now = self->now();
    const TicketKey* current = ring->encryption_key(now);
    const TicketKey* key = nullptr;
    if (enc == 1) {
        if (current == nullptr) {
            return 0;  // no key in its window: no ticket rather than a ticket no node accepts
        }
        key = current;
        std::memcpy(key_name, key->name.data(), key->name.size());
        if (RAND_bytes(iv, 16) != 1 || EVP_EncryptInit_ex(cipher, self->ticket_cipher_, nullptr,
                                                          key->aes_key.data(), iv) != 1) {
            return -1;
        }
    } else {
        key = ring->decryption_key(std::span<const unsigned char, 16>(key_name, 16), now);
        if (key == nullptr) {
            return 0;
        }
        if (EVP_DecryptInit_ex(cipher, self->ticket_cipher_, nullptr, key->aes_key.data(), iv) !=
            1) {
            return -1;
        }
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                          const_cast<unsigned char*>(key->hmac_key.data()),
                                          key->hmac_key.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
        return -1;
    }
    if (enc == 1) {
        return 1;
    }
    // Renew a ticket sealed with an older key. Under TLS 1.3 renew every time: clients use a
    // ticket only once (RFC 8446 §C.4) and OpenSSL sends a fresh one after a resumption only
    // when asked to, so without this every other connection would be a full handshake.
    return key == current && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
}

std::shared_ptr<const TicketKeyRing> TlsContext::ticket_keys() const {
    std::lock_guard lock(keys_mutex_);
    return keys_;
}

Status TlsContext::set_ticket_keys(std::vector<TicketKey> keys) {
    if (keys.empty()) {
        return make_error("ticket keys: at least one key is needed");
    }
    auto ring = std::make_shared<const TicketKeyRing>(std::move(keys));
    // The old ring ends up in `ring` and dies after the lock is released.
    std::lock_guard lock(keys_mutex_);
    keys_.swap(ring);
    return ok_status();
}

Status TlsContext::reload_ticket_keys() {
    if (config_.ticket_key_file.empty()) {
        return make_error("no ticket key file configured");
    }
    auto keys = load_ticket_key_file(config_.ticket_key_file);
    if (!keys) {
        return make_error(keys.error());
    }
    return set_ticket_keys(std::move(*keys));
}

std::int64_t TlsContext::now() const {
    return config_.clock ? config_.clock() : static_cast<std::int64_t>(std::time(nullptr));
}

void TlsContext::note_handshake(bool resumed) {
    handshakes_.fetch_add(1, std::memory_order_relaxed);
    if (resumed) {
        resumed_.fetch_add(1, std::memory_order_relaxed);
    }
}

void TlsContext::note_handshake_failure() { failures_.fetch_add(1, std::memory_order_relaxed); }

TlsCounters TlsContext::counters() const {
    return {handshakes_.load(std::memory_order_relaxed), resumed_.load(std::memory_order_relaxed),
            failures_.load(std::memory_order_relaxed)};
}

}  // namespace anyedge::tls
