#include "edge/quic/connection_ids.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sodium.h>

namespace anyedge::quic {
namespace {}  // namespace

Result<ConnectionIds> ConnectionIds::create(std::span<const uint8_t> key, uint16_t node) {
    if (key.size() != 16) return make_error("QUIC connection-ID key: need 16 bytes");
    ConnectionIds ids;
    ids.node_ = node;
    std::copy(key.begin(), key.end(), ids.key_.begin());
    // The reset secret is a separate key derived from the fleet key, so the block cipher's key
    // is never used for anything else.
    static constexpr char kLabel[] = "anyedge quic stateless reset";
    crypto_generichash(ids.reset_secret_.data(), ids.reset_secret_.size(),
                       reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1, key.data(),
                       key.size());
    static constexpr char kTokenLabel[] = "anyedge quic address tokens";
    crypto_generichash(ids.token_secret_.data(), ids.token_secret_.size(),
                       reinterpret_cast<const uint8_t*>(kTokenLabel), sizeof kTokenLabel - 1,
                       key.data(), key.size());
    return ids;
}

Result<ConnectionIds> ConnectionIds::with_random_key(uint16_t node) {
    std::array<uint8_t, 16> key{};
    randombytes_buf(key.data(), key.size());
    auto ids = create(key, node);
    sodium_memzero(key.data(), key.size());
    return ids;
}

Result<std::array<uint8_t, 16>> ConnectionIds::read_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return make_error("cannot read QUIC connection-ID key file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    std::array<uint8_t, 16> key{};
    size_t bin_len = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), " \t\r\n", &bin_len,
                       &end) != 0 ||
        bin_len != key.size() ||
        text.find_first_not_of(" \t\r\n", end - text.data()) != std::string::npos) {
        sodium_memzero(text.data(), text.size());
        return make_error(path + ": want 32 hex digits (a 16-byte key)");
    }
    sodium_memzero(text.data(), text.size());
    return key;
}

ConnectionIds::ConnectionIds(ConnectionIds&& o) noexcept { *this = std::move(o); }

ConnectionIds& ConnectionIds::operator=(ConnectionIds&& o) noexcept {
    if (this != &o) {
        std::swap(key_, o.key_);
        std::swap(reset_secret_, o.reset_secret_);
        std::swap(token_secret_, o.token_secret_);
        node_ = o.node_;
    }
    return *this;
}

ConnectionIds::~ConnectionIds() {
    sodium_memzero(key_.data(), key_.size());
    sodium_memzero(reset_secret_.data(), reset_secret_.size());
    sodium_memzero(token_secret_.data(), token_secret_.size());
}

void ConnectionIds::block(const uint8_t in[16], uint8_t out[16], bool encrypt) const {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    if (ctx == nullptr ||
        EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), nullptr, key_.data(), nullptr, encrypt) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 || EVP_CipherUpdate(ctx, out, &n, in, 16) != 1) {
        // Out of memory: an ID nobody can read (it routes nowhere, it is never reset).
        randombytes_buf(out, 16);
    }
    EVP_CIPHER_CTX_free(ctx);
}

void ConnectionIds::issue(uint8_t worker, std::span<uint8_t, kCidLength> cid) const {
    uint8_t plain[16];
    plain[0] = uint8_t(node_ >> 8);
    plain[1] = uint8_t(node_);
    plain[2] = worker;
    randombytes_buf(plain + 3, sizeof plain - 3);
    // First octet: config rotation 0 in the top three bits (QUIC-LB §3), then the worker in the
    // clear (kWorkerUnknown past 30), which the kernel's SO_REUSEPORT program reads to hand a
    // packet to the worker that owns its connection (steer_to_owning_worker).
    cid[0] = worker < kWorkerUnknown ? worker : kWorkerUnknown;
    block(plain, cid.data() + 1, true);
}

std::optional<CidOwner> ConnectionIds::owner(std::span<const uint8_t> cid) const {
    if (cid.size() != kCidLength || (cid[0] >> 5) != 0) return std::nullopt;
    uint8_t plain[16];
    block(cid.data() + 1, plain, false);
    // The worker is written twice, in the clear and encrypted: an ID that a client made up
    // (its first Initial's) agrees with itself only by chance, so it is seldom taken for ours.
    if ((cid[0] & kWorkerUnknown) != std::min(plain[2], kWorkerUnknown)) return std::nullopt;
    return CidOwner{uint16_t((plain[0] << 8) | plain[1]), plain[2]};
}

void ConnectionIds::reset_token(std::span<const uint8_t> cid,
                                std::span<uint8_t, kResetTokenLength> token) const {
    ngtcp2_cid c;
    ngtcp2_cid_init(&c, cid.data(), cid.size());
    ngtcp2_crypto_generate_stateless_reset_token(token.data(), reset_secret_.data(),
                                                 reset_secret_.size(), &c);
}

}  // namespace anyedge::quic
