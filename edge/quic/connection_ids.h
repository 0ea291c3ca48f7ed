// ConnectionIds: the connection IDs this node issues, in the shape of QUIC-LB's single-pass
// block cipher (draft-ietf-quic-load-balancers): one octet of config rotation (and the worker,
// for this node's kernel to steer by), then one AES-128 block encrypting {node id (2 bytes),
// worker (1 byte), nonce (13 bytes)} with the fleet key.
// Any node holding the key reads which node and worker a packet belongs to; nobody else can
// link a connection's IDs to each other or to a node.
//
// Thread-safe: shared by every worker.
//
// Stateless reset tokens and address-validation tokens are derived from the fleet key too (HKDF
// over the CID), so every node computes the same token for a CID, and a node resets only
// connections that carry its own ID (RFC 9000 §10.3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "origin-sync/base/result.h"

namespace anyedge::quic {

constexpr size_t kCidLength = 17;
constexpr size_t kResetTokenLength = 16;
// The first octet's low five bits name the worker (0..30) in the clear; this value: "any".
constexpr uint8_t kWorkerUnknown = 0x1f;

struct CidOwner {
    uint16_t node = 0;
    uint8_t worker = 0;
};

class ConnectionIds {
  public:
    // key: 16 bytes shared by the fleet. node: this node's ID.
    static Result<ConnectionIds> create(std::span<const uint8_t> key, uint16_t node);
    // A random key: IDs are private to this process (a single node, or tests).
    static Result<ConnectionIds> with_random_key(uint16_t node);
    // Reads a fleet key file: 32 hex digits (whitespace around them ignored).
    static Result<std::array<uint8_t, 16>> read_key_file(const std::string& path);

    ConnectionIds(ConnectionIds&&) noexcept;
    ConnectionIds& operator=(ConnectionIds&&) noexcept;
    ~ConnectionIds();

    // Writes a new ID of kCidLength bytes naming this node and `worker`.
    void issue(uint8_t worker, std::span<uint8_t, kCidLength> cid) const;
    // Whose ID this is; nullopt when it is not of our shape (wrong length, a config rotation
    // other than 0, or clear and encrypted worker that disagree).
    std::optional<CidOwner> owner(std::span<const uint8_t> cid) const;
    void reset_token(std::span<const uint8_t> cid,
                     std::span<uint8_t, kResetTokenLength> token) const;
    // The secret of address-validation tokens (Retry and NEW_TOKEN), derived from the fleet
    // key: a token one node issues is valid on all of them.
    std::span<const uint8_t> token_secret() const { return token_secret_; }
    uint16_t node() const { return node_; }

  private:
    ConnectionIds() = default;
    // One AES-128 block per call, with a cipher context made for the call: every worker thread
    // uses this object at once, and an EVP context must not be shared between threads.
    void block(const uint8_t in[16], uint8_t out[16], bool encrypt) const;
    std::array<uint8_t, 16> key_{};
    std::array<uint8_t, 32> reset_secret_{};
    std::array<uint8_t, 32> token_secret_{};
    uint16_t node_ = 0;
};

}  // namespace anyedge::quic
