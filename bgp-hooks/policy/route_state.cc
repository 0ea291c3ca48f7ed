#include "bgp-hooks/policy/route_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace anyedge::policy {

const char* to_string(RouteState s) {
    switch (s) {
        case RouteState::announce:
            return "announce";
        case RouteState::deprefer:
            return "deprefer";
        case RouteState::graceful_shutdown:
            return "graceful-shutdown";
        case RouteState::withdraw:
            return "withdraw";
    }
    return "?";
}

std::optional<RouteState> route_state_from_string(std::string_view s) {
    for (auto r : {RouteState::announce, RouteState::deprefer, RouteState::graceful_shutdown,
                   RouteState::withdraw}) {
        if (s == to_string(r)) return r;
    }
    return std::nullopt;
}

std::string render_state_file(RouteState s, std::string_view reason) {
    std::string why;
    for (char c : reason) why += (c == '\n' || c == '\r') ? ' ' : c;
    std::string out;
    out += "# Written by cdn-hooks; do not edit (it is rewritten on every state change).\n";
    out += "# 0 announce, 1 de-prefer, 2 GRACEFUL_SHUTDOWN 65535:0, 3 withdraw\n";
    out += "# state: " + std::string(to_string(s)) + "\n";
    if (!why.empty()) out += "# reason: " + why + "\n";
    out += "define DRAIN = " + std::to_string(static_cast<int>(s)) + ";\n";
    return out;
}

std::optional<RouteState> parse_state_file(std::string_view text) {
    constexpr std::string_view key = "define DRAIN = ";
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        if (line.substr(0, key.size()) != key) continue;
        std::string_view rest = line.substr(key.size());
        if (rest.size() < 2 || rest[1] != ';' || rest[0] < '0' || rest[0] > '3')
            return std::nullopt;
        return static_cast<RouteState>(rest[0] - '0');
    }
    return std::nullopt;
}

Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                      std::to_string(std::random_device{}() & 0xffffff);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return make_error("create " + tmp + ": " + std::strerror(errno));
    auto fail = [&](const char* what) {
        std::string msg = std::string(what) + " " + tmp + ": " + std::strerror(errno);
        ::close(fd);
        ::unlink(tmp.c_str());
        return make_error(msg);
    };
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("write");
        }
        done += static_cast<size_t>(n);
    }
    // fchmod: the umask must not make the file unreadable for the bird group.
    if (::fchmod(fd, mode) != 0) return fail("fchmod");
    if (::fsync(fd) != 0) return fail("fsync");
    if (::close(fd) != 0) {
        fd = -1;
        ::unlink(tmp.c_str());
        return make_error("close " + tmp + ": " + std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string msg = "rename " + tmp + " -> " + path + ": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return make_error(msg);
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return ok_status();
}

}  // namespace anyedge::policy
