// A continuous HTTP/1.1 load for the drain test, run from inside a network namespace (a
// client's view: through the routed path to the anycast address, not loopback).
//
// Two loops on their own threads, both joined to the namespace with setns(2) (which moves only
// the calling thread):
//  - "new connection per request": connect, GET, read one response, close;
//  - "keep-alive": one connection reused until a response says `Connection: close` (what a
//    draining edge sends), then a fresh connection, as a browser does.
// A request fails when the connection cannot be made, breaks before a whole response, or the
// answer is not 200 with the expected ETag. Every loop is bounded by `max_run`.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>

namespace anyedge::test {

struct LoadStats {
    std::atomic<uint64_t> ok{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> connections{0};
    std::atomic<uint64_t> conn_close_seen{0};  // responses carrying Connection: close
    std::mutex mu;
    std::vector<std::string> failures;  // the first few, for the report
    void fail(std::string why) {
        ++failed;
        std::lock_guard<std::mutex> lock(mu);
        if (failures.size() < 10) failures.push_back(std::move(why));
    }
};

class LoadClient {
  public:
    // `netns_path`: /run/netns/NAME. `ip4`, `port`: the anycast service address.
    LoadClient(std::string netns_path, std::string ip4, int port, std::string target,
               std::string host, std::string expected_etag)
        : ns_(std::move(netns_path)),
          ip_(std::move(ip4)),
          port_(port),
          target_(std::move(target)),
          host_(std::move(host)),
          etag_(std::move(expected_etag)) {}
    ~LoadClient() { stop(); }

    void start(std::chrono::milliseconds max_run = std::chrono::seconds(60)) {
        running_ = true;
        auto deadline = std::chrono::steady_clock::now() + max_run;
        threads_.emplace_back([this, deadline] { loop(false, deadline, fresh_); });
        threads_.emplace_back([this, deadline] { loop(true, deadline, keepalive_); });
    }
    void stop() {
        running_ = false;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
        threads_.clear();
    }
    LoadStats& fresh() { return fresh_; }
    LoadStats& keepalive() { return keepalive_; }

  private:
    int connect_fd(LoadStats& s) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port_));
        ::inet_pton(AF_INET, ip_.c_str(), &a.sin_addr);
        // A signal, or a stop and continue, interrupts a blocking connect and, with
        // SO_RCVTIMEO/SO_SNDTIMEO set, a blocking recv or send, which are then not restarted
        // (signal(7); CI saw "recv: Interrupted system call" once). The connection goes on in
        // the kernel: wait for it; retry the others.
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 &&
            !(errno == EINTR && wait_connected(fd))) {
            s.fail(std::string("connect: ") + std::strerror(errno));
            ::close(fd);
            return -1;
        }
        ++s.connections;
        return fd;
    }

    // After an interrupted connect: true once connected (within 2 s), else errno is set.
    static bool wait_connected(int fd) {
        pollfd p{fd, POLLOUT, 0};
        int r = -1;
        for (int i = 0; i < 100 && r < 0; ++i) {
            r = ::poll(&p, 1, 2000);
            if (r < 0 && errno != EINTR) return false;
        }
        if (r <= 0) {
            errno = ETIMEDOUT;
            return false;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        return err == 0;
    }

    // One request on `fd`; returns false when the connection must be closed afterwards.
    bool exchange(int fd, LoadStats& s, bool* close_after) {
        std::string req = "GET " + target_ + " HTTP/1.1\r\nHost: " + host_ +
                          "\r\nAccept-Encoding: identity\r\nUser-Agent: bgp-hooks-load\r\n\r\n";
        for (size_t sent = 0, tries = 0; sent < req.size(); ++tries) {
            const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR && tries < 100) continue;
            if (n <= 0) {
                s.fail(std::string("send: ") + std::strerror(errno));
                return false;
            }
            sent += static_cast<size_t>(n);
        }
        std::string buf;
        char chunk[16384];
        for (int i = 0; i < 10000; ++i) {
            ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
            if (n < 0 && errno == EINTR) continue;  // bounded by the loop
            if (n < 0) {
                s.fail(std::string("recv: ") + std::strerror(errno));
                return false;
            }
            if (n > 0) buf.append(chunk, static_cast<size_t>(n));
            // The whole buffer again each time: responses are small, the loop is bounded.
            namespace http = boost::beast::http;
            http::response_parser<http::string_body> p;
            p.eager(true);
            boost::beast::error_code ec;
            p.put(boost::asio::buffer(buf), ec);
            if (ec == http::error::need_more && n == 0) p.put_eof(ec);
            if (ec && ec != http::error::need_more) {
                s.fail("bad response: " + ec.message());
                return false;
            }
            if (p.is_done()) {
                const auto& r = p.get();
                if (r.result_int() != 200) {
                    s.fail("HTTP " + std::to_string(r.result_int()));
                    return false;
                }
                const std::string etag(r[http::field::etag]);
                if (!etag_.empty() && etag != "\"" + etag_ + "\"") {
                    s.fail("ETag " + etag);
                    return false;
                }
                ++s.ok;
                *close_after = !r.keep_alive();
                if (*close_after) ++s.conn_close_seen;
                return true;
            }
            if (n == 0) {
                s.fail("connection closed before a whole response");
                return false;
            }
        }
        s.fail("response never ended");
        return false;
    }

    void loop(bool keepalive, std::chrono::steady_clock::time_point deadline, LoadStats& s) {
        int nsfd = ::open(ns_.c_str(), O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) {
            s.fail("setns " + ns_ + ": " + std::strerror(errno));
            if (nsfd >= 0) ::close(nsfd);
            return;
        }
        ::close(nsfd);
        int fd = -1;
        while (running_ && std::chrono::steady_clock::now() < deadline) {
            if (fd < 0) fd = connect_fd(s);
            if (fd >= 0) {
                bool close_after = true;
                bool ok = exchange(fd, s, &close_after);
                if (!ok || close_after || !keepalive) {
                    ::close(fd);
                    fd = -1;
                }
            }
            // ~200 requests/s per loop: continuous, without eating the shared CPUs.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (fd >= 0) ::close(fd);
    }

    std::string ns_, ip_;
    int port_;
    std::string target_, host_, etag_;
    std::atomic<bool> running_{false};
    std::vector<std::thread> threads_;
    LoadStats fresh_, keepalive_;
};

}  // namespace anyedge::test
