// Process and file helpers shared by the bgp-hooks integration tests: spawn a child with its
// output in a log file, stop it by PID with a bounded wait, poll a condition with a limit.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace anyedge::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const fs::path& p, const std::string& s) {
    fs::path tmp = p.string() + ".tmp";
    std::ofstream(tmp) << s;
    fs::rename(tmp, p);
}

inline int run(const std::string& cmd) {
    int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Starts argv with stdout+stderr appended to `log`; returns the child's PID.
inline pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    return pid;
}

// SIGTERM (or `sig`), then wait up to 5 s, then SIGKILL. Returns the wait status.
inline int stop(pid_t& pid, int sig = SIGTERM) {
    if (pid <= 0) return 0;
    ::kill(pid, sig);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            return status;
        }
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
    return status;
}

// Polls `pred` every 10 ms until true or `limit` passes; returns the time taken, or nullopt.
inline std::optional<std::chrono::milliseconds> wait_for(const std::function<bool()>& pred,
                                                         std::chrono::milliseconds limit) {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
        if (pred()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
        std::this_thread::sleep_for(10ms);
    }
    return pred() ? std::optional(limit) : std::nullopt;
}

inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace anyedge::test
