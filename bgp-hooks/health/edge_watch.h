// Watches the edge process with a pidfd (pidfd_open(2)): the fd becomes readable the moment the
// process exits, so a SIGKILLed edge is noticed at once rather than at the next poll.
//
// The pid comes from a fixed number or a pid file re-read until a live process is found (the
// edge may be restarted with a new pid). Owned and used by one thread.
#pragma once

#include <string>

namespace anyedge::health {

class EdgeWatch {
  public:
    EdgeWatch(std::string pid_file, int pid);
    ~EdgeWatch();
    EdgeWatch(const EdgeWatch&) = delete;
    EdgeWatch& operator=(const EdgeWatch&) = delete;

    bool enabled() const { return !pid_file_.empty() || fixed_pid_ > 0; }
    // Opens a pidfd when none is open (re-reading the pid file). Cheap; call every round.
    void refresh();
    // The pidfd to poll for POLLIN, or -1.
    int fd() const { return fd_; }
    // Non-blocking: true when the watched process has exited (the pidfd is then closed, and
    // the next refresh() looks for a new process). Sets `detail`.
    bool check_dead();
    // Whether a live process is currently watched.
    bool watching() const { return fd_ >= 0; }
    int pid() const { return pid_; }
    const std::string& detail() const { return detail_; }

  private:
    std::string pid_file_;
    int fixed_pid_;
    int pid_ = 0;
    int dead_pid_ = 0;
    int fd_ = -1;
    std::string detail_;
};

}  // namespace anyedge::health
