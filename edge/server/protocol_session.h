// ProtocolSession: what a worker needs of the HTTP side of one connection, whichever protocol
// it speaks (HttpSession for HTTP/1.1, H2Session for HTTP/2). Sans-IO: plaintext in,
// response bytes out into a ResponseSink. One connection, one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/cache/snapshot.h"
#include "edge/server/access_log.h"
#include "edge/server/responder.h"
#include "edge/server/shared_state.h"

namespace anyedge::server {

struct SessionCounters {
    uint64_t requests = 0;
    uint64_t status_2xx = 0, status_3xx = 0, status_4xx = 0, status_5xx = 0;
    uint64_t body_bytes = 0;

    // One answered request.
    void count(const ResponseInfo& info) {
        ++requests;
        body_bytes += info.body_bytes;
        if (info.status < 300) {
            ++status_2xx;
        } else if (info.status < 400) {
            ++status_3xx;
        } else if (info.status < 500) {
            ++status_4xx;
        } else {
            ++status_5xx;
        }
    }
};

// Adds what `now` counted since `before` to a worker's counters (written by that worker only).
// by_protocol: the protocol's own request counter (requests_h2, requests_h3), if any.
inline void publish_counters(const SessionCounters& before, const SessionCounters& now,
                             WorkerCounters& to, std::atomic<uint64_t>* by_protocol = nullptr) {
    auto bump = [](std::atomic<uint64_t>& a, uint64_t delta) {
        if (delta) a.store(a.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    };
    bump(to.requests, now.requests - before.requests);
    bump(to.status_2xx, now.status_2xx - before.status_2xx);
    bump(to.status_3xx, now.status_3xx - before.status_3xx);
    bump(to.status_4xx, now.status_4xx - before.status_4xx);
    bump(to.status_5xx, now.status_5xx - before.status_5xx);
    bump(to.body_bytes, now.body_bytes - before.body_bytes);
    if (by_protocol != nullptr) bump(*by_protocol, now.requests - before.requests);
}

class ProtocolSession {
  public:
    virtual ~ProtocolSession() = default;

    // Takes received bytes and answers what it can. The snapshot and sink are the caller's.
    virtual void on_receive(std::string_view bytes, const cache::Snapshot& snapshot,
                            const ResponseContext& context, ResponseSink& out) = 0;
    // The output queue drained: answer or send what waited for room.
    virtual void resume(const cache::Snapshot& snapshot, const ResponseContext& context,
                        ResponseSink& out) = 0;
    // No more input wanted: close once the queued output is sent.
    virtual bool closing() const = 0;
    // The last answer was to a complete request and nothing followed it: the connection may
    // close without lingering (RFC 9112 §9.6).
    virtual bool ended_cleanly() const = 0;
    // A request has begun arriving but is not complete (the header read timeout applies).
    virtual bool mid_request() const = 0;
    // Inside a request body: its bytes may take long, as long as they keep coming.
    virtual bool reading_body() const = 0;
    // Received bytes held unanswered (input back-pressure).
    virtual size_t buffered_bytes() const = 0;
    // The connection is idle: give back buffers kept for the next request; returns whether
    // there were any.
    virtual bool release_memory() { return false; }
    virtual const SessionCounters& counters() const = 0;
    // Stops after the current responses (drain, shutdown).
    virtual void close_after_current() = 0;
    // Logs every answered request to `log` (null: off), stamped with the ResponseContext's
    // wall_ms of the event that answered it.
    virtual void set_access_log(AccessLog* log, std::string peer, bool tls) = 0;
};

}  // namespace anyedge::server
