#include "bgp-hooks/health/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include <poll.h>

namespace anyedge::health {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

// Decodes a chunked body starting at `p`. Returns need_more/done/error; fills `out`.
ParseState dechunk(std::string_view b, std::string& out, std::string& err) {
    size_t p = 0;
    out.clear();
    for (;;) {
        size_t eol = b.find("\r\n", p);
        if (eol == std::string_view::npos) return ParseState::need_more;
        std::string_view line = b.substr(p, eol - p);
        if (auto semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
        line = trim(line);
        size_t size = 0;
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || ec != std::errc() || ptr != line.data() + line.size()) {
            err = "bad chunk size";
            return ParseState::error;
        }
        p = eol + 2;
        if (size == 0) {
            // Trailers end with an empty line.
            for (;;) {
                size_t t = b.find("\r\n", p);
                if (t == std::string_view::npos) return ParseState::need_more;
                if (t == p) return ParseState::done;
                p = t + 2;
            }
        }
        if (b.size() < p + size + 2) return ParseState::need_more;
        out.append(b.substr(p, size));
        if (b.substr(p + size, 2) != "\r\n") {
            err = "chunk not followed by CRLF";
            return ParseState::error;
        }
        p += size + 2;
    }
}

}  // namespace

std::string Endpoint::display() const {
    if (unix_socket) return "unix:" + path;
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view s) {
    Endpoint ep;
    if (s.rfind("unix:", 0) == 0) {
        ep.unix_socket = true;
        ep.path = std::string(s.substr(5));
        if (ep.path.empty()) return make_error("empty unix socket path");
        return ep;
    }
    std::string_view host, port;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos || s.substr(close + 1, 1) != ":") {
            return make_error("bad endpoint: " + std::string(s));
        }
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos)
            return make_error("endpoint needs a port: " + std::string(s));
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p <= 0 || p > 65535) {
        return make_error("bad port in endpoint: " + std::string(s));
    }
    unsigned char buf[16];
    std::string h(host);
    if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1) {
        return make_error("endpoint host must be a numeric address: " + h);
    }
    ep.host = h;
    ep.port = p;
    return ep;
}

Result<std::pair<Endpoint, std::string>> parse_http_url(std::string_view url) {
    if (url.rfind("http://", 0) != 0) return make_error("only http:// URLs: " + std::string(url));
    std::string_view rest = url.substr(7);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    std::string a(authority);
    bool has_port = !a.empty() && a.front() == '[' ? a.find("]:") != std::string::npos
                                                   : a.find(':') != std::string::npos;
    if (!has_port) a += ":80";
    auto ep = parse_endpoint(a);
    if (!ep) return make_error(ep.error());
    return std::make_pair(*ep, target);
}

ParseResult parse_http_response(std::string_view b, bool eof, bool head_request) {
    ParseResult r;
    size_t end = b.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (eof) {
            r.state = ParseState::error;
            r.error = b.empty() ? "connection closed without a response" : "truncated headers";
        }
        return r;
    }
    std::string_view head = b.substr(0, end);
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ') {
        r.state = ParseState::error;
        r.error = "bad status line";
        return r;
    }
    int status = 0;
    auto sv = status_line.substr(9, 3);
    auto [ptr, ec] = std::from_chars(sv.data(), sv.data() + 3, status);
    if (ec != std::errc() || ptr != sv.data() + 3 || status < 100) {
        r.state = ParseState::error;
        r.error = "bad status code";
        return r;
    }
    r.response.status = status;
    size_t p = eol == std::string_view::npos ? head.size() : eol + 2;
    while (p < head.size()) {
        size_t e = head.find("\r\n", p);
        std::string_view line = head.substr(p, e == std::string_view::npos ? e : e - p);
        p = e == std::string_view::npos ? head.size() : e + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            r.state = ParseState::error;
            r.error = "bad header line";
            return r;
        }
        r.response.headers[lower(trim(line.substr(0, colon)))] =
            std::string(trim(line.substr(colon + 1)));
    }
    std::string_view body = b.substr(end + 4);
    if (head_request || status == 204 || status == 304 || status < 200) {
        r.state = ParseState::done;
        return r;
    }
    if (lower(r.response.header("transfer-encoding")).find("chunked") != std::string::npos) {
        r.state = dechunk(body, r.response.body, r.error);
        if (r.state == ParseState::need_more && eof) {
            r.state = ParseState::error;
            r.error = "truncated chunked body";
        }
        return r;
    }
    std::string cl = r.response.header("content-length");
    if (!cl.empty()) {
        size_t n = 0;
        auto [q, e2] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
        if (e2 != std::errc() || q != cl.data() + cl.size()) {
            r.state = ParseState::error;
            r.error = "bad Content-Length";
            return r;
        }
        if (body.size() < n) {
            if (eof) {
                r.state = ParseState::error;
                r.error = "truncated body";
            }
            return r;
        }
        r.response.body = std::string(body.substr(0, n));
        r.state = ParseState::done;
        return r;
    }
    if (eof) {
        r.response.body = std::string(body);
        r.state = ParseState::done;
    }
    return r;
}

Result<HttpResponse> http_request(const Endpoint& ep, const HttpRequest& req,
                                  std::chrono::milliseconds timeout, int abort_fd) {
    auto deadline = Clock::now() + timeout;
    auto left_ms = [&] {
        auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        return d.count() < 0 ? 0 : static_cast<int>(d.count());
    };
    int fd = -1;
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (ep.unix_socket) {
        auto* un = reinterpret_cast<sockaddr_un*>(&ss);
        un->sun_family = AF_UNIX;
        if (ep.path.size() >= sizeof(un->sun_path)) return make_error("unix socket path too long");
        std::memcpy(un->sun_path, ep.path.c_str(), ep.path.size() + 1);
        len = sizeof(sockaddr_un);
    } else if (ep.host.find(':') != std::string::npos) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(ep.port));
        inet_pton(AF_INET6, ep.host.c_str(), &in6->sin6_addr);
        len = sizeof(sockaddr_in6);
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(static_cast<uint16_t>(ep.port));
        inet_pton(AF_INET, ep.host.c_str(), &in4->sin_addr);
        len = sizeof(sockaddr_in);
    }
    fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    // Waits for `events` on fd, or the abort fd, or the deadline.
    auto wait = [&](short events) -> Status {
        for (;;) {
            pollfd p[2] = {{fd, events, 0}, {abort_fd, POLLIN, 0}};
            int n = ::poll(p, abort_fd >= 0 ? 2 : 1, left_ms());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return make_error(std::string("poll: ") + std::strerror(errno));
            if (n == 0)
                return make_error("timed out after " + std::to_string(timeout.count()) + " ms",
                                  ErrorCode::kTimedOut);
            if (abort_fd >= 0 && (p[1].revents & POLLIN)) return make_error("aborted: edge died");
            return ok_status();
        }
    };

    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            return make_error("connect " + ep.display() + ": " + std::strerror(errno));
        }
        if (auto st = wait(POLLOUT); !st) return st.forward_error("connect " + ep.display() + ": ");
        int err = 0;
        socklen_t el = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) return make_error("connect " + ep.display() + ": " + std::strerror(err));
    }
    std::optional<TlsSession> tls;
    if (req.tls) {
        tls.emplace(*req.tls, fd, req.server_name.empty() ? req.host : req.server_name);
        for (int i = 0; i < 1000; ++i) {
            auto io = tls->handshake();
            if (io == TlsSession::Io::done) break;
            if (io == TlsSession::Io::want_read || io == TlsSession::Io::want_write) {
                if (auto st = wait(io == TlsSession::Io::want_read ? POLLIN : POLLOUT); !st) {
                    return st.forward_error("TLS handshake: ");
                }
                continue;
            }
            return make_error(tls->error());
        }
    }
    std::string out = req.method + " " + req.target + " HTTP/1.1\r\nHost: " + req.host +
                      "\r\nUser-Agent: cdn-hooks\r\nConnection: close\r\n";
    for (const auto& [k, v] : req.headers) out += k + ": " + v + "\r\n";
    if (!req.body.empty() || req.method == "POST") {
        out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
    }
    out += "\r\n" + req.body;
    size_t sent = 0;
    while (sent < out.size()) {
        if (tls) {
            size_t n = 0;
            auto io = tls->write(out.data() + sent, out.size() - sent, &n);
            if (io == TlsSession::Io::done) {
                sent += n;
            } else if (io == TlsSession::Io::want_read || io == TlsSession::Io::want_write) {
                if (auto st = wait(io == TlsSession::Io::want_read ? POLLIN : POLLOUT); !st) {
                    return st.forward_error("send: ");
                }
            } else {
                return make_error(tls->error());
            }
            continue;
        }
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (auto st = wait(POLLOUT); !st) return st.forward_error("send: ");
                continue;
            }
            return make_error(std::string("send: ") + std::strerror(errno));
        }
        sent += static_cast<size_t>(n);
    }
    std::string in;
    bool head = req.method == "HEAD";
    short want = POLLIN;
    for (;;) {
        if (auto st = wait(want); !st) return st.forward_error("response: ");
        char buf[16384];
        ssize_t n = 0;
        if (tls) {
            size_t got = 0;
            auto io = tls->read(buf, sizeof(buf), &got);
            if (io == TlsSession::Io::want_read || io == TlsSession::Io::want_write) {
                want = io == TlsSession::Io::want_read ? POLLIN : POLLOUT;
                continue;
            }
            if (io == TlsSession::Io::error) return make_error(tls->error());
            want = POLLIN;
            n = io == TlsSession::Io::done ? static_cast<ssize_t>(got) : 0;  // closed: EOF
        } else {
            n = ::recv(fd, buf, sizeof(buf), 0);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                return make_error(std::string("recv: ") + std::strerror(errno));
            }
        }
        if (n > 0) in.append(buf, static_cast<size_t>(n));
        if (in.size() > (8u << 20)) return make_error("response larger than 8 MiB");
        auto r = parse_http_response(in, n == 0, head);
        if (r.state == ParseState::done) return std::move(r.response);
        if (r.state == ParseState::error) return make_error(r.error);
    }
}

}  // namespace anyedge::health
