// A node's sealing key: an X25519 key pair (libsodium's crypto_box) that certificate keys are
// sealed to, so that a served private key never travels or rests in clear outside the node
// that serves it. The secret half stays on the node (file mode 0600, base64 of 32 bytes);
// the public half goes into the issuer's config.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

#include "origin-sync/base/result.h"

namespace anyedge::acme {

class NodeKey {
  public:
    static constexpr size_t kBytes = 32;
    // Loads the secret key file, or makes a new key pair and writes it when the file is absent.
    static Result<NodeKey> load_or_create(const std::filesystem::path& secret_file);
    static Result<NodeKey> load(const std::filesystem::path& secret_file);
    static Result<NodeKey> generate();
    NodeKey(const NodeKey&) = delete;
    NodeKey& operator=(const NodeKey&) = delete;
    NodeKey(NodeKey&& other) noexcept;
    NodeKey& operator=(NodeKey&& other) noexcept;
    ~NodeKey();

    std::string public_base64() const;
    // Opens a box sealed to this key (crypto_box_seal_open).
    Result<std::string> open(std::string_view sealed) const;

  private:
    NodeKey() = default;
    void wipe();
    std::array<unsigned char, kBytes> public_{};
    std::array<unsigned char, kBytes> secret_{};
};

// Seals `message` to a node's public key (base64 of 32 bytes): only that node can open it.
Result<std::string> seal_to_node(std::string_view public_base64, std::string_view message);

// True for a base64 X25519 public key (32 bytes).
bool is_node_public_key(std::string_view public_base64);

}  // namespace anyedge::acme
