// UDP sockets for QUIC: SO_REUSEPORT (one per worker on the same port), the destination address
// of each datagram (IP_PKTINFO / IPV6_RECVPKTINFO) so that replies leave from the address the
// client used (the anycast address), and sends batched with GSO (UDP_SEGMENT).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <span>

#include "edge/quic/quic_types.h"
#include "origin-sync/base/result.h"

struct msghdr;

namespace anyedge::quic {

Result<int> open_udp_socket(const sockaddr_storage& addr, socklen_t len);

// Attaches to a SO_REUSEPORT group (through any of its sockets) a classic BPF program that
// hands a short-header packet to the socket whose index is the worker named in its connection
// ID's first octet (sockets join the group in worker order). Long headers (new connections)
// and IDs naming no worker fall back to the kernel's 4-tuple hash. So a client whose address
// changed (NAT rebinding, migration) still reaches the worker that holds its connection.
Status steer_to_owning_worker(int fd);

// The local address to answer from: the datagram's destination (from the control messages),
// with the socket's port.
Address local_address(const msghdr& received, const Address& bound);

class UdpSender final : public DatagramSink {
  public:
    UdpSender(int fd, const Address& bound) : fd_(fd), bound_(bound) {}
    void send(const PathAddr& path, std::span<const uint8_t> data, size_t segment) override;
    uint64_t datagrams_out() const { return datagrams_out_; }
    uint64_t send_errors() const { return send_errors_; }

  private:
    bool send_one(const PathAddr& path, std::span<const uint8_t> data, size_t segment);
    int fd_;
    Address bound_;
    bool gso_ = true;  // cleared when the kernel refuses UDP_SEGMENT
    uint64_t datagrams_out_ = 0;
    uint64_t send_errors_ = 0;
};

}  // namespace anyedge::quic
