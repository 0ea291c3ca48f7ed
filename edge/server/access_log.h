// AccessLog: one JSON line per request, per worker. Lines are appended to an in-memory batch
// on the hot path (a few string appends, no syscall) and written by the worker's ring with
// IORING_OP_WRITE between loop turns; while a write is in flight the next batch accumulates.
// A batch that would exceed the cap is dropped and counted rather than ever blocking serving.
// One worker, one thread; the file is opened O_APPEND and shared by all workers (each write
// is one append of whole lines).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edge/http/request.h"
#include "edge/server/responder.h"

namespace anyedge::server {

class AccessLog {
  public:
    explicit AccessLog(int fd, size_t max_pending = 4 << 20) : fd_(fd), max_pending_(max_pending) {}

    void record(int64_t unix_ms, std::string_view peer, bool tls, const http::Request& request,
                const ResponseInfo& info);
    // A failed request (parse error): no request line to show.
    void record_error(int64_t unix_ms, std::string_view peer, bool tls, int status,
                      std::string_view reason);

    int fd() const { return fd_; }
    // The bytes to hand to a write, or empty when nothing is pending or a write is in flight.
    std::string_view start_write();
    // The write completed with `written` bytes (>= 0) or failed (< 0).
    void write_done(long written);
    uint64_t dropped_lines() const { return dropped_; }

  private:
    void append_line(std::string_view line);
    int fd_;
    size_t max_pending_;
    std::string pending_;
    std::string writing_;
    size_t written_ = 0;
    bool in_flight_ = false;
    uint64_t dropped_ = 0;
    std::string line_;  // scratch, reused
};

// JSON string escaping for log fields (RFC 8259 §7).
void append_json_string(std::string& out, std::string_view s);

}  // namespace anyedge::server
