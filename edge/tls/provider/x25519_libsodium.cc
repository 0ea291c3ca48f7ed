#include "edge/tls/provider/x25519_libsodium.h"

#include <atomic>
#include <cstring>
#include <new>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/rand.h>

#include "edge/tls/provider/provider_dispatch.h"

#include <sodium.h>

namespace anyedge::tls {
namespace {

constexpr std::size_t kKeyBytes = 32;  // RFC 7748 §5: u-coordinates and scalars
constexpr int kKeyPair = OSSL_KEYMGMT_SELECT_KEYPAIR;

// One key: a private scalar and/or a public u-coordinate. Shared by reference count between
// the EVP_PKEY that owns it and key-exchange contexts that use it, as OpenSSL's own keys are.
struct Key {
    std::atomic<int> refs{1};
    unsigned char pub[kKeyBytes]{};
    unsigned char priv[kKeyBytes]{};
    bool has_pub = false;
    bool has_priv = false;
};

void key_release(Key* key) {
    if (key != nullptr && key->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        OPENSSL_cleanse(key->priv, sizeof key->priv);
        delete key;
    }
}

Key* key_acquire(Key* key) {
    key->refs.fetch_add(1, std::memory_order_relaxed);
    return key;
}

// Sets the private scalar, as given (libsodium clamps it on every use, RFC 7748 §5), and the
// public key that goes with it. False for the zero-result case libsodium refuses.
bool set_private(Key& key, const unsigned char* priv) {
    std::memcpy(key.priv, priv, kKeyBytes);
    if (crypto_scalarmult_curve25519_base(key.pub, key.priv) != 0) {
        OPENSSL_cleanse(key.priv, sizeof key.priv);
        return false;
    }
    key.has_priv = key.has_pub = true;
    return true;
}

// A key pair for a handshake that asks for one now (km_gen): nothing is made in advance, so
// no private key exists before the handshake that uses it, and a fork()ed child shares none.
// (Key pairs used to be made sixteen at a time through the Edwards curve with one shared field
// inversion; one at a time that inversion costs more than it saves: README's bench section.)
bool make_key_pair(Key& key) {
    if (RAND_priv_bytes(key.priv, kKeyBytes) != 1) {
        return false;
    }
    // RFC 7748 §5: stored clamped, as OpenSSL's own generator stores it.
    key.priv[0] &= 248;
    key.priv[31] &= 127;
    key.priv[31] |= 64;
    if (crypto_scalarmult_curve25519_base(key.pub, key.priv) != 0) {
        OPENSSL_cleanse(key.priv, sizeof key.priv);
        return false;
    }
    key.has_priv = key.has_pub = true;
    return true;
}

bool set_public(Key& key, const OSSL_PARAM* p) {
    const void* data = nullptr;
    std::size_t len = 0;
    if (OSSL_PARAM_get_octet_string_ptr(p, &data, &len) != 1 || len != kKeyBytes) {
        return false;
    }
    std::memcpy(key.pub, data, kKeyBytes);
    key.has_pub = true;
    return true;
}

// ---- key management ----

void* km_new(void*) { return new (std::nothrow) Key(); }

void km_free(void* keydata) { key_release(static_cast<Key*>(keydata)); }

int km_has(const void* keydata, int selection) {
    const auto* key = static_cast<const Key*>(keydata);
    if (key == nullptr) {
        return 0;
    }
    // X25519 has no domain parameters: any key "has" them (EVP_PKEY_missing_parameters).
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && !key->has_pub) {
        return 0;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !key->has_priv) {
        return 0;
    }
    return 1;
}

int km_match(const void* keydata1, const void* keydata2, int selection) {
    const auto* a = static_cast<const Key*>(keydata1);
    const auto* b = static_cast<const Key*>(keydata2);
    if ((selection & kKeyPair) == 0) {
        return 1;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && a->has_pub && b->has_pub) {
        return CRYPTO_memcmp(a->pub, b->pub, kKeyBytes) == 0;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && a->has_priv && b->has_priv) {
        return CRYPTO_memcmp(a->priv, b->priv, kKeyBytes) == 0;
    }
    return 0;
}

int km_validate(const void* keydata, int selection, int /*checktype*/) {
    const auto* key = static_cast<const Key*>(keydata);
    if (km_has(keydata, selection) != 1) {
        return 0;
    }
    if ((selection & kKeyPair) == kKeyPair) {
        unsigned char pub[kKeyBytes];
        return crypto_scalarmult_curve25519_base(pub, key->priv) == 0 &&
               CRYPTO_memcmp(pub, key->pub, kKeyBytes) == 0;
    }
    return 1;
}

int km_get_params(void* keydata, OSSL_PARAM params[]) {
    const auto* key = static_cast<const Key*>(keydata);
    OSSL_PARAM* p = nullptr;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != nullptr &&
        OSSL_PARAM_set_int(p, 253) != 1) {
        return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != nullptr &&
        OSSL_PARAM_set_int(p, 128) != 1) {
        return 0;
    }
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != nullptr &&
        OSSL_PARAM_set_int(p, static_cast<int>(kKeyBytes)) != 1) {
        return 0;
    }
    // The encoding libssl puts in a key share must exist; "pub" and "priv" are filled in when
    // the key has them (a caller asking for what is absent finds its parameter unset).
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) != nullptr &&
        (!key->has_pub || OSSL_PARAM_set_octet_string(p, key->pub, kKeyBytes) != 1)) {
        return 0;
    }
    if (key->has_pub && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) != nullptr &&
        OSSL_PARAM_set_octet_string(p, key->pub, kKeyBytes) != 1) {
        return 0;
    }
    if (key->has_priv && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY)) != nullptr &&
        OSSL_PARAM_set_octet_string(p, key->priv, kKeyBytes) != 1) {
        return 0;
    }
    return 1;
}

const OSSL_PARAM* km_gettable_params(void*) {
    static const OSSL_PARAM kGettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, nullptr, 0),
        OSSL_PARAM_END};
    return kGettable;
}

// How libssl hands us the peer's key share: the public key replaces whatever the key held.
int km_set_params(void* keydata, const OSSL_PARAM params[]) {
    auto* key = static_cast<Key*>(keydata);
    const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    if (p == nullptr) {
        return 1;
    }
    OPENSSL_cleanse(key->priv, sizeof key->priv);
    key->has_priv = false;
    return set_public(*key, p) ? 1 : 0;
}

const OSSL_PARAM* km_settable_params(void*) {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0), OSSL_PARAM_END};
    return kSettable;
}

int km_import(void* keydata, int selection, const OSSL_PARAM params[]) {
    auto* key = static_cast<Key*>(keydata);
    if (key == nullptr || (selection & kKeyPair) == 0) {
        return key != nullptr;
    }
    const OSSL_PARAM* priv = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
                                 ? OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY)
                                 : nullptr;
    const OSSL_PARAM* pub = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
    if (priv != nullptr) {
        const void* data = nullptr;
        std::size_t len = 0;
        if (OSSL_PARAM_get_octet_string_ptr(priv, &data, &len) != 1 || len != kKeyBytes ||
            !set_private(*key, static_cast<const unsigned char*>(data))) {
            return 0;
        }
        // A public key given with it must be the one the private key makes.
        if (pub != nullptr) {
            const void* given = nullptr;
            if (OSSL_PARAM_get_octet_string_ptr(pub, &given, &len) != 1 || len != kKeyBytes ||
                CRYPTO_memcmp(given, key->pub, kKeyBytes) != 0) {
                return 0;
            }
        }
        return 1;
    }
    return pub != nullptr && set_public(*key, pub) ? 1 : 0;
}

const OSSL_PARAM* km_key_types(int /*selection*/) {
    static const OSSL_PARAM kTypes[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, nullptr, 0), OSSL_PARAM_END};
    return kTypes;
}

int km_export(void* keydata, int selection, OSSL_CALLBACK* param_cb, void* cbarg) {
    auto* key = static_cast<Key*>(keydata);
    OSSL_PARAM params[3];
    std::size_t n = 0;
    if ((selection & kKeyPair) != 0 && key->has_pub) {
        params[n++] =
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, key->pub, kKeyBytes);
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key->has_priv) {
        params[n++] =
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, key->priv, kKeyBytes);
    }
    params[n] = OSSL_PARAM_construct_end();
    return param_cb(params, cbarg);
}

void* km_dup(const void* keydata_from, int selection) {
    const auto* from = static_cast<const Key*>(keydata_from);
    auto* key = new (std::nothrow) Key();
    if (key == nullptr) {
        return nullptr;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && from->has_pub) {
        std::memcpy(key->pub, from->pub, kKeyBytes);
        key->has_pub = true;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && from->has_priv) {
        std::memcpy(key->priv, from->priv, kKeyBytes);
        key->has_priv = true;
    }
    return key;
}

const char* km_query_operation_name(int /*operation_id*/) { return "X25519"; }

// Key generation: libssl asks for a key pair (its key share), or for an empty key of the group
// (the peer's key share is then set on it with km_set_params).
struct GenContext {
    int selection;
};

int km_gen_set_params(void* genctx, const OSSL_PARAM params[]) {
    (void)genctx;
    const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p == nullptr) {
        return 1;
    }
    const char* group = nullptr;
    return OSSL_PARAM_get_utf8_string_ptr(p, &group) == 1 &&
                   OPENSSL_strcasecmp(group, "x25519") == 0
               ? 1
               : 0;
}

void* km_gen_init(void*, int selection, const OSSL_PARAM params[]) {
    auto* gen = new (std::nothrow) GenContext{selection};
    if (gen != nullptr && km_gen_set_params(gen, params) != 1) {
        delete gen;
        return nullptr;
    }
    return gen;
}

int km_gen_set_template(void*, void*) { return 1; }  // no domain parameters to copy

const OSSL_PARAM* km_gen_settable_params(void*, void*) {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0), OSSL_PARAM_END};
    return kSettable;
}

void* km_gen(void* genctx, OSSL_CALLBACK*, void*) {
    const auto* gen = static_cast<const GenContext*>(genctx);
    auto* key = new (std::nothrow) Key();
    if (key == nullptr || (gen->selection & kKeyPair) == 0) {
        return key;
    }
    if (!make_key_pair(*key)) {
        key_release(key);
        return nullptr;
    }
    return key;
}

void km_gen_cleanup(void* genctx) { delete static_cast<GenContext*>(genctx); }

// ---- key exchange ----

struct Exchange {
    Key* self = nullptr;
    Key* peer = nullptr;
};

void* kx_newctx(void*) { return new (std::nothrow) Exchange(); }

void kx_freectx(void* ctx) {
    auto* x = static_cast<Exchange*>(ctx);
    key_release(x->self);
    key_release(x->peer);
    delete x;
}

void* kx_dupctx(void* ctx) {
    const auto* from = static_cast<const Exchange*>(ctx);
    auto* x = new (std::nothrow) Exchange();
    if (x != nullptr) {
        x->self = from->self != nullptr ? key_acquire(from->self) : nullptr;
        x->peer = from->peer != nullptr ? key_acquire(from->peer) : nullptr;
    }
    return x;
}

int kx_init(void* ctx, void* provkey, const OSSL_PARAM*) {
    auto* x = static_cast<Exchange*>(ctx);
    auto* key = static_cast<Key*>(provkey);
    if (key == nullptr || !key->has_priv) {
        return 0;
    }
    key_release(x->self);
    x->self = key_acquire(key);
    return 1;
}

int kx_set_peer(void* ctx, void* provkey) {
    auto* x = static_cast<Exchange*>(ctx);
    auto* key = static_cast<Key*>(provkey);
    if (key == nullptr || !key->has_pub) {
        return 0;
    }
    key_release(x->peer);
    x->peer = key_acquire(key);
    return 1;
}

int kx_derive(void* ctx, unsigned char* secret, std::size_t* secretlen, std::size_t outlen) {
    const auto* x = static_cast<const Exchange*>(ctx);
    if (x->self == nullptr || x->peer == nullptr) {
        return 0;
    }
    if (secret == nullptr) {
        *secretlen = kKeyBytes;
        return 1;
    }
    // libsodium refuses (-1) an all-zero result: the peer sent a small-order point.
    if (outlen < kKeyBytes ||
        crypto_scalarmult_curve25519(secret, x->self->priv, x->peer->pub) != 0) {
        return 0;
    }
    *secretlen = kKeyBytes;
    return 1;
}

}  // namespace

const OSSL_DISPATCH kX25519KeymgmtFunctions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, dispatch_fn(km_new)},
    {OSSL_FUNC_KEYMGMT_FREE, dispatch_fn(km_free)},
    {OSSL_FUNC_KEYMGMT_HAS, dispatch_fn(km_has)},
    {OSSL_FUNC_KEYMGMT_MATCH, dispatch_fn(km_match)},
    {OSSL_FUNC_KEYMGMT_VALIDATE, dispatch_fn(km_validate)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, dispatch_fn(km_get_params)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, dispatch_fn(km_gettable_params)},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, dispatch_fn(km_set_params)},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, dispatch_fn(km_settable_params)},
    {OSSL_FUNC_KEYMGMT_IMPORT, dispatch_fn(km_import)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, dispatch_fn(km_key_types)},
    {OSSL_FUNC_KEYMGMT_EXPORT, dispatch_fn(km_export)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, dispatch_fn(km_key_types)},
    {OSSL_FUNC_KEYMGMT_DUP, dispatch_fn(km_dup)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, dispatch_fn(km_query_operation_name)},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, dispatch_fn(km_gen_init)},
    {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, dispatch_fn(km_gen_set_template)},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, dispatch_fn(km_gen_set_params)},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, dispatch_fn(km_gen_settable_params)},
    {OSSL_FUNC_KEYMGMT_GEN, dispatch_fn(km_gen)},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, dispatch_fn(km_gen_cleanup)},
    {0, nullptr}};

const OSSL_DISPATCH kX25519KeyexchFunctions[] = {
    {OSSL_FUNC_KEYEXCH_NEWCTX, dispatch_fn(kx_newctx)},
    {OSSL_FUNC_KEYEXCH_INIT, dispatch_fn(kx_init)},
    {OSSL_FUNC_KEYEXCH_SET_PEER, dispatch_fn(kx_set_peer)},
    {OSSL_FUNC_KEYEXCH_DERIVE, dispatch_fn(kx_derive)},
    {OSSL_FUNC_KEYEXCH_FREECTX, dispatch_fn(kx_freectx)},
    {OSSL_FUNC_KEYEXCH_DUPCTX, dispatch_fn(kx_dupctx)},
    {0, nullptr}};

bool x25519_libsodium_init() { return sodium_init() >= 0; }

// x25519 is RFC 8446 §4.2.7's code point 29, announced as the default provider does.
int announce_x25519_tls_group(OSSL_CALLBACK* cb, void* arg) {
    static char name[] = "x25519";
    static char internal_name[] = "X25519";
    static char algorithm[] = "X25519";
    static unsigned int group_id = 29;
    static unsigned int security_bits = 128;
    static int min_tls = TLS1_VERSION;
    static int max_tls = 0;  // no maximum
    static int min_dtls = DTLS1_VERSION;
    static int max_dtls = 0;
    const OSSL_PARAM group[] = {
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, name, sizeof name),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL, internal_name,
                               sizeof internal_name),
        OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, algorithm, sizeof algorithm),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &group_id),
        OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &security_bits),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &min_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &max_tls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &min_dtls),
        OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &max_dtls),
        OSSL_PARAM_END};
    return cb(group, arg);
}

}  // namespace anyedge::tls
