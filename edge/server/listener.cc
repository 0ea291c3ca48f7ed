#include "edge/server/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "edge/quic/udp_socket.h"

namespace anyedge::server {

std::string ListenAddress::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::string peer_text(const sockaddr_storage& addr) {
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (addr.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(const std::string& text) {
    ListenAddress a;
    std::string host;
    std::string port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return make_error("bad listen address '" + text + "': expected [IPv6]:PORT");
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) {
            return make_error("bad listen address '" + text +
                              "': expected IPv4:PORT or [IPv6]:PORT");
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
        port_text.empty()) {
        return make_error("bad port in listen address '" + text + "'");
    }
    a.host = host;
    a.port = static_cast<uint16_t>(port);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a.port);
        a.addr_len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(a.port);
        a.addr_len = sizeof(sockaddr_in6);
    } else {
        return make_error("bad host in listen address '" + text + "': not an IP literal");
    }
    return a;
}

Status refuse_if_port_held(const sockaddr_storage& addr, socklen_t len, int type) {
    const bool v6 = addr.ss_family == AF_INET6;
    const uint16_t port = ntohs(v6 ? reinterpret_cast<const sockaddr_in6&>(addr).sin6_port
                                   : reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    if (port == 0) return ok_status();
    const int fd = ::socket(addr.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return ok_status();  // the real socket() will say why
    const int one = 1;
    // TCP: connections an earlier run left in TIME_WAIT do not hold the port; a listener does.
    if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    const bool held =
        ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno == EADDRINUSE;
    ::close(fd);
    if (!held) return ok_status();
    return make_error(std::string(type == SOCK_STREAM ? "TCP " : "UDP ") + peer_text(addr) +
                      " is already in use by another socket (another cdn-edge still running?)");
}

Result<std::vector<int>> open_listeners(ListenAddress& address, unsigned count, int backlog,
                                        int send_buffer) {
    if (auto held = refuse_if_port_held(address.addr, address.addr_len, SOCK_STREAM); !held) {
        return held.forward_error();
    }
    std::vector<int> fds;
    auto fail = [&](const std::string& what) -> Result<std::vector<int>> {
        const std::string msg = what + " " + address.to_string() + ": " + std::strerror(errno);
        for (int fd : fds) ::close(fd);
        return make_error(msg);
    };
    for (unsigned i = 0; i < count; ++i) {
        const int fd = ::socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return fail("socket");
        fds.push_back(fd);
        const int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            return fail("SO_REUSEPORT");
        }
        // Accepted sockets inherit TCP_NODELAY from the listener: no setsockopt per connection.
        // Responses are whole sends; Nagle would only delay the tail of a large one.
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (address.addr.ss_family == AF_INET6) {
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        }
        if (send_buffer > 0 &&
            ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer) != 0) {
            return fail("SO_SNDBUF");
        }
        if (::bind(fd, reinterpret_cast<sockaddr*>(&address.addr), address.addr_len) != 0) {
            return fail("bind");
        }
        if (::listen(fd, backlog) != 0) return fail("listen");
        if (address.port == 0) {
            // Learn the ephemeral port so the remaining listeners join the same group.
            socklen_t len = sizeof address.addr;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address.addr), &len);
            address.port = ntohs(address.addr.ss_family == AF_INET
                                     ? reinterpret_cast<sockaddr_in*>(&address.addr)->sin_port
                                     : reinterpret_cast<sockaddr_in6*>(&address.addr)->sin6_port);
        }
    }
    return fds;
}

// The admin listener: "unix:/path" (mode 0660) or a loopback ADDR:PORT.
Result<TlsListeners> open_tls_listeners(ListenAddress& address, unsigned count, int backlog,
                                        int send_buffer, bool http3) {
    const bool any_port = address.port == 0;
    std::string last_error;
    for (int attempt = 0; attempt < (any_port ? 16 : 1); ++attempt) {
        ListenAddress a = address;
        auto tcp = open_listeners(a, count, backlog, send_buffer);
        if (!tcp) return tcp.forward_error();
        TlsListeners out;
        out.tcp = std::move(*tcp);
        if (http3) {
            if (auto held = refuse_if_port_held(a.addr, a.addr_len, SOCK_DGRAM); !held) {
                for (int fd : out.tcp) ::close(fd);
                if (!any_port) return held.forward_error();
                last_error = held.error();
                continue;  // an ephemeral TCP port whose UDP twin is taken: try another
            }
        }
        for (unsigned i = 0; http3 && i < count; ++i) {
            auto fd = quic::open_udp_socket(a.addr, a.addr_len);
            if (!fd) {
                last_error = "HTTP/3 on " + a.to_string() + ": " + fd.error();
                break;
            }
            out.udp.push_back(*fd);
        }
        if (!http3 || out.udp.size() == count) {
            if (out.udp.size() > 1) {
                // Steering only moves packets between our own workers; without it the hash
                // still serves every client whose address does not change.
                if (auto st = quic::steer_to_owning_worker(out.udp.front()); !st) {
                    for (int fd : out.tcp) ::close(fd);
                    for (int fd : out.udp) ::close(fd);
                    return make_error("HTTP/3 on " + a.to_string() + ": " + st.error());
                }
            }
            address = a;
            return out;
        }
        for (int fd : out.tcp) ::close(fd);
        for (int fd : out.udp) ::close(fd);
    }
    return make_error(last_error);
}

Result<AdminListener> open_admin_listener(const std::string& spec) {
    if (spec.rfind("unix:", 0) == 0) {
        const std::string path = spec.substr(5);
        sockaddr_un addr{};
        if (path.empty() || path.size() >= sizeof addr.sun_path) {
            return make_error("bad admin socket path '" + path + "'");
        }
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, path.c_str(), path.size());
        unlink(path.c_str());
        if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            chmod(path.c_str(), 0660) != 0 || listen(fd, 64) != 0) {
            const std::string err = strerror(errno);
            close(fd);
            return make_error("admin socket " + path + ": " + err);
        }
        return AdminListener{fd, true, spec};
    }
    auto addr = parse_listen_address(spec);
    if (!addr) return make_error("admin: " + addr.error());
    auto fds = open_listeners(*addr, 1, 64);
    if (!fds) return make_error("admin: " + fds.error());
    return AdminListener{(*fds)[0], false, addr->to_string()};
}

}  // namespace anyedge::server
