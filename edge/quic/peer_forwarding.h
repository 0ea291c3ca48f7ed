// QUIC packets that reach the wrong node after a route change, sent to the node their
// connection ID names (DESIGN.md "Continuity across route changes").
//
// The sending node's endpoint decrypts the ID, finds another node, and sends the datagram to
// that node's forward address (an address on the tunnel between nodes, so only peers reach
// it) with a trailer that keeps the client's path: the client's address and the address it
// sent to. The owning node hands the datagram to its connection as if it had arrived
// directly, and answers the client directly, from the anycast address. The trailer goes after
// the packet so that the socket group's steering program (which reads the connection ID at the
// start of the payload) hands it to the worker that owns the connection.
// A forwarded datagram is never forwarded again: the hop budget is one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "edge/quic/quic_types.h"

namespace anyedge::quic {

// Bytes the trailer adds to a datagram.
constexpr size_t kForwardTrailerSize = 2 * 19 + 4;

// datagram + trailer(path) into `out` (cleared first). False if an address is not IPv4/IPv6.
bool encode_forwarded(std::span<const uint8_t> datagram, const PathAddr& path,
                      std::vector<uint8_t>& out);

struct Forwarded {
    PathAddr path;
    std::span<const uint8_t> datagram;
};
// The datagram and the client's path, or nothing when the trailer is missing or malformed.
std::optional<Forwarded> decode_forwarded(std::span<const uint8_t> data);

// Where an endpoint sends a packet of another node's connection.
class PeerForwarder {
  public:
    virtual ~PeerForwarder() = default;
    // True when the datagram was sent toward `node`.
    virtual bool forward(uint16_t node, const PathAddr& path, std::span<const uint8_t> data) = 0;
    // True when `node` is a peer this node forwards to.
    virtual bool knows(uint16_t node) const = 0;
};

// node id -> its forward address.
using PeerAddresses = std::map<uint16_t, Address>;

// Sends through one UDP socket (the worker's forward socket), counting per peer.
class SocketPeerForwarder final : public PeerForwarder {
  public:
    SocketPeerForwarder(int fd, const PeerAddresses& peers) : fd_(fd), peers_(peers) {}
    bool forward(uint16_t node, const PathAddr& path, std::span<const uint8_t> data) override;
    bool knows(uint16_t node) const override { return peers_.count(node) != 0; }
    // Datagrams sent to each peer, and those that could not be (no address, send failed).
    const std::map<uint16_t, uint64_t>& sent() const { return sent_; }
    uint64_t failed() const { return failed_; }

  private:
    int fd_;
    const PeerAddresses& peers_;
    std::vector<uint8_t> buffer_;
    std::map<uint16_t, uint64_t> sent_;
    uint64_t failed_ = 0;
};

}  // namespace anyedge::quic
