#include "edge/tls/provider/tls13_kdf.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "edge/tls/provider/provider_dispatch.h"

namespace anyedge::tls {
namespace {

constexpr const char* kDefaultProvider = "provider=default";
constexpr std::size_t kMaxDigestsPerThread = 8;  // TLS 1.3 uses two (SHA-256, SHA-384)

// Bytes that may be secret: cleansed when replaced or released.
class SecretBytes {
  public:
    SecretBytes() = default;
    SecretBytes(const SecretBytes&) = default;
    SecretBytes& operator=(const SecretBytes&) = delete;
    ~SecretBytes() { clear(); }

    bool set(const OSSL_PARAM* p) {
        const void* data = nullptr;
        std::size_t len = 0;
        if (OSSL_PARAM_get_octet_string_ptr(p, &data, &len) != 1 ||
            (data == nullptr && len != 0)) {  // claims bytes it does not point to
            return false;
        }
        clear();
        const auto* bytes = static_cast<const unsigned char*>(data);
        bytes_.assign(bytes, bytes + len);
        present_ = true;
        return true;
    }
    void clear() {
        if (!bytes_.empty()) {
            OPENSSL_cleanse(bytes_.data(), bytes_.size());
        }
        bytes_.clear();
        present_ = false;
    }
    bool present() const { return present_; }
    const unsigned char* data() const { return bytes_.data(); }
    std::size_t size() const { return bytes_.size(); }

  private:
    std::vector<unsigned char> bytes_;
    bool present_ = false;
};

// One digest's HMAC context, kept by one thread and re-keyed for every use.
struct Hmac {
    std::string digest;
    EVP_MAC_CTX* ctx = nullptr;
    std::size_t size = 0;                         // the digest's output length
    unsigned char empty_hash[EVP_MAX_MD_SIZE]{};  // Hash(""), for Derive-Secret(., "derived", "")
};

struct HmacFree {
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// What stands for "no key": EVP_MAC_init takes a null key as "the previous key again".
const unsigned char kEmptyKey = 0;

class ThreadHmacs {
  public:
    ThreadHmacs() { hmacs_.reserve(kMaxDigestsPerThread); }
    ThreadHmacs(const ThreadHmacs&) = delete;
    ThreadHmacs& operator=(const ThreadHmacs&) = delete;
    ~ThreadHmacs() {
        for (auto& h : hmacs_) {
            EVP_MAC_CTX_free(h.ctx);
        }
    }

    // Re-keys every context with the empty key, so that the state derived from the last
    // secret used (and the HMAC's own copy of it) is gone.
    void forget_keys() {
        if (!holds_keys_) {
            return;
        }
        bool forgotten = true;
        for (auto& h : hmacs_) {
            forgotten = EVP_MAC_init(h.ctx, &kEmptyKey, 0, nullptr) == 1 && forgotten;
        }
        holds_keys_ = !forgotten;  // a failed re-key is tried again after the next call
    }
    bool holds_keys() const { return holds_keys_; }
    void note_keyed() { holds_keys_ = true; }

    // The context for a digest by name, made on first use; nullptr for a digest the default
    // provider lacks, an extendable-output one, or past the per-thread bound.
    Hmac* find(const std::string& digest) {
        for (auto& h : hmacs_) {
            if (h.digest == digest) {
                return &h;
            }
        }
        if (hmacs_.size() >= kMaxDigestsPerThread) {
            return nullptr;
        }
        Hmac made;
        if (!make(digest, made)) {
            return nullptr;
        }
        hmacs_.push_back(std::move(made));
        return &hmacs_.back();
    }

  private:
    static bool make(const std::string& digest, Hmac& out) {
        EVP_MD* md = EVP_MD_fetch(nullptr, digest.c_str(), kDefaultProvider);
        unsigned int hash_len = 0;
        const bool digest_ok = md != nullptr && (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) == 0 &&
                               EVP_Digest("", 0, out.empty_hash, &hash_len, md, nullptr) == 1;
        EVP_MD_free(md);
        if (!digest_ok) {
            return false;
        }
        EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", kDefaultProvider);
        std::unique_ptr<EVP_MAC_CTX, HmacFree> ctx(mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr);
        EVP_MAC_free(mac);
        std::string name = digest;
        std::string props = kDefaultProvider;
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name.data(), 0),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES, props.data(), 0),
            OSSL_PARAM_construct_end()};
        if (ctx == nullptr || EVP_MAC_CTX_set_params(ctx.get(), params) != 1) {
            return false;
        }
        out.digest = digest;
        out.size = hash_len;
        out.ctx = ctx.release();
        return true;
    }

    std::vector<Hmac> hmacs_;
    bool holds_keys_ = false;
};

ThreadHmacs& thread_hmacs() {
    thread_local ThreadHmacs hmacs;
    return hmacs;
}

Hmac* thread_hmac(const std::string& digest) { return thread_hmacs().find(digest); }

struct Piece {
    const unsigned char* data;
    std::size_t size;
};

// out = HMAC(key, pieces...), out holding hmac.size bytes.
bool hmac_of(Hmac& hmac, const unsigned char* key, std::size_t key_len,
             std::initializer_list<Piece> pieces, unsigned char* out) {
    thread_hmacs().note_keyed();
    if (EVP_MAC_init(hmac.ctx, key_len != 0 ? key : &kEmptyKey, key_len, nullptr) != 1) {
        return false;
    }
    for (const Piece& piece : pieces) {
        if (piece.size != 0 && EVP_MAC_update(hmac.ctx, piece.data, piece.size) != 1) {
            return false;
        }
    }
    std::size_t written = 0;
    return EVP_MAC_final(hmac.ctx, out, &written, hmac.size) == 1 && written == hmac.size;
}

// HKDF-Expand (RFC 5869 §2.3) of HkdfLabel (RFC 8446 §7.1): length, "tls13 " + label, context.
bool expand_label(Hmac& hmac, const unsigned char* secret, std::size_t secret_len,
                  const SecretBytes& prefix, const SecretBytes& label, const unsigned char* context,
                  std::size_t context_len, unsigned char* out, std::size_t out_len) {
    if (out_len == 0 || out_len > 255 * hmac.size) {
        return false;
    }
    auto text = [](const SecretBytes& b) {
        return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
    };
    unsigned char info[kMaxHkdfLabelSize];
    const std::size_t n =
        hkdf_label(info, out_len, text(prefix), text(label),
                   std::string_view(reinterpret_cast<const char*>(context), context_len));
    if (n == 0) {
        return false;
    }

    unsigned char block[EVP_MAX_MD_SIZE];
    bool ok = true;
    for (std::size_t done = 0, i = 1; ok && done < out_len; ++i) {
        const unsigned char counter = static_cast<unsigned char>(i);
        ok = hmac_of(hmac, secret, secret_len,
                     {{block, i == 1 ? 0 : hmac.size}, {info, n}, {&counter, 1}}, block);
        const std::size_t take = std::min(hmac.size, out_len - done);
        if (ok) {
            std::memcpy(out + done, block, take);
        }
        done += take;
    }
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(info, sizeof info);
    return ok;
}

struct Kdf {
    int mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;  // not valid here: set by the caller
    std::string digest;
    SecretBytes key, salt, prefix, label, data;
};

// ---- dispatch ----

void* kdf_new(void*) { return new (std::nothrow) Kdf(); }

void kdf_free(void* vctx) { delete static_cast<Kdf*>(vctx); }

void kdf_reset(void* vctx) {
    auto* kdf = static_cast<Kdf*>(vctx);
    kdf->~Kdf();
    new (kdf) Kdf();
}

void* kdf_dup(void* vctx) { return new (std::nothrow) Kdf(*static_cast<const Kdf*>(vctx)); }

bool set_mode(Kdf& kdf, const OSSL_PARAM* p) {
    int mode = -1;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        const char* name = static_cast<const char*>(p->data);
        if (OPENSSL_strcasecmp(name, "EXTRACT_ONLY") == 0) {
            mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
        } else if (OPENSSL_strcasecmp(name, "EXPAND_ONLY") == 0) {
            mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
        }
    } else if (OSSL_PARAM_get_int(p, &mode) != 1) {
        return false;
    }
    // TLS 1.3 has no extract-and-expand step (OpenSSL's TLS13-KDF refuses it too).
    if (mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY && mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY) {
        return false;
    }
    kdf.mode = mode;
    return true;
}

int kdf_set_ctx_params(void* vctx, const OSSL_PARAM params[]) {
    auto& kdf = *static_cast<Kdf*>(vctx);
    if (params == nullptr) {
        return 1;
    }
    const OSSL_PARAM* p = nullptr;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_DIGEST)) != nullptr) {
        const char* name = nullptr;
        if (OSSL_PARAM_get_utf8_string_ptr(p, &name) != 1 || thread_hmac(name) == nullptr) {
            return 0;
        }
        kdf.digest = name;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_MODE)) != nullptr &&
        !set_mode(kdf, p)) {
        return 0;
    }
    const std::pair<const char*, SecretBytes*> octets[] = {{OSSL_KDF_PARAM_KEY, &kdf.key},
                                                           {OSSL_KDF_PARAM_SALT, &kdf.salt},
                                                           {OSSL_KDF_PARAM_PREFIX, &kdf.prefix},
                                                           {OSSL_KDF_PARAM_LABEL, &kdf.label}};
    for (const auto& [name, field] : octets) {
        if ((p = OSSL_PARAM_locate_const(params, name)) != nullptr && !field->set(p)) {
            return 0;
        }
    }
    // As OpenSSL's: the context data belongs to one call and is dropped when not given again.
    kdf.data.clear();
    if ((p = OSSL_PARAM_locate_const(params, OSSL_KDF_PARAM_DATA)) != nullptr && !kdf.data.set(p)) {
        return 0;
    }
    return 1;
}

const OSSL_PARAM* kdf_settable_ctx_params(void*, void*) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, nullptr, 0),
        OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, nullptr, 0),
        OSSL_PARAM_END};
    return settable;
}

int kdf_get_ctx_params(void* vctx, OSSL_PARAM params[]) {
    const auto& kdf = *static_cast<const Kdf*>(vctx);
    OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE);
    if (p == nullptr) {
        return 1;
    }
    // Extraction makes one digest's worth; expansion any length.
    std::size_t size = SIZE_MAX;
    if (kdf.mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
        Hmac* hmac = kdf.digest.empty() ? nullptr : thread_hmac(kdf.digest);
        if (hmac == nullptr) {
            return 0;
        }
        size = hmac->size;
    }
    return OSSL_PARAM_set_size_t(p, size);
}

const OSSL_PARAM* kdf_gettable_ctx_params(void*, void*) {
    static const OSSL_PARAM gettable[] = {OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, nullptr),
                                          OSSL_PARAM_END};
    return gettable;
}

// HKDF-Extract(salt, key) where salt is Derive-Secret(salt, label, "") when a previous
// secret is given and zeros otherwise, and a missing key is zeros (RFC 8446 §7.1).
bool extract(Hmac& hmac, const Kdf& kdf, unsigned char* out, std::size_t out_len) {
    if (out_len != hmac.size) {
        return false;
    }
    static const unsigned char zeros[EVP_MAX_MD_SIZE] = {};
    unsigned char derived[EVP_MAX_MD_SIZE];
    const unsigned char* salt = zeros;
    if (kdf.salt.present()) {
        if (!expand_label(hmac, kdf.salt.data(), kdf.salt.size(), kdf.prefix, kdf.label,
                          hmac.empty_hash, hmac.size, derived, hmac.size)) {
            return false;
        }
        salt = derived;
    }
    const unsigned char* ikm = kdf.key.present() ? kdf.key.data() : zeros;
    const std::size_t ikm_len = kdf.key.present() ? kdf.key.size() : hmac.size;
    const bool ok = hmac_of(hmac, salt, hmac.size, {{ikm, ikm_len}}, out);
    OPENSSL_cleanse(derived, sizeof derived);
    return ok;
}

thread_local unsigned long t_derivations = 0;
thread_local ApplicationSecretSink t_application_secrets;

// Hands the secret just derived to this thread's sink when it is one of the two application
// traffic secrets.
void offer_application_secret(const Kdf& kdf, const unsigned char* out, std::size_t out_len) {
    if (t_application_secrets.take == nullptr) return;
    const std::string_view prefix(reinterpret_cast<const char*>(kdf.prefix.data()),
                                  kdf.prefix.size());
    const std::string_view label(reinterpret_cast<const char*>(kdf.label.data()), kdf.label.size());
    if (prefix != "tls13 " || (label != "c ap traffic" && label != "s ap traffic")) return;
    t_application_secrets.take(t_application_secrets.arg, label.front() == 'c', out, out_len);
}

int kdf_derive(void* vctx, unsigned char* out, std::size_t out_len, const OSSL_PARAM params[]) {
    auto& kdf = *static_cast<Kdf*>(vctx);
    ++t_derivations;
    if (kdf_set_ctx_params(vctx, params) != 1 || kdf.digest.empty() || out == nullptr) {
        return 0;
    }
    Hmac* hmac = thread_hmac(kdf.digest);
    if (hmac == nullptr) {
        return 0;
    }
    switch (kdf.mode) {
        case EVP_KDF_HKDF_MODE_EXTRACT_ONLY:
            return extract(*hmac, kdf, out, out_len) ? 1 : 0;
        case EVP_KDF_HKDF_MODE_EXPAND_ONLY: {
            const bool ok = kdf.key.present() &&
                            expand_label(*hmac, kdf.key.data(), kdf.key.size(), kdf.prefix,
                                         kdf.label, kdf.data.data(), kdf.data.size(), out, out_len);
            if (ok) offer_application_secret(kdf, out, out_len);
            return ok ? 1 : 0;
        }
        default:
            return 0;
    }
}

}  // namespace

unsigned long tls13_kdf_derivations_on_this_thread() { return t_derivations; }

ScopedApplicationSecretSink::ScopedApplicationSecretSink(ApplicationSecretSink sink)
    : previous_(t_application_secrets) {
    t_application_secrets = sink;
}

ScopedApplicationSecretSink::~ScopedApplicationSecretSink() { t_application_secrets = previous_; }

void tls13_kdf_forget_keys() { thread_hmacs().forget_keys(); }

bool tls13_kdf_holds_keys_on_this_thread() { return thread_hmacs().holds_keys(); }

const OSSL_DISPATCH kTls13KdfFunctions[] = {
    {OSSL_FUNC_KDF_NEWCTX, dispatch_fn(kdf_new)},
    {OSSL_FUNC_KDF_DUPCTX, dispatch_fn(kdf_dup)},
    {OSSL_FUNC_KDF_FREECTX, dispatch_fn(kdf_free)},
    {OSSL_FUNC_KDF_RESET, dispatch_fn(kdf_reset)},
    {OSSL_FUNC_KDF_DERIVE, dispatch_fn(kdf_derive)},
    {OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, dispatch_fn(kdf_settable_ctx_params)},
    {OSSL_FUNC_KDF_SET_CTX_PARAMS, dispatch_fn(kdf_set_ctx_params)},
    {OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, dispatch_fn(kdf_gettable_ctx_params)},
    {OSSL_FUNC_KDF_GET_CTX_PARAMS, dispatch_fn(kdf_get_ctx_params)},
    {0, nullptr}};

std::size_t hkdf_label(unsigned char* out, std::size_t length, std::string_view prefix,
                       std::string_view label, std::string_view context) {
    const std::size_t label_len = prefix.size() + label.size();
    if (length > 0xffff || label_len > 255 || context.size() > 255) {
        return 0;
    }
    std::size_t n = 0;
    out[n++] = static_cast<unsigned char>(length >> 8);
    out[n++] = static_cast<unsigned char>(length);
    out[n++] = static_cast<unsigned char>(label_len);
    for (std::string_view part : {prefix, label}) {
        if (!part.empty()) {
            std::memcpy(out + n, part.data(), part.size());
            n += part.size();
        }
    }
    out[n++] = static_cast<unsigned char>(context.size());
    if (!context.empty()) {
        std::memcpy(out + n, context.data(), context.size());
        n += context.size();
    }
    return n;
}

}  // namespace anyedge::tls
