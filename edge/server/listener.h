// Listening sockets: parsing "127.0.0.1:8080" / "[::1]:8080" and opening SO_REUSEPORT
// listeners, one per worker, so the kernel spreads connections across threads without a lock.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "origin-sync/base/result.h"

namespace anyedge::server {

struct ListenAddress {
    std::string host;  // literal IPv4 or IPv6 address
    uint16_t port = 0;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::string to_string() const;
};

Result<ListenAddress> parse_listen_address(const std::string& text);

// "ADDR:PORT" of a socket address as the access log shows a client ("?:0" if not IP).
std::string peer_text(const sockaddr_storage& addr);

// SO_REUSEPORT lets any process of the same user join a port's group and take a share of its
// clients: a second or stale cdn-edge would answer some of them, perhaps from an old site. A
// socket without SO_REUSEPORT cannot bind while anyone holds the port, so one is tried (and
// closed) before a group is opened: an error names the port when it is taken. Port 0 passes.
Status refuse_if_port_held(const sockaddr_storage& addr, socklen_t len, int type);

// Opens `count` listeners on the same address. Port 0 picks an ephemeral port once; every
// listener shares it (the returned address carries the real port).
// send_buffer > 0 fixes SO_SNDBUF for the accepted sockets (they inherit it from the listener),
// as nginx's `listen ... sndbuf=`; 0 leaves the kernel's autotuning.
Result<std::vector<int>> open_listeners(ListenAddress& address, unsigned count, int backlog,
                                        int send_buffer = 0);

// A TLS address's sockets: `count` TCP listeners and, with HTTP/3, `count` UDP sockets on the
// same port. Port 0 picks a port free for both: the TCP port's UDP twin may be taken, so a few
// ports are tried.
struct TlsListeners {
    std::vector<int> tcp;
    std::vector<int> udp;  // empty without HTTP/3
};
Result<TlsListeners> open_tls_listeners(ListenAddress& address, unsigned count, int backlog,
                                        int send_buffer, bool http3);

struct AdminListener {
    int fd = -1;
    bool is_unix = false;
    std::string address;  // "unix:/path", or ADDR:PORT with the port really bound
};
// The admin listener: "unix:/path" (mode 0660, owner and group only) or ADDR:PORT (loopback
// in practice; the admin API then wants a token).
Result<AdminListener> open_admin_listener(const std::string& spec);

}  // namespace anyedge::server
