// Child processes for integration tests: started with posix_spawn, output to a file, stopped
// by PID (SIGTERM, or SIGKILL to simulate a crash), always reaped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>

extern char** environ;

namespace anyedge::testing_util {

class Process {
  public:
    Process() = default;
    Process(const std::vector<std::string>& argv, const std::filesystem::path& log) {
        start(argv, log);
    }
    ~Process() { stop(SIGTERM); }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool start(const std::vector<std::string>& argv, const std::filesystem::path& log) {
        log_ = log;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) pid_ = -1;
        return pid_ > 0;
    }
    // Sends `sig` and reaps the child (escalating to SIGKILL if it does not exit in time).
    int stop(int sig) {
        if (pid_ <= 0) return -1;
        ::kill(pid_, sig);
        int status = 0;
        for (int i = 0; i < 500; ++i) {  // bounded: 5 s
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return status;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }
    // Waits for the child to exit by itself; returns its exit code (128 + signal if killed).
    int wait() {
        if (pid_ <= 0) return -1;
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pid_t pid() const { return pid_; }
    std::string output() const {
        std::ifstream in(log_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

  private:
    pid_t pid_ = -1;
    std::filesystem::path log_;
};

// Runs a command to completion; returns its exit status and appends its output to `out`.
inline int run_command(const std::vector<std::string>& argv, const std::filesystem::path& log,
                       std::string* out = nullptr) {
    std::error_code ec;
    std::filesystem::remove(log, ec);
    Process p(argv, log);
    int code = p.wait();
    if (out) *out = p.output();
    return code;
}

// Polls `pred` every 20 ms until it holds or `limit` passes. Bounded by construction.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

}  // namespace anyedge::testing_util
