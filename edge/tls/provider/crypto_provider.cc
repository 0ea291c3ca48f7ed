#include "edge/tls/provider/crypto_provider.h"

#include <cstdlib>

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "edge/tls/provider/provider_dispatch.h"
#include "edge/tls/provider/tls13_kdf.h"
#include "edge/tls/provider/x25519_libsodium.h"

namespace anyedge::tls {
namespace {

// What an algorithm is (its definition) and what an SSL_CTX asks for (its query).
constexpr const char* kX25519Definition = "provider=anyedge,anyedge.x25519=yes";
constexpr const char* kTls13KdfDefinition = "provider=anyedge,anyedge.tls13_kdf=yes";
constexpr const char* kX25519Query = "?anyedge.x25519=yes";
constexpr const char* kTls13KdfQuery = "?anyedge.tls13_kdf=yes";

const OSSL_ALGORITHM kKeymgmt[] = {
    {"X25519", kX25519Definition, kX25519KeymgmtFunctions, "X25519 (libsodium)"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kKeyexch[] = {
    {"X25519", kX25519Definition, kX25519KeyexchFunctions, "X25519 (libsodium)"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kKdf[] = {{"TLS13-KDF", kTls13KdfDefinition, kTls13KdfFunctions,
                                "TLS 1.3 key derivation, HMAC contexts kept per thread"},
                               {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* provider_query(void*, int operation_id, int* no_cache) {
    *no_cache = 0;
    switch (operation_id) {
        case OSSL_OP_KEYMGMT:
            return kKeymgmt;
        case OSSL_OP_KEYEXCH:
            return kKeyexch;
        case OSSL_OP_KDF:
            return kKdf;
        default:
            return nullptr;
    }
}

int provider_capabilities(void*, const char* capability, OSSL_CALLBACK* cb, void* arg) {
    if (OPENSSL_strcasecmp(capability, "TLS-GROUP") != 0) {
        return 1;
    }
    return announce_x25519_tls_group(cb, arg);
}

const OSSL_DISPATCH kProviderFunctions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, dispatch_fn(provider_query)},
    {OSSL_FUNC_PROVIDER_GET_CAPABILITIES, dispatch_fn(provider_capabilities)},
    {0, nullptr}};

int provider_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out,
                  void** provctx) {
    *out = kProviderFunctions;
    *provctx = nullptr;
    return 1;
}

// The provider's own library context, held for the life of the process and released at exit
// (before OpenSSL's own clean-up, which was registered earlier and so runs later).
OSSL_LIB_CTX* g_libctx = nullptr;
OSSL_PROVIDER* g_default_provider = nullptr;
OSSL_PROVIDER* g_anyedge_provider = nullptr;

void unload_providers() {
    OSSL_PROVIDER_unload(g_anyedge_provider);
    OSSL_PROVIDER_unload(g_default_provider);
    OSSL_LIB_CTX_free(g_libctx);
    g_anyedge_provider = g_default_provider = nullptr;
    g_libctx = nullptr;
}

std::string make_library() {
    if (!x25519_libsodium_init()) {
        return "libsodium could not be initialized";
    }
    g_libctx = OSSL_LIB_CTX_new();
    if (g_libctx != nullptr) {
        // A new context has no provider until one is loaded; the default one serves all that
        // anyedge's provider does not.
        g_default_provider = OSSL_PROVIDER_load(g_libctx, "default");
    }
    if (g_default_provider != nullptr &&
        OSSL_PROVIDER_add_builtin(g_libctx, kCryptoProviderName, &provider_init) == 1) {
        g_anyedge_provider = OSSL_PROVIDER_load(g_libctx, kCryptoProviderName);
    }
    std::atexit(unload_providers);
    if (g_anyedge_provider != nullptr) {
        return "";
    }
    const unsigned long code = ERR_get_error();
    char text[256] = "unknown error";
    if (code != 0) {
        ERR_error_string_n(code, text, sizeof text);
    }
    ERR_clear_error();
    return std::string("cannot load the anyedge crypto provider: ") + text;
}

}  // namespace

Result<CryptoLibrary> crypto_library(const CryptoChoices& choices) {
    if (!choices.x25519_by_libsodium && !choices.tls13_kdf_by_anyedge) {
        return CryptoLibrary{};
    }
    static const std::string error = make_library();
    if (!error.empty()) {
        return make_error(error);
    }
    CryptoLibrary library;
    library.libctx = g_libctx;
    for (const auto& [chosen, clause] : {std::pair{choices.x25519_by_libsodium, kX25519Query},
                                         std::pair{choices.tls13_kdf_by_anyedge, kTls13KdfQuery}}) {
        if (chosen) {
            library.property_query += library.property_query.empty() ? "" : ",";
            library.property_query += clause;
        }
    }
    return library;
}

}  // namespace anyedge::tls
