// A real content plane on loopback for integration tests: an origin served by a `cdn-edge
// --site ORIGIN_DIR` process, and nodes made of a real `cdn-edge --state` and a real
// `cdn-sync` each, with their own state directories and ephemeral ports.
//
// `cdn-edge --site` snapshots its folder and re-reads it only on POST /reload, so the origin
// runs a watcher thread that reloads it whenever the tree changes (a static server that sees
// the directory live, as nginx would). Every wait is bounded; every process is stopped by its
// PID.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "origin-sync/content/digest.h"
#include "origin-sync/content/store.h"
#include "tests/integration/edge_process.h"
#include "tests/origin_sync/integration/process.h"

namespace anyedge::testing_util {

namespace fs = std::filesystem;
using anyedge::testing::EdgeProcess;
using anyedge::testing::RawClient;

// One HTTP/1.1 response read off a RawClient.
struct Response {
    bool ok = false;    // false: connection error (refused, reset, timeout, bad framing)
    std::string error;  // why not ok
    int status = 0;
    std::string head;
    std::string body;
    std::string header(const std::string& name) const {
        return anyedge::testing::header_of(head, name);
    }
};

inline Response parse_response(const std::string& raw) {
    Response r;
    size_t end = raw.find("\r\n\r\n");
    if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return r;
    r.ok = true;
    r.status = std::atoi(raw.c_str() + 9);
    r.head = raw.substr(0, end + 4);
    r.body = raw.substr(end + 4);
    return r;
}

// A keep-alive HTTP/1.1 client that never retries: a request on a connection the server had
// closed counts as a failure, as it would for a client that cannot replay the request.
// Reconnects only after a response said `Connection: close`.
class KeepAliveClient {
  public:
    explicit KeepAliveClient(uint16_t port) : port_(port) {}
    Response request(const std::string& method, const std::string& path,
                     const std::string& extra_headers = "") {
        Response failed;
        if (!conn_ || !conn_->connected()) {
            conn_ = std::make_unique<RawClient>(port_);
            pending_.clear();
            ++connections;
            if (!conn_->connected()) {
                conn_.reset();
                failed.error = "connect failed";
                return failed;
            }
        }
        std::string req =
            method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
        if (!conn_->send_all(req)) {
            conn_.reset();
            failed.error = std::string("send failed: ") + std::strerror(errno);
            return failed;
        }
        // Content-Length framing (the edge always sends it); bounded by SO_RCVTIMEO (5 s).
        size_t need = std::string::npos;
        size_t head_end = std::string::npos;
        int interrupted = 0;
        while (true) {
            if (head_end == std::string::npos) {
                head_end = pending_.find("\r\n\r\n");
                if (head_end != std::string::npos) {
                    std::string cl = anyedge::testing::header_of(pending_.substr(0, head_end + 4),
                                                                 "Content-Length");
                    size_t len = method == "HEAD" || cl.empty() ? 0 : std::stoull(cl);
                    need = head_end + 4 + len;
                }
            }
            if (need != std::string::npos && pending_.size() >= need) break;
            char buf[65536];
            ssize_t n = ::recv(conn_->fd(), buf, sizeof buf, 0);
            // A signal interrupts a recv with SO_RCVTIMEO, which is not restarted (signal(7)).
            if (n < 0 && errno == EINTR && ++interrupted < 100) continue;
            if (n <= 0) {
                failed.error = n == 0 ? "closed by the server after " +
                                            std::to_string(pending_.size()) + " bytes"
                                      : std::string("recv: ") + std::strerror(errno);
                conn_.reset();
                return failed;
            }
            pending_.append(buf, static_cast<size_t>(n));
        }
        Response r = parse_response(pending_.substr(0, need));
        pending_.erase(0, need);
        if (!r.ok) r.error = "malformed response";
        if (!r.ok || r.header("Connection") == "close") {
            if (r.header("Connection") == "close") ++server_closes;
            conn_.reset();
        }
        return r;
    }
    Response get(const std::string& path) { return request("GET", path); }
    uint64_t connections = 0;
    uint64_t server_closes = 0;

  private:
    uint16_t port_;
    std::unique_ptr<RawClient> conn_;
    std::string pending_;
};

// One request on a fresh connection.
inline Response http_once(uint16_t port, const std::string& method, const std::string& path,
                          const std::string& extra_headers = "") {
    KeepAliveClient c(port);
    return c.request(method, path, "Connection: close\r\n" + extra_headers);
}

inline uint16_t port_of(const std::string& addr) {
    return static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
}

// The edge's listener of `kind` ("http", "https", "admin"); 0 when absent.
inline uint16_t listener_port(const EdgeProcess& e, const std::string& kind) {
    return e.port_of(kind);
}

inline std::optional<nlohmann::json> admin_status(uint16_t admin_port) {
    Response r = http_once(admin_port, "GET", "/status");
    if (!r.ok || r.status != 200) return std::nullopt;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

// The origin: `cdn-edge --site DIR`, reloaded by a watcher thread whenever DIR changes.
class OriginServer {
  public:
    OriginServer(fs::path dir, std::vector<std::string> extra = {}, uint16_t want_port = 0)
        : dir_(std::move(dir)) {
        fs::create_directories(dir_);
        std::vector<std::string> args = {"--site",      dir_.string(),
                                         "--listen",    "127.0.0.1:" + std::to_string(want_port),
                                         "--admin",     "127.0.0.1:0",
                                         "--node-name", "origin",
                                         "--threads",   "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        int listeners = 2;
        // A TLS address prints two lines: "https", then "h3" for its UDP side (on by default).
        for (const auto& a : extra) listeners += a == "--tls-listen" ? 2 : 0;
        edge_ = std::make_unique<EdgeProcess>(anyedge::testing::edge_binary(), args, listeners);
        if (!edge_->started()) return;
        port_ = listener_port(*edge_, "http");
        tls_port_ = listener_port(*edge_, "https");
        admin_port_ = listener_port(*edge_, "admin");
        seen_ = fingerprint();
        watcher_ = std::thread([this] { watch(); });
    }
    ~OriginServer() { stop(); }
    OriginServer(const OriginServer&) = delete;
    OriginServer& operator=(const OriginServer&) = delete;

    bool started() const { return port_ != 0 && admin_port_ != 0; }
    uint16_t port() const { return port_; }
    uint16_t tls_port() const { return tls_port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    std::string log() { return edge_ ? edge_->log() : std::string(); }
    uint64_t reloads() const { return reloads_.load(); }
    // Waits (bounded) until the origin serves the tree as it is on disk now.
    // True at once when the origin is stopped (nothing serves the tree).
    bool wait_reloaded() {
        for (int i = 0; i < 250 && !stopping_.load(); ++i) {
            std::string now = fingerprint();
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (now == seen_) return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return stopping_.load();
    }
    void stop() {
        stopping_ = true;
        if (watcher_.joinable()) watcher_.join();
        if (edge_) edge_->stop();
    }

  private:
    // Names, sizes and modification times of the tree: cheap, and any publish changes it.
    std::string fingerprint() const {
        std::string out;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir_, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            struct stat st {};
            if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            out += it->path().string() + ":" + std::to_string(st.st_size) + ":" +
                   std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                   "\n";
        }
        return out;
    }
    void watch() {
        std::string changed;  // the tree as last seen changing
        while (!stopping_.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            std::string now = fingerprint();
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (now == seen_) continue;
            }
            // Reload only a tree that stood still for one poll: a reload in the middle of a
            // publish could load the new `current` without a blob written after the scan
            // (a node then fetches a 404 and retries; a fixture race, not the product's).
            if (now != changed) {
                changed = std::move(now);
                continue;
            }
            Response r = http_once(admin_port_, "POST", "/reload", "Content-Length: 0\r\n");
            if (r.ok && r.status == 200) {
                std::lock_guard<std::mutex> lock(mu_);
                seen_ = std::move(now);
                ++reloads_;
            }
        }
    }

    fs::path dir_;
    std::unique_ptr<EdgeProcess> edge_;
    uint16_t port_ = 0, tls_port_ = 0, admin_port_ = 0;
    std::mutex mu_;
    std::string seen_;  // the tree as of the last successful reload
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> reloads_{0};
    std::thread watcher_;
};

// One edge node: cdn-edge serving STATE, cdn-sync following the origin into STATE.
// The edge refuses to start on an empty state directory, so start() first runs
// `cdn-sync --once` (a node being provisioned), then the edge, then the cdn-sync daemon
// pointed at the edge's admin port (which is only known once the edge runs).
class Node {
  public:
    Node(fs::path root, std::string name, fs::path pubkey, std::string sync_bin)
        : root_(std::move(root)),
          name_(std::move(name)),
          pubkey_(std::move(pubkey)),
          sync_bin_(std::move(sync_bin)) {
        fs::create_directories(root_);
        write_token();
    }
    ~Node() { stop(); }

    const fs::path& state() const { return state_; }
    const std::string& name() const { return name_; }
    fs::path token_file() const { return root_ / "admin.token"; }
    uint16_t http_port() const { return http_port_; }
    uint16_t admin_port() const { return admin_port_; }
    std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(admin_port_); }
    fs::path sync_log_path() const { return root_ / "sync.log"; }
    std::string sync_log() const {
        return sync_ ? sync_->output() : read_or_empty(sync_log_path());
    }
    std::string edge_log() { return edge_ ? edge_->log() : std::string(); }

    // Bootstraps from the origin, starts the edge and the sync daemon. Returns "" or why not.
    std::string start(const std::string& origin_url, std::vector<std::string> sync_extra = {},
                      std::vector<std::string> edge_extra = {}) {
        origin_url_ = origin_url;
        std::string out;
        std::vector<std::string> once = sync_argv(origin_url);
        once.push_back("--once");
        if (run_command(once, root_ / "bootstrap.log", &out) != 0) return "bootstrap: " + out;
        std::vector<std::string> args = {
            "--state",     state_.string(), "--listen",           "127.0.0.1:0",
            "--admin",     "127.0.0.1:0",   "--admin-token-file", token_file().string(),
            "--node-name", name_,           "--threads",          "1"};
        args.insert(args.end(), edge_extra.begin(), edge_extra.end());
        edge_ = std::make_unique<EdgeProcess>(anyedge::testing::edge_binary(), args, 2);
        if (!edge_->started()) return "edge did not start: " + edge_->log();
        http_port_ = listener_port(*edge_, "http");
        admin_port_ = listener_port(*edge_, "admin");
        start_sync(sync_extra);
        return "";
    }
    void start_sync(std::vector<std::string> extra = {}) {
        auto argv = sync_argv(origin_url_);
        argv.insert(argv.end(),
                    {"--edge-admin", admin_url(), "--edge-token", token_file().string()});
        argv.insert(argv.end(), extra.begin(), extra.end());
        sync_ = std::make_unique<Process>(argv, sync_log_path());
    }
    void stop_sync(int sig = SIGTERM) {
        if (sync_) sync_->stop(sig);
    }
    void stop() {
        stop_sync();
        if (edge_) edge_->stop();
    }

    // The generation the edge serves, per its admin API; 0 when it does not answer.
    uint64_t serving() const {
        auto j = admin_status(admin_port_);
        return j ? j->value("generation", uint64_t{0}) : 0;
    }
    nlohmann::json status() const { return admin_status(admin_port_).value_or(nlohmann::json()); }
    nlohmann::json sync_status() const {
        auto text = read_file(state_ / "sync-status.json");
        if (!text) return nlohmann::json::object();
        auto j = nlohmann::json::parse(*text, nullptr, false);
        return j.is_discarded() ? nlohmann::json::object() : j;
    }
    bool sync_error_contains(const std::string& needle) const {
        auto j = sync_status();
        return j.value("state", "") == "error" &&
               j.value("last_error", "").find(needle) != std::string::npos;
    }

  private:
    static std::string read_or_empty(const fs::path& p) {
        auto t = read_file(p);
        return t ? *t : std::string();
    }
    void write_token() {
        auto st = atomic_write_file(token_file(), "token-" + name_ + "\n");
        (void)st;
    }
    std::vector<std::string> sync_argv(const std::string& origin_url) const {
        return {sync_bin_,  "--origin",       origin_url,      "--state", state_.string(),
                "--pubkey", pubkey_.string(), "--interval-ms", "100",     "--max-backoff-ms",
                "300"};
    }

    fs::path root_;
    fs::path state_ = root_ / "state";
    std::string name_;
    fs::path pubkey_;
    std::string sync_bin_;
    std::string origin_url_;
    std::unique_ptr<EdgeProcess> edge_;
    std::unique_ptr<Process> sync_;
    uint16_t http_port_ = 0, admin_port_ = 0;
};

// The URL path a manifest path is served at.
inline std::string url_path(const std::string& manifest_path) { return "/" + manifest_path; }

}  // namespace anyedge::testing_util
