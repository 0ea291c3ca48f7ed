// ResponseSink: where the pure Responder writes a response. The connection implements it as
// a gather list for one sendmsg; tests implement it as a string.
#pragma once

#include <string_view>

namespace anyedge::cache {
class Snapshot;
}

namespace anyedge::server {

class ResponseSink {
  public:
    virtual ~ResponseSink() = default;
    // Bytes that are copied now (headers built for this response).
    virtual void copy(std::string_view bytes) = 0;
    // Bytes inside `owner` (a file's representation): referenced, not copied; the sink keeps
    // `owner` alive until they are sent, whatever generation is live by then.
    virtual void reference(std::string_view bytes, const cache::Snapshot& owner) = 0;
    // Bytes queued and not yet sent: lets the caller stop answering pipelined requests while
    // a slow reader has not taken what it already asked for.
    virtual size_t queued_bytes() const = 0;
};

}  // namespace anyedge::server
