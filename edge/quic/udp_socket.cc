#include "edge/quic/udp_socket.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "edge/quic/connection_ids.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace anyedge::quic {

Result<int> open_udp_socket(const sockaddr_storage& addr, socklen_t len) {
    const int family = addr.ss_family;
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(std::string("UDP socket: ") + std::strerror(errno));
    const int one = 1;
    bool ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0;
    if (family == AF_INET6) {
        ok = ok && ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0;
        ok = ok && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    } else {
        ok = ok && ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
    }
    // Path MTU discovery is QUIC's own (RFC 9000 §14.3): never fragment.
    if (family == AF_INET) {
        const int pmtu = IP_PMTUDISC_DO;
        ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    } else {
        const int pmtu = IPV6_PMTUDISC_DO;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    }
    const int buf = 4 * 1024 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (!ok || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        return make_error("UDP socket: " + why);
    }
    return fd;
}

Status steer_to_owning_worker(int fd) {
    // A reuseport program sees the UDP payload at offset 0. Returning an index past the group's
    // size makes the kernel pick by hash.
    sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 4, 0),  // long header: by hash
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1),             // the DCID's first octet
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, kWorkerUnknown),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kWorkerUnknown, 1, 0),
        BPF_STMT(BPF_RET | BPF_A, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(program)), program};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
        return make_error(std::string("SO_ATTACH_REUSEPORT_CBPF: ") + std::strerror(errno));
    }
    return ok_status();
}

Address local_address(const msghdr& received, const Address& bound) {
    Address local = bound;
    for (cmsghdr* c = CMSG_FIRSTHDR(&received); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&received), c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
            bound.addr.ss_family == AF_INET) {
            in_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            reinterpret_cast<sockaddr_in*>(&local.addr)->sin_addr = info.ipi_addr;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                   bound.addr.ss_family == AF_INET6) {
            in6_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            reinterpret_cast<sockaddr_in6*>(&local.addr)->sin6_addr = info.ipi6_addr;
        }
    }
    return local;
}

bool UdpSender::send_one(const PathAddr& path, std::span<const uint8_t> data, size_t segment) {
    iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr_storage*>(&path.remote.addr);
    msg.msg_namelen = path.remote.len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(
        cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    size_t used = 0;
    auto put = [&](int level, int type, const void* value, size_t len) {
        c->cmsg_level = level;
        c->cmsg_type = type;
        c->cmsg_len = CMSG_LEN(len);
        std::memcpy(CMSG_DATA(c), value, len);
        used += CMSG_SPACE(len);
        c = CMSG_NXTHDR(&msg, c);
    };
    // The source address: the one the client sent to.
    if (path.local.addr.ss_family == AF_INET) {
        in_pktinfo info{};
        info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(&path.local.addr)->sin_addr;
        put(IPPROTO_IP, IP_PKTINFO, &info, sizeof info);
    } else {
        in6_pktinfo info{};
        info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(&path.local.addr)->sin6_addr;
        put(IPPROTO_IPV6, IPV6_PKTINFO, &info, sizeof info);
    }
    if (data.size() > segment) {
        const uint16_t seg = uint16_t(segment);
        put(SOL_UDP, UDP_SEGMENT, &seg, sizeof seg);
    }
    msg.msg_controllen = used;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (::sendmsg(fd_, &msg, MSG_NOSIGNAL) >= 0) return true;
        if (errno != EINTR) break;
    }
    return false;
}

void UdpSender::send(const PathAddr& path, std::span<const uint8_t> data, size_t segment) {
    if (segment == 0 || data.empty()) return;
    const size_t packets = (data.size() + segment - 1) / segment;
    if (packets > 1 && gso_) {
        if (send_one(path, data, segment)) {
            datagrams_out_ += packets;
            return;
        }
        if (errno != EIO && errno != EINVAL) {  // EIO/EINVAL: no GSO here; send one by one
            ++send_errors_;
            return;
        }
        gso_ = false;
    }
    // A lost datagram is QUIC's to recover (a full socket buffer drops like a congested link).
    for (size_t off = 0; off < data.size(); off += segment) {
        const size_t n = std::min(segment, data.size() - off);
        if (send_one(path, data.subspan(off, n), n)) {
            ++datagrams_out_;
        } else {
            ++send_errors_;
        }
    }
}

}  // namespace anyedge::quic
