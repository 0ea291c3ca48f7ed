#include "bgp-hooks/bird/client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <poll.h>

namespace anyedge::bird {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

Client::~Client() { disconnect(); }

void Client::disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    assembler_ = ReplyAssembler{};
}

Status Client::connect() {
    if (fd_ >= 0) return ok_status();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) return make_error("BIRD socket path too long");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(errno_text("socket"));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::string msg = errno_text(("connect " + path_).c_str());
        ::close(fd);
        return make_error(msg);
    }
    fd_ = fd;
    assembler_ = ReplyAssembler{};
    bool nothing = false;
    auto greeting = read_reply(&nothing);
    if (!greeting) {
        disconnect();
        return make_error("BIRD greeting: " + greeting.error());
    }
    if (greeting->code() != 1) {
        disconnect();
        return make_error("unexpected BIRD greeting: " + greeting->text());
    }
    ++connections_;
    return ok_status();
}

bool Client::alive() {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 0);
    if (n == 0) return true;
    // BIRD never speaks unasked; readability here means EOF, an error, or garbage.
    char buf[256];
    ssize_t r = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);
    if (r > 0 && !(p.revents & (POLLHUP | POLLERR))) return true;
    disconnect();
    return false;
}

Result<Reply> Client::read_reply(bool* nothing_received) {
    *nothing_received = true;
    auto deadline = Clock::now() + timeout_;
    for (;;) {
        if (auto r = assembler_.next()) return std::move(*r);
        pollfd p{fd_, POLLIN, 0};
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(errno_text("poll"));
        }
        if (n == 0) {
            // A slow BIRD is not a restarted one: no retry (the command may still run).
            *nothing_received = false;
            return make_error("timed out waiting for BIRD's reply");
        }
        char buf[16384];
        ssize_t got = ::recv(fd_, buf, sizeof(buf), 0);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return make_error(errno_text("recv from BIRD"));
        }
        if (got == 0) return make_error("BIRD closed the control socket");
        *nothing_received = false;
        if (auto st = assembler_.feed(std::string_view(buf, static_cast<size_t>(got))); !st) {
            return make_error("malformed reply from BIRD: " + st.error());
        }
    }
}

Result<Reply> Client::command_once(std::string_view line, bool* nothing_received) {
    *nothing_received = true;
    if (auto st = connect(); !st) return make_error(st.error());
    std::string out(line);
    out += '\n';
    size_t sent = 0;
    while (sent < out.size()) {
        // MSG_NOSIGNAL: a BIRD that went away must be an error here, not a SIGPIPE.
        ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::string msg = errno_text("send to BIRD");
            disconnect();
            return make_error(msg);
        }
        sent += static_cast<size_t>(n);
    }
    auto reply = read_reply(nothing_received);
    if (!reply) disconnect();
    return reply;
}

Result<Reply> Client::command(std::string_view line) {
    if (line.find('\n') != std::string_view::npos) return make_error("command contains a newline");
    // A socket whose BIRD has exited is only noticed on use; check first so the retry below
    // stays the exception.
    if (fd_ >= 0) alive();
    bool nothing = false;
    auto r = command_once(line, &nothing);
    if (r || !nothing) return r;
    return command_once(line, &nothing);
}

Result<Reply> Client::checked(std::string_view line) {
    auto r = command(line);
    if (!r) return r;
    if (r->error()) {
        return make_error("BIRD '" + std::string(line) + "' failed (" + std::to_string(r->code()) +
                          "): " + r->final_text());
    }
    return r;
}

Result<std::string> Client::show_route(std::string_view args) {
    std::string cmd = "show route";
    if (!args.empty()) cmd += " " + std::string(args);
    auto r = checked(cmd);
    if (!r) return make_error(r.error());
    return r->text();
}

Result<std::string> Client::show_protocols(std::string_view args) {
    std::string cmd = "show protocols";
    if (!args.empty()) cmd += " " + std::string(args);
    auto r = checked(cmd);
    if (!r) return make_error(r.error());
    return r->text();
}

}  // namespace anyedge::bird
