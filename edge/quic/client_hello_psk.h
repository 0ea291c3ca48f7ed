// client_hello_psk: the PSK identities a TLS 1.3 ClientHello offers (its pre_shared_key
// extension, RFC 8446 §4.2.11). For resumption each identity is a session ticket; the server
// reads them before GnuTLS does, to give the session the ticket master key that made them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace anyedge::quic {

// body: the ClientHello message without its 4-byte handshake header. Views into body, in the
// client's order; empty when there is no pre_shared_key extension or the message is malformed
// (GnuTLS then rejects it itself).
std::vector<std::span<const uint8_t>> psk_identities(std::span<const uint8_t> body);

}  // namespace anyedge::quic
