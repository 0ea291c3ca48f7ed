#include "tests/integration/edge_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "edge/io/ring.h"
#include "origin-sync/content/digest.h"

#include <poll.h>

namespace anyedge::testing {
using namespace std::chrono;

std::string read_file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string io_uring_unavailable() {
    static const std::string why = io::probe_io_uring_support();
    return why;
}

std::string run_command(const std::string& command) {
    std::string out;
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

std::string edge_binary() { return ANYEDGE_BINARY_DIR "/edge/cdn-edge"; }
std::string source_dir() { return ANYEDGE_SOURCE_DIR; }
std::string sha256_hex_of(const std::string& bytes) { return sha256_hex(bytes); }

EdgeProcess::EdgeProcess(const std::string& binary, std::vector<std::string> args, int listeners) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    char tmpl[] = "/tmp/anyedge-edge-log-XXXXXX";
    const int err_fd = mkstemp(tmpl);
    stderr_path_ = tmpl;
    pid_ = fork();
    if (pid_ == 0) {
        dup2(out[1], 1);
        dup2(err_fd, 2);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(binary.c_str()));
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(binary.c_str(), argv.data());
        _exit(127);
    }
    close(out[1]);
    close(err_fd);
    stdout_fd_ = out[0];
    // Read "listening <kind> <addr>" lines, bounded by a deadline.
    const auto deadline = steady_clock::now() + seconds(20);
    std::string buf;
    while (static_cast<int>(addresses_.size()) < listeners && steady_clock::now() < deadline) {
        pollfd p{stdout_fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char chunk[512];
        const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
        if (n <= 0) break;
        buf.append(chunk, size_t(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::istringstream line(buf.substr(0, nl));
            buf.erase(0, nl + 1);
            std::string word, kind, addr;
            line >> word >> kind >> addr;
            if (word == "listening") {
                kinds_.push_back(kind);
                addresses_.push_back(addr);
            }
        }
    }
}

EdgeProcess::~EdgeProcess() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
    if (!stderr_path_.empty()) unlink(stderr_path_.c_str());
}

uint16_t EdgeProcess::port_of(const std::string& kind) const {
    for (size_t i = 0; i < kinds_.size(); ++i) {
        if (kinds_[i] == kind) return port(i);
    }
    return 0;
}

uint16_t EdgeProcess::port(size_t i) const {
    const std::string& a = addresses_.at(i);
    return static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

int EdgeProcess::stop(milliseconds timeout) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return -1;
}

std::string EdgeProcess::log() {
    std::ifstream in(stderr_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

RawClient::RawClient(uint16_t port, const std::string& host, int receive_buffer) {
    const bool v6 = host.find(':') != std::string::npos;
    fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (receive_buffer > 0) {
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    int rc;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a.sin6_addr);
        rc = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a.sin_addr);
        rc = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) {
        close(fd_);
        fd_ = -1;
    }
}

RawClient::~RawClient() {
    if (fd_ >= 0) close(fd_);
}

bool RawClient::send_all(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += size_t(n);
    }
    return true;
}

std::string RawClient::read_until_close(milliseconds timeout, bool* closed) {
    std::string out = std::move(pending_);
    pending_.clear();
    if (closed) *closed = false;
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[65536];
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            if (closed) *closed = true;
            break;
        }
        out.append(buf, size_t(n));
    }
    return out;
}

std::vector<std::string> RawClient::read_responses(size_t count, bool head_only,
                                                   milliseconds timeout) {
    std::vector<std::string> out;
    const auto deadline = steady_clock::now() + timeout;
    while (out.size() < count && steady_clock::now() < deadline) {
        const auto end = pending_.find("\r\n\r\n");
        if (end != std::string::npos) {
            const std::string head = pending_.substr(0, end + 4);
            size_t len = 0;
            const std::string cl = header_of(head, "Content-Length");
            if (!cl.empty() && !head_only && head.find(" 304 ") == std::string::npos &&
                head.find(" 204 ") == std::string::npos) {
                len = std::stoull(cl);
            }
            if (pending_.size() >= end + 4 + len) {
                out.push_back(pending_.substr(0, end + 4 + len));
                pending_.erase(0, end + 4 + len);
                continue;
            }
        }
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[65536];
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        pending_.append(buf, size_t(n));
    }
    return out;
}

bool RawClient::closed_by_peer(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        const ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

std::string make_test_certificate(const std::filesystem::path& dir, const std::string& stem,
                                  const std::string& name) {
    const std::string base = (dir / stem).string();
    return run_command(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
        name + " -addext subjectAltName=DNS:" + name + " -keyout " + base + ".key -out " + base +
        ".pem 2>&1");
}

std::filesystem::path fresh_test_dir(const std::string& prefix) {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("anyedge-" + prefix + "-" + std::to_string(getpid()) + "-" + test->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

AdminReply admin_request(uint16_t port, const std::string& method, const std::string& path,
                         const std::string& token) {
    RawClient c(port);
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    c.send_all(req + "\r\n");
    AdminReply r;
    r.raw = c.read_until_close(std::chrono::seconds(5));
    r.body = body_of(r.raw);
    return r;
}

std::string body_of(const std::string& response) {
    const auto end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : response.substr(end + 4);
}

std::string header_of(const std::string& response, const std::string& name) {
    const std::string head = response.substr(0, response.find("\r\n\r\n") + 2);
    size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string::npos) {
        pos += 2;
        if (head.size() >= pos + name.size() + 1 &&
            strncasecmp(head.c_str() + pos, name.c_str(), name.size()) == 0 &&
            head[pos + name.size()] == ':') {
            size_t v = pos + name.size() + 1;
            while (v < head.size() && head[v] == ' ') ++v;
            return head.substr(v, head.find("\r\n", v) - v);
        }
    }
    return {};
}

}  // namespace anyedge::testing
