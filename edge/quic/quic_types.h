// Plain types shared by the QUIC adapter and its users: addresses, datagram output, requests
// and responses as the server sees them. No ngtcp2 or nghttp3 type appears here.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anyedge::quic {

using Timestamp = uint64_t;  // nanoseconds, CLOCK_MONOTONIC
constexpr Timestamp kNever = UINT64_MAX;

struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

// local: the address the client sent to (the anycast address), so replies leave from it.
struct PathAddr {
    Address local, remote;
};

// Where datagrams go: `data` holds packets of `segment` bytes each (the last may be shorter),
// sent as one GSO batch when there are several. send() is done with `data` when it returns.
class DatagramSink {
  public:
    virtual ~DatagramSink() = default;
    virtual void send(const PathAddr& path, std::span<const uint8_t> data, size_t segment) = 0;
};

struct H3Request {
    std::string method, scheme, authority, path;
    std::vector<std::pair<std::string, std::string>> fields;  // regular fields, lower-case names
    size_t field_bytes = 0;
    uint64_t body_bytes = 0;  // request content received (and dropped)
    bool early = false;       // arrived in 0-RTT data, before the handshake completed
};

struct H3Response {
    // The first is ":status". Views into memory that `hold` keeps alive.
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    std::vector<iovec> body;
    std::shared_ptr<void> hold;  // released when the stream closes
};

class H3Handler {
  public:
    virtual ~H3Handler() = default;
    virtual H3Response on_request(const H3Request& request, const PathAddr& path) = 0;
};

}  // namespace anyedge::quic
