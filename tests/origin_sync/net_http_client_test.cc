// The one HTTP client (origin-sync/net): URL and endpoint forms, and real exchanges with small
// servers on loopback and on a unix socket: chunked bodies, keep-alive reuse, the deadline, the
// abort fd and refused connections, each told apart by its error code.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "origin-sync/net/http_client.h"

namespace anyedge::net {
namespace {

using namespace std::chrono_literals;

TEST(NetUrl, Forms) {
    auto u = parse_url("https://origin.example/site");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->port, "443");
    EXPECT_EQ(u->path, "/site/");
    auto o = options_for(*u, "", 1s);
    EXPECT_TRUE(o.tls);
    EXPECT_EQ(o.host_header, "origin.example");
    EXPECT_EQ(o.server_name, "origin.example");
    u = parse_url("http://[2001:db8::5]:8080");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "2001:db8::5");
    EXPECT_EQ(options_for(*u, "", 1s).host_header, "[2001:db8::5]:8080");
    EXPECT_FALSE(parse_url("http://[2001:db8::5"));
    EXPECT_FALSE(parse_url("http://host:0/"));
}

TEST(NetEndpoint, Forms) {
    auto a = parse_endpoint("127.0.0.1:8080");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, "8080");
    auto b = parse_endpoint("[2001:db8::1]:80");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "2001:db8::1");
    EXPECT_EQ(b->display(), "[2001:db8::1]:80");
    auto u = parse_endpoint("unix:/run/a.sock");
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->is_unix());
    EXPECT_EQ(u->display(), "unix:/run/a.sock");
    EXPECT_FALSE(parse_endpoint("localhost:80"));  // no DNS for health checks
    EXPECT_FALSE(parse_endpoint("127.0.0.1:0"));
    EXPECT_FALSE(parse_endpoint("127.0.0.1"));
    EXPECT_FALSE(parse_endpoint("unix:"));
}

// A one-thread server on a listening socket: for each connection, reads one request header
// and runs `answer(fd, request)`; stops after `connections` connections.
class TinyServer {
  public:
    using Answer = std::function<void(int fd, const std::string& request)>;
    TinyServer(int listen_fd, int connections, Answer answer)
        : fd_(listen_fd), thread_([this, connections, answer] {
              for (int i = 0; i < connections; ++i) {
                  const int c = ::accept(fd_, nullptr, nullptr);
                  if (c < 0) return;
                  // Several requests may come on one connection (keep-alive).
                  std::string buf;
                  char chunk[4096];
                  for (int k = 0; k < 1000; ++k) {
                      ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
                      if (n <= 0) break;
                      buf.append(chunk, static_cast<size_t>(n));
                      size_t end;
                      while ((end = buf.find("\r\n\r\n")) != std::string::npos) {
                          ++requests;
                          answer(c, buf.substr(0, end + 4));
                          buf.erase(0, end + 4);
                      }
                  }
                  ::close(c);
              }
          }) {}
    ~TinyServer() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    std::atomic<int> requests{0};

  private:
    int fd_;
    std::thread thread_;
};

int tcp_listener(int* port) {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 8) != 0) {
        return -1;
    }
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return l;
}

void send_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

TEST(NetHttpClient, UnixSocketChunkedBody) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("net_client_" + std::to_string(::getpid()) + ".sock"))
                                 .string();
    ::unlink(path.c_str());
    const int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(l, 4), 0);
    std::string seen;
    TinyServer server(l, 1, [&](int fd, const std::string& req) {
        seen = req;
        send_all(fd,
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Ok: yes\r\n\r\n"
                 "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-Field: x\r\n\r\n");
    });
    auto ep = parse_endpoint("unix:" + path);
    ASSERT_TRUE(ep);
    ClientOptions o;
    o.keep_alive = false;
    o.timeout = 10s;
    HttpClient client(*ep, o);
    HttpRequest req;
    req.method = "POST";
    req.target = "/drain";
    req.headers.emplace_back("Authorization", "Bearer t");
    auto r = client.request(req);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello world");
    EXPECT_EQ(r->header("x-ok"), "yes");
    EXPECT_NE(seen.find("POST /drain HTTP/1.1\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Authorization: Bearer t\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Connection: close\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Host: localhost\r\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("Content-Length: 0\r\n"), std::string::npos) << seen;
    ::unlink(path.c_str());
}

TEST(NetHttpClient, KeepAliveReusesAndRetriesAClosedConnection) {
    int port = 0;
    const int l = tcp_listener(&port);
    ASSERT_GE(l, 0);
    // First connection: two requests answered, then the server closes it (as an idle timeout
    // would). The third request fails on the reused connection and is retried on a new one.
    std::atomic<int> answered{0};
    TinyServer server(l, 2, [&](int fd, const std::string&) {
        const int n = ++answered;
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + std::to_string(n % 10));
        if (n == 2) ::shutdown(fd, SHUT_RDWR);
    });
    auto url = parse_url("http://127.0.0.1:" + std::to_string(port) + "/base");
    ASSERT_TRUE(url);
    HttpClient client(*url, "", 10s);
    for (int i = 1; i <= 3; ++i) {
        auto r = client.request("GET", "current");
        ASSERT_TRUE(r) << i << ": " << r.error();
        EXPECT_EQ(r->body, std::to_string(i));
    }
    EXPECT_EQ(server.requests.load(), 3);
}

// A peer that takes the connection and never answers (a wedged edge) is told apart from one
// that refuses it, and from an abort, by the error's code: the checker acts on the code.
TEST(NetHttpClient, TimeoutAbortAndRefusalHaveTheirCodes) {
    int port = 0;
    const int l = tcp_listener(&port);  // the kernel completes handshakes; nobody reads
    ASSERT_GE(l, 0);
    auto ep = parse_endpoint("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(ep);
    ClientOptions o;
    o.timeout = 100ms;
    HttpClient wedged(*ep, o);
    auto r = wedged.request(HttpRequest{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_code(), ErrorCode::kTimedOut) << r.error();

    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);  // the watched process "died"
    o.timeout = 600s;                            // only the abort fd can end this request
    HttpClient watched(*ep, o);
    r = watched.request(HttpRequest{}, pipe_fds[0]);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_code(), ErrorCode::kAborted) << r.error();
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);

    ::close(l);  // now nothing listens there
    o.timeout = 10s;
    HttpClient refused(*ep, o);
    r = refused.request(HttpRequest{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error_code(), ErrorCode::kFailed) << r.error();
}

TEST(NetHttpClient, BodyLimitAndHead) {
    int port = 0;
    const int l = tcp_listener(&port);
    ASSERT_GE(l, 0);
    TinyServer server(l, 2, [&](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
        ::shutdown(fd, SHUT_RDWR);
    });
    auto ep = parse_endpoint("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(ep);
    HttpClient client(*ep, ClientOptions{});
    HttpRequest req;
    req.body_limit = 4;
    auto r = client.request(req);
    EXPECT_FALSE(r);
    req.method = "HEAD";
    req.body_limit = 64;
    r = client.request(req);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->body, "");
}

}  // namespace
}  // namespace anyedge::net
