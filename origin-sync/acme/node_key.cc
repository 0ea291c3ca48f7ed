#include "origin-sync/acme/node_key.h"

#include "origin-sync/base/base64.h"
#include "origin-sync/base/file_io.h"

#include <sodium.h>

namespace anyedge::acme {

namespace {

Status sodium_ready() {
    if (sodium_init() < 0) return make_error("libsodium failed to initialise");
    return ok_status();
}

}  // namespace

Result<NodeKey> NodeKey::generate() {
    if (Status s = sodium_ready(); !s) return s.forward_error();
    NodeKey k;
    crypto_box_keypair(k.public_.data(), k.secret_.data());
    return k;
}

Result<NodeKey> NodeKey::load(const std::filesystem::path& secret_file) {
    if (Status s = sodium_ready(); !s) return s.forward_error();
    auto text = read_token_file(secret_file);
    if (!text) return text.forward_error();
    auto raw = base64_decode(*text);
    if (!raw || raw->size() != kBytes) {
        if (raw) sodium_memzero(raw->data(), raw->size());
        return make_error(secret_file.string() + ": not a node key (base64 of 32 bytes)");
    }
    NodeKey k;
    std::copy(raw->begin(), raw->end(), k.secret_.begin());
    sodium_memzero(raw->data(), raw->size());
    sodium_memzero(text->data(), text->size());
    crypto_scalarmult_base(k.public_.data(), k.secret_.data());
    return k;
}

Result<NodeKey> NodeKey::load_or_create(const std::filesystem::path& secret_file) {
    std::error_code ec;
    if (std::filesystem::exists(secret_file, ec)) return load(secret_file);
    auto k = generate();
    if (!k) return k;
    std::string text =
        base64_encode(std::string_view(reinterpret_cast<const char*>(k->secret_.data()), kBytes)) +
        "\n";
    Status s = atomic_write_file(secret_file, text, 0600);
    sodium_memzero(text.data(), text.size());
    if (!s) return s.forward_error();
    return k;
}

NodeKey::NodeKey(NodeKey&& other) noexcept : public_(other.public_), secret_(other.secret_) {
    other.wipe();
}

NodeKey& NodeKey::operator=(NodeKey&& other) noexcept {
    if (this != &other) {
        public_ = other.public_;
        secret_ = other.secret_;
        other.wipe();
    }
    return *this;
}

NodeKey::~NodeKey() { wipe(); }

void NodeKey::wipe() { sodium_memzero(secret_.data(), secret_.size()); }

std::string NodeKey::public_base64() const {
    return base64_encode(std::string_view(reinterpret_cast<const char*>(public_.data()), kBytes));
}

Result<std::string> NodeKey::open(std::string_view sealed) const {
    if (sealed.size() < crypto_box_SEALBYTES) return make_error("sealed box too short");
    std::string out(sealed.size() - crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                             public_.data(), secret_.data()) != 0) {
        return make_error("the sealed box does not open with this node's key");
    }
    return out;
}

bool is_node_public_key(std::string_view public_base64) {
    auto raw = base64_decode(public_base64);
    return raw && raw->size() == NodeKey::kBytes;
}

Result<std::string> seal_to_node(std::string_view public_base64, std::string_view message) {
    if (Status s = sodium_ready(); !s) return s.forward_error();
    auto pub = base64_decode(public_base64);
    if (!pub || pub->size() != NodeKey::kBytes) {
        return make_error("not a node public key (base64 of 32 bytes)");
    }
    std::string out(message.size() + crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                        reinterpret_cast<const unsigned char*>(pub->data())) != 0) {
        return make_error("crypto_box_seal failed");
    }
    return out;
}

}  // namespace anyedge::acme
