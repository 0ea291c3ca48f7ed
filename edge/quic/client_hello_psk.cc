#include "edge/quic/client_hello_psk.h"

#include <cstddef>
#include <optional>

namespace anyedge::quic {
namespace {

constexpr uint16_t kPreSharedKey = 41;

// A bounds-checked reader over the message: every read fails once past the end.
class Reader {
  public:
    explicit Reader(std::span<const uint8_t> data) : data_(data) {}
    bool ok() const { return ok_; }
    bool empty() const { return data_.empty(); }
    std::optional<uint32_t> number(size_t bytes) {
        if (!ok_ || data_.size() < bytes) return fail();
        uint32_t v = 0;
        for (size_t i = 0; i < bytes; ++i) v = v << 8 | data_[i];
        data_ = data_.subspan(bytes);
        return v;
    }
    std::optional<std::span<const uint8_t>> bytes(size_t n) {
        if (!ok_ || data_.size() < n) {
            fail();
            return std::nullopt;
        }
        auto out = data_.first(n);
        data_ = data_.subspan(n);
        return out;
    }
    // A vector with a length prefix of `prefix` bytes.
    std::optional<std::span<const uint8_t>> vector(size_t prefix) {
        const auto n = number(prefix);
        if (!n) return std::nullopt;
        return bytes(*n);
    }

  private:
    std::nullopt_t fail() {
        ok_ = false;
        return std::nullopt;
    }
    std::span<const uint8_t> data_;
    bool ok_ = true;
};

}  // namespace

std::vector<std::span<const uint8_t>> psk_identities(std::span<const uint8_t> body) {
    Reader r(body);
    r.bytes(2 + 32);  // legacy_version, random
    r.vector(1);      // legacy_session_id
    r.vector(2);      // cipher_suites
    r.vector(1);      // legacy_compression_methods
    const auto extensions = r.vector(2);
    if (!r.ok() || !extensions) return {};
    Reader ext(*extensions);
    while (!ext.empty()) {
        const auto type = ext.number(2);
        const auto data = ext.vector(2);
        if (!type || !data) return {};
        if (*type != kPreSharedKey) continue;
        Reader psk(*data);
        const auto identities = psk.vector(2);
        if (!identities) return {};
        Reader ids(*identities);
        std::vector<std::span<const uint8_t>> out;
        while (!ids.empty()) {
            const auto identity = ids.vector(2);
            if (!identity || !ids.number(4)) return {};  // obfuscated_ticket_age
            out.push_back(*identity);
        }
        return out;
    }
    return {};
}

}  // namespace anyedge::quic
