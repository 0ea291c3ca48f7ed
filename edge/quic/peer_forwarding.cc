#include "edge/quic/peer_forwarding.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace anyedge::quic {

namespace {

constexpr uint8_t kMagic[4] = {'a', 'e', 'f', '1'};
constexpr size_t kAddressSize = 19;  // family (4 or 6), port (2, network order), address (16)

bool put_address(const Address& a, uint8_t* out) {
    std::memset(out, 0, kAddressSize);
    if (a.addr.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.addr);
        out[0] = 4;
        std::memcpy(out + 1, &v4->sin_port, 2);
        std::memcpy(out + 3, &v4->sin_addr, 4);
        return true;
    }
    if (a.addr.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a.addr);
        out[0] = 6;
        std::memcpy(out + 1, &v6->sin6_port, 2);
        std::memcpy(out + 3, &v6->sin6_addr, 16);
        return true;
    }
    return false;
}

bool get_address(const uint8_t* in, Address& a) {
    a = Address{};
    if (in[0] == 4) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
        v4->sin_family = AF_INET;
        std::memcpy(&v4->sin_port, in + 1, 2);
        std::memcpy(&v4->sin_addr, in + 3, 4);
        a.len = sizeof(sockaddr_in);
        return true;
    }
    if (in[0] == 6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
        v6->sin6_family = AF_INET6;
        std::memcpy(&v6->sin6_port, in + 1, 2);
        std::memcpy(&v6->sin6_addr, in + 3, 16);
        a.len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

}  // namespace

bool encode_forwarded(std::span<const uint8_t> datagram, const PathAddr& path,
                      std::vector<uint8_t>& out) {
    out.assign(datagram.begin(), datagram.end());
    out.resize(datagram.size() + kForwardTrailerSize);
    uint8_t* t = out.data() + datagram.size();
    if (!put_address(path.local, t) || !put_address(path.remote, t + kAddressSize)) return false;
    std::memcpy(t + 2 * kAddressSize, kMagic, sizeof kMagic);
    return true;
}

std::optional<Forwarded> decode_forwarded(std::span<const uint8_t> data) {
    if (data.size() <= kForwardTrailerSize) return std::nullopt;
    const uint8_t* t = data.data() + data.size() - kForwardTrailerSize;
    if (std::memcmp(t + 2 * kAddressSize, kMagic, sizeof kMagic) != 0) return std::nullopt;
    Forwarded f;
    if (!get_address(t, f.path.local) || !get_address(t + kAddressSize, f.path.remote)) {
        return std::nullopt;
    }
    if (f.path.local.addr.ss_family != f.path.remote.addr.ss_family) return std::nullopt;
    f.datagram = data.first(data.size() - kForwardTrailerSize);
    return f;
}

bool SocketPeerForwarder::forward(uint16_t node, const PathAddr& path,
                                  std::span<const uint8_t> data) {
    auto it = peers_.find(node);
    if (it == peers_.end() || !encode_forwarded(data, path, buffer_)) {
        ++failed_;
        return false;
    }
    const ssize_t n = ::sendto(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&it->second.addr), it->second.len);
    if (n != ssize_t(buffer_.size())) {
        ++failed_;
        return false;
    }
    ++sent_[node];
    return true;
}

}  // namespace anyedge::quic
