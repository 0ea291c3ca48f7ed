// ResponseSink: where the pure Responder writes a response. The connection implements it as
// a gather list for one sendmsg; tests implement it as a string.
#pragma once

#include <string_view>

namespace anyedge::cache {
class Snapshot;
}
namespace anyedge::http {
struct HeadFields;
}

namespace anyedge::server {

class ResponseSink {
  public:
    virtual ~ResponseSink() = default;
    // Bytes that are copied now (headers built for this response).
    virtual void copy(std::string_view bytes) = 0;
    // Lines built ahead of time: `http1` (header lines, or a head from its status line) and
    // the same as HTTP/2 and HTTP/3 fields. A sink that sends HTTP/1.1 copies `http1`.
    virtual void copy_prebuilt(std::string_view http1, const http::HeadFields&) { copy(http1); }
    // Bytes inside `owner` (a file's representation): referenced, not copied; the sink keeps
    // `owner` alive until they are sent, whatever generation is live by then.
    virtual void reference(std::string_view bytes, const cache::Snapshot& owner) = 0;
    // Bytes queued and not yet sent: lets the caller stop answering pipelined requests while
    // a slow reader has not taken what it already asked for.
    virtual size_t queued_bytes() const = 0;
};

}  // namespace anyedge::server
