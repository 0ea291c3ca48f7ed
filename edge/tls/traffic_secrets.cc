#include "edge/tls/traffic_secrets.h"

#include <algorithm>
#include <string_view>

#include <openssl/crypto.h>

#include <sodium.h>

namespace anyedge::tls {
namespace {

int secrets_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// "<LABEL> <client random, hex> <secret, hex>" (NSS key log format).
void on_key_log(const SSL* ssl, const char* line) {
    auto* into = static_cast<HandshakeSecrets*>(SSL_get_ex_data(ssl, secrets_index()));
    if (into == nullptr || line == nullptr) {
        return;
    }
    const std::string_view text(line);
    TrafficSecret* target = nullptr;
    if (text.starts_with("CLIENT_TRAFFIC_SECRET_0 ")) {
        target = &into->client;
    } else if (text.starts_with("SERVER_TRAFFIC_SECRET_0 ")) {
        target = &into->server;
    } else {
        return;
    }
    const std::size_t space = text.rfind(' ');
    const std::string_view hex = text.substr(space + 1);
    TrafficSecret secret;
    std::size_t size = 0;
    if (sodium_hex2bin(secret.bytes.data(), secret.bytes.size(), hex.data(), hex.size(), nullptr,
                       &size, nullptr) != 0 ||
        size == 0) {
        sodium_memzero(&secret, sizeof secret);
        return;
    }
    secret.size = size;
    *target = secret;
    sodium_memzero(&secret, sizeof secret);
}

void take_from_kdf(void* arg, bool client, const unsigned char* secret, std::size_t size) {
    auto* into = static_cast<HandshakeSecrets*>(arg);
    TrafficSecret& target = client ? into->client : into->server;
    if (size == 0 || size > target.bytes.size()) return;
    std::copy_n(secret, size, target.bytes.data());
    target.size = size;
}

}  // namespace

CatchFromKdf::CatchFromKdf(HandshakeSecrets* into)
    : scope_(ApplicationSecretSink{.take = &take_from_kdf, .arg = into}) {}

HandshakeSecrets::~HandshakeSecrets() {
    OPENSSL_cleanse(&client, sizeof client);
    OPENSSL_cleanse(&server, sizeof server);
}

void catch_traffic_secrets(SSL_CTX* ctx) { SSL_CTX_set_keylog_callback(ctx, &on_key_log); }

void attach_traffic_secrets(SSL* ssl, HandshakeSecrets* into) {
    SSL_set_ex_data(ssl, secrets_index(), into);
}

}  // namespace anyedge::tls
