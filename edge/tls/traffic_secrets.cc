#include "edge/tls/traffic_secrets.h"

#include <string_view>

#include <openssl/crypto.h>

namespace anyedge::tls {
namespace {

int secrets_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
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
    if (hex.size() % 2 != 0 || hex.size() / 2 > target->bytes.size()) {
        return;
    }
    TrafficSecret secret;
    for (std::size_t i = 0; i < hex.size() / 2; ++i) {
        const int hi = hex_value(hex[2 * i]);
        const int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(&secret, sizeof secret);
            return;
        }
        secret.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    secret.size = hex.size() / 2;
    *target = secret;
    OPENSSL_cleanse(&secret, sizeof secret);
}

}  // namespace

HandshakeSecrets::~HandshakeSecrets() {
    OPENSSL_cleanse(&client, sizeof client);
    OPENSSL_cleanse(&server, sizeof server);
}

void catch_traffic_secrets(SSL_CTX* ctx) { SSL_CTX_set_keylog_callback(ctx, &on_key_log); }

void attach_traffic_secrets(SSL* ssl, HandshakeSecrets* into) {
    SSL_set_ex_data(ssl, secrets_index(), into);
}

}  // namespace anyedge::tls
