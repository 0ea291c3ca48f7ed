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

    // For the stream's next request: the strings keep their capacity.
    void clear() {
        method.clear();
        scheme.clear();
        authority.clear();
        path.clear();
        fields.clear();
        field_bytes = 0;
        body_bytes = 0;
        early = false;
    }
};

// What a response's fields and body point into, made by the handler and kept by the stream
// until it closes. A stream object serves many requests in turn: release() lets go of what
// pins memory elsewhere (snapshots) and keeps its own buffers' capacity for the next response.
class H3Held {
  public:
    virtual ~H3Held() = default;
    virtual void release() = 0;
};

struct H3Response {
    // The first is ":status". Views into memory that `hold` keeps alive.
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    std::vector<iovec> body;
    std::unique_ptr<H3Held> hold;

    // Empty, with `hold` released but kept for the handler to fill again.
    void clear() {
        fields.clear();
        body.clear();
        if (hold) hold->release();
    }
};

class H3Handler {
  public:
    virtual ~H3Handler() = default;
    // Answers into `out`, which arrives cleared; `out.hold` may hold what this handler made for
    // an earlier response on the same stream object, released, to be filled again.
    virtual void on_request(const H3Request& request, const PathAddr& path, H3Response& out) = 0;
};

}  // namespace anyedge::quic
