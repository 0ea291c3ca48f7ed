// BIRD control-socket client: speaks the CLI text protocol on BIRD's unix socket directly
// (no birdc). It only moves lines; parsing lives in reply.h.
//
// Invariants: at most one command is outstanding; the write side stays open until the final
// reply line has arrived (BIRD drops the reply of a client that half-closes). When BIRD
// restarts, the next command reconnects; connection_count() lets a caller notice that it
// talks to a new BIRD and must re-apply its state. Not thread-safe: one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "bgp-hooks/bird/reply.h"
#include "origin-sync/base/result.h"

namespace anyedge::bird {

class Client {
  public:
    explicit Client(std::string socket_path,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Connects and reads the 0001 greeting. Idempotent when already connected.
    Status connect();
    void disconnect();
    bool connected() const { return fd_ >= 0; }
    // Number of successful connects so far; a change means a new BIRD session.
    uint64_t connection_count() const { return connections_; }
    // Non-blocking check that BIRD has not closed the socket (it does so when it exits).
    // Disconnects and returns false if it has.
    bool alive();

    // Sends one command line and waits for its final reply line. Connects first if needed.
    // A failed send or a connection closed before any reply byte is retried once on a fresh
    // connection (every command we send is idempotent). The Reply may carry an 8xxx/9xxx
    // code: that is BIRD's answer, not a transport error.
    Result<Reply> command(std::string_view line);

    // The same, but an 8xxx/9xxx reply becomes an Error carrying BIRD's message.
    Result<Reply> checked(std::string_view line);

    Result<Reply> configure_check() { return checked("configure check"); }
    Result<Reply> configure() { return checked("configure"); }
    // `show route <args>`, e.g. show_route("all protocol up1"); returns birdc-like text.
    Result<std::string> show_route(std::string_view args = {});
    Result<std::string> show_protocols(std::string_view args = {});

    const std::string& socket_path() const { return path_; }

  private:
    Result<Reply> command_once(std::string_view line, bool* nothing_received);
    Result<Reply> read_reply(bool* nothing_received);

    std::string path_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    uint64_t connections_ = 0;
    ReplyAssembler assembler_;
};

}  // namespace anyedge::bird
