// Test helpers: start a real cdn-edge process on an ephemeral port, talk raw sockets to it.
// Every wait is bounded; the process is stopped by its PID.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace anyedge::testing {

class EdgeProcess {
  public:
    // Starts `binary` with args; waits until it prints its "listening <kind> ADDR" lines.
    EdgeProcess(const std::string& binary, std::vector<std::string> args, int listeners = 1);
    ~EdgeProcess();
    EdgeProcess(const EdgeProcess&) = delete;
    EdgeProcess& operator=(const EdgeProcess&) = delete;

    bool started() const { return pid_ > 0 && !addresses_.empty(); }
    pid_t pid() const { return pid_; }
    // "127.0.0.1:PORT" per listener, in the order printed.
    const std::vector<std::string>& addresses() const { return addresses_; }
    const std::vector<std::string>& kinds() const { return kinds_; }
    uint16_t port(size_t i = 0) const;
    // The port of the first listener of `kind` ("http", "https", "h3", "admin"); 0 if none.
    uint16_t port_of(const std::string& kind) const;
    // Sends SIGTERM and waits (bounded); returns the exit status or -1 on timeout.
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Everything the process wrote to stderr so far (for failure messages).
    std::string log();

  private:
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::string stderr_path_;
    std::vector<std::string> addresses_;
    std::vector<std::string> kinds_;
};

// A blocking TCP client with timeouts (SO_RCVTIMEO/SO_SNDTIMEO).
class RawClient {
  public:
    // receive_buffer > 0 sets SO_RCVBUF before connecting, so that the window stays that small.
    explicit RawClient(uint16_t port, const std::string& host = "127.0.0.1",
                       int receive_buffer = 0);
    ~RawClient();
    bool connected() const { return fd_ >= 0; }
    bool send_all(const std::string& bytes);
    // Reads until the peer closes or the timeout passes; `closed`, when given, says which.
    std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                 bool* closed = nullptr);
    // Reads complete HTTP responses (Content-Length framed) until `count` have arrived.
    std::vector<std::string> read_responses(
        size_t count, bool head_only = false,
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // True when the peer has closed (EOF or reset) within the timeout.
    bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(3));
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
    std::string pending_;
};

// The whole file, bytes as they are; empty when it cannot be read.
std::string read_file_bytes(const std::filesystem::path& path);

// Empty when io_uring works here, else why not.
std::string io_uring_unavailable();

// Skips the test when io_uring is unavailable, or fails it when ANYEDGE_REQUIRE_URING is set
// (CI), so that a machine without io_uring can never pass by skipping.
#define ANYEDGE_REQUIRE_IO_URING()                                                                \
    do {                                                                                          \
        if (const std::string why_ = ::anyedge::testing::io_uring_unavailable(); !why_.empty()) { \
            if (std::getenv("ANYEDGE_REQUIRE_URING")) FAIL() << "io_uring unavailable: " << why_; \
            GTEST_SKIP() << "io_uring unavailable: " << why_;                                     \
        }                                                                                         \
    } while (0)

// Runs a shell command and returns what it printed (stdout and stderr).
std::string run_command(const std::string& command);

std::string edge_binary();
std::string source_dir();
std::string sha256_hex_of(const std::string& bytes);
std::string body_of(const std::string& response);
std::string header_of(const std::string& response, const std::string& name);

// A self-signed ECDSA P-256 certificate for `name` (subjectAltName DNS:name), written as
// DIR/STEM.pem and DIR/STEM.key; returns openssl's output (empty on success, usually).
std::string make_test_certificate(const std::filesystem::path& dir, const std::string& stem,
                                  const std::string& name);

// A fresh directory for the running test: <tmp>/anyedge-<prefix>-<pid>-<test name>, emptied.
std::filesystem::path fresh_test_dir(const std::string& prefix);

// One request to an admin API (Connection: close), with a bearer token when given.
struct AdminReply {
    std::string raw;
    std::string body;
    int status() const { return raw.size() > 12 ? std::stoi(raw.substr(9, 3)) : 0; }
    bool ok() const { return raw.starts_with("HTTP/1.1 200"); }
};
AdminReply admin_request(uint16_t port, const std::string& method, const std::string& path,
                         const std::string& token = "");

}  // namespace anyedge::testing
