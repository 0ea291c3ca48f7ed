// The Responder writes HTTP/1.1; HTTP/2 and HTTP/3 send the same response as fields. This is
// that translation, written once: CaptureSink keeps the head and hands the body to an
// OutputQueue, and for_each_response_field() turns the head into ":status" and lower-case
// fields (RFC 9113 §8.2.2 / RFC 9114 §4.2: no connection-specific fields).
#pragma once

#include <string>
#include <string_view>

#include "edge/server/output_queue.h"
#include "edge/server/response_sink.h"

namespace anyedge::server {

class CaptureSink final : public ResponseSink {
  public:
    // head: where the head goes, emptied first (a caller's reused string keeps its capacity).
    CaptureSink(OutputQueue& body, std::string& head) : head_(head), body_(body) { head_.clear(); }

    void copy(std::string_view bytes) override;
    void reference(std::string_view bytes, const cache::Snapshot& owner) override {
        body_.reference(bytes, owner);
    }
    size_t queued_bytes() const override { return 0; }

    std::string& head_;  // status line and header lines, each ending "\r\n"

  private:
    OutputQueue& body_;
    bool head_done_ = false;
};

bool connection_specific(std::string_view lower_name);

// Calls add(name, value) for ":status" and then each field of `head` (CaptureSink::head_), in
// order. Names are lowered in place, so the views stay valid as long as `head` does.
template <typename Add>
void for_each_response_field(std::string& head, Add&& add);

// The status code's three digits ("500" when the head is not a status line).
std::string_view status_digits(const std::string& head);
// One field of the head starting at `pos`, lowered; advances pos. False at the end.
bool next_response_field(std::string& head, size_t& pos, std::string_view& name,
                         std::string_view& value);

template <typename Add>
void for_each_response_field(std::string& head, Add&& add) {
    add(std::string_view(":status"), status_digits(head));
    size_t pos = head.find("\r\n");
    pos = pos == std::string::npos ? head.size() : pos + 2;
    std::string_view name, value;
    while (next_response_field(head, pos, name, value)) add(name, value);
}

}  // namespace anyedge::server
