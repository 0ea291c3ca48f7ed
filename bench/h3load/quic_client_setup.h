// What every QUIC client on ngtcp2 and GnuTLS sets up the same way: the crypto callbacks
// (RFC 9001, by ngtcp2_crypto_gnutls) and ALPN "h3" with the server name. Shared by h3load and
// the tests' in-process client (tests/edge/h3_client_driver.h). Header-only.
#pragma once

#include <cstring>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace anyedge::quic_client {

inline void set_crypto_callbacks(ngtcp2_callbacks& cb) {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

// ALPN "h3", which the server must accept, and the name to ask for (SNI).
inline void offer_h3(gnutls_session_t session, const char* server_name) {
    gnutls_datum_t alpn{const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>("h3")),
                        2};
    gnutls_alpn_set_protocols(session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    gnutls_server_name_set(session, GNUTLS_NAME_DNS, server_name, std::strlen(server_name));
}

}  // namespace anyedge::quic_client
