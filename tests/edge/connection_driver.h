// Drives a server::Connection without sockets or a ring: FakeIo records the operations the
// connection asks for and ConnectionDriver completes them in order (a send completes whole, a
// cancel ends the receive, the close ends the connection), feeding each completion back as the
// Worker would. Used by the connection unit tests and the connection fuzz target.
#pragma once

#include <cerrno>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/server/connection.h"

namespace anyedge::server::testing {

class FakeIo final : public ConnectionIo {
  public:
    enum class Kind { kSent, kAux, kReceiveEnded, kClosed };
    struct Completion {
        Kind kind;
        int res = 0;
    };

    void arm_receive() override {
        ops.push_back("arm_receive");
        ++arms;
        armed = true;
    }
    void cancel_receive() override {
        ops.push_back("cancel_receive");
        if (armed) queue.push_back({Kind::kReceiveEnded, -ECANCELED});
        armed = false;
    }
    void send(std::span<const iovec> iov) override {
        ops.push_back("send");
        size_t n = 0;
        for (const iovec& v : iov) {
            output.append(static_cast<const char*>(v.iov_base), v.iov_len);
            n += v.iov_len;
        }
        queue.push_back({Kind::kSent, static_cast<int>(n)});
    }
    void send_then_close(std::string_view last) override {
        ops.push_back("send_then_close");
        output.append(last);
        queue.push_back({Kind::kSent, static_cast<int>(last.size())});
        end_receive();
        queue.push_back({Kind::kAux, 0});
        queue.push_back({Kind::kClosed, 0});
    }
    void cancel_linked_send() override { ops.push_back("cancel_linked_send"); }
    void shutdown_write() override {
        ops.push_back("shutdown_write");
        write_shut = true;
        queue.push_back({Kind::kAux, 0});
    }
    void cancel_all() override {
        ops.push_back("cancel_all");
        end_receive();
        queue.push_back({Kind::kAux, 0});
    }
    void close() override {
        ops.push_back("close");
        queue.push_back({Kind::kClosed, 0});
    }
    bool unread_input() override { return unread; }

    std::vector<std::string> ops;
    std::deque<Completion> queue;
    std::string output;  // every byte the connection sent, in order
    bool armed = false;
    int arms = 0;
    bool write_shut = false;
    bool unread = false;  // what unread_input() answers

  private:
    void end_receive() {
        if (armed) queue.push_back({Kind::kReceiveEnded, -ECANCELED});
        armed = false;
    }
};

class ConnectionDriver {
  public:
    // A site of two files: /index.html (small) and /big.bin (256 KiB).
    explicit ConnectionDriver(ConnectionOptions options = {})
        : options_(std::move(options)), live_(site()) {}

    // Starts the connection (TLS when `tls` is given).
    void start(std::unique_ptr<tls::TlsSession> tls = nullptr) {
        const bool is_tls = tls != nullptr;
        with_turn([&](Turn& t) { conn_.start(options_, nullptr, std::move(tls), is_tls, "", t); });
    }

    // One receive completion with these bytes, then everything that follows from it. False
    // when the connection was not receiving (nothing delivered).
    bool receive(std::string_view bytes) {
        if (!io_.armed || closed_) return false;
        with_turn([&](Turn& t) { conn_.on_receive(int(bytes.size()), bytes, true, t); });
        return true;
    }
    // The peer's FIN, or a receive error (-ECONNRESET).
    void receive_end(int res = 0) {
        if (!io_.armed || closed_) return;
        io_.armed = false;
        with_turn([&](Turn& t) { conn_.on_receive(res, {}, false, t); });
    }
    // Advances the clock and runs the connection's timer.
    void tick(int64_t ms) {
        now_ += ms;
        if (!closed_) with_turn([&](Turn& t) { conn_.on_timer(t); });
    }
    void stop() {
        stopping_ = true;
        if (!closed_) with_turn([&](Turn&) { conn_.stop(); });
    }

    std::string take_output() { return std::exchange(io_.output, std::string()); }
    bool closed() const { return closed_; }
    FakeIo& io() { return io_; }
    Connection& connection() { return conn_; }
    const WorkerCounters& counters() const { return counters_; }
    void set_draining(bool d) { draining_ = d; }

  private:
    static std::shared_ptr<const cache::Snapshot> site() {
        std::vector<cache::FileSpec> files;
        files.push_back(
            {"/index.html", "text/html", 0, "", std::string("<p>hello</p>\n"), {}, {}, {}});
        std::string big(256 * 1024, '\0');
        for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        files.push_back(
            {"/big.bin", "application/octet-stream", 0, "", std::move(big), {}, {}, {}});
        return cache::Snapshot::build(std::move(files), {}, 1);
    }

    // Runs `event` in a turn, then the flush the turn ends with, then every completion the
    // operations produced (each in a turn of its own), as the worker's loop would.
    template <typename F>
    void with_turn(F&& event) {
        run_one(event);
        for (int i = 0; i < 100000 && !io_.queue.empty(); ++i) {
            const FakeIo::Completion c = io_.queue.front();
            io_.queue.pop_front();
            switch (c.kind) {
                case FakeIo::Kind::kSent:
                    run_one([&](Turn& t) { conn_.on_sent(c.res, t); });
                    break;
                case FakeIo::Kind::kAux:
                    run_one([&](Turn& t) { conn_.on_aux_done(t); });
                    break;
                case FakeIo::Kind::kReceiveEnded:
                    run_one([&](Turn& t) { conn_.on_receive(c.res, {}, false, t); });
                    break;
                case FakeIo::Kind::kClosed:
                    conn_.on_closed();
                    closed_ = true;
                    io_.queue.clear();
                    break;
            }
        }
    }
    template <typename F>
    void run_one(F&& event) {
        if (closed_) return;
        Turn t{.io = io_,
               .now_ms = now_,
               .wall_ms = 1'700'000'000'000 + now_,
               .date_line = "Date: Sun, 06 Dec 2026 06:00:00 GMT\r\n",
               .live = &live_,
               .previous = &previous_,
               .force_close = stopping_ || draining_,
               .stopping = stopping_,
               .counters = counters_,
               .access_log = nullptr};
        event(t);
        if (conn_.wants_flush() && !closed_) conn_.flush(t);
    }

    ConnectionOptions options_;
    std::shared_ptr<const cache::Snapshot> live_;
    std::shared_ptr<const cache::Snapshot> previous_;
    WorkerCounters counters_;
    FakeIo io_;
    Connection conn_;
    int64_t now_ = 1000;
    int64_t wall_ = 0;
    bool stopping_ = false;
    bool draining_ = false;
    bool closed_ = false;
};

}  // namespace anyedge::server::testing
