#include "bgp-hooks/health/edge_watch.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <poll.h>

namespace anyedge::health {

namespace {

// glibc 2.36 has no <sys/pidfd.h> wrapper in Debian 12's headers; the syscall exists since
// Linux 5.3.
int pidfd_open(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int read_pid_file(const std::string& path) {
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0 || pid > (1 << 22)) return 0;
    return static_cast<int>(pid);
}

}  // namespace

EdgeWatch::EdgeWatch(std::string pid_file, int pid)
    : pid_file_(std::move(pid_file)), fixed_pid_(pid) {}

EdgeWatch::~EdgeWatch() {
    if (fd_ >= 0) ::close(fd_);
}

void EdgeWatch::refresh() {
    if (fd_ >= 0 || !enabled()) return;
    int pid = fixed_pid_ > 0 ? fixed_pid_ : read_pid_file(pid_file_);
    if (pid <= 0) {
        detail_ = "no pid in " + pid_file_;
        return;
    }
    // A stale pid file still naming the dead process must not count as alive.
    if (pid == dead_pid_) return;
    int fd = pidfd_open(pid);
    if (fd < 0) {
        detail_ = "pid " + std::to_string(pid) + ": " + std::strerror(errno);
        dead_pid_ = pid;
        return;
    }
    fd_ = fd;
    pid_ = pid;
    dead_pid_ = 0;
    detail_ = "watching pid " + std::to_string(pid);
}

bool EdgeWatch::check_dead() {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return false;
    ::close(fd_);
    fd_ = -1;
    dead_pid_ = pid_;
    detail_ = "edge pid " + std::to_string(pid_) + " exited";
    return true;
}

}  // namespace anyedge::health
