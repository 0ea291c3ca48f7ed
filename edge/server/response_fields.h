// The Responder writes HTTP/1.1; HTTP/2 and HTTP/3 send the same response as fields. This is
// that translation: CaptureSink keeps the head and hands the body to an OutputQueue, and
// CaptureSink::for_each_field() gives ":status" and lower-case fields (the rule is
// http/response_head.h). A file's prebuilt head arrives already translated (HeadFields), so
// the hot path copies it instead of parsing it.
#pragma once

#include <string>
#include <string_view>

#include "edge/http/response_head.h"
#include "edge/server/output_queue.h"
#include "edge/server/response_sink.h"

namespace anyedge::server {

class CaptureSink final : public ResponseSink {
  public:
    // head: where the head goes, emptied first (a caller's reused string keeps its capacity).
    CaptureSink(OutputQueue& body, std::string& head) : head_(head), body_(body) { head_.clear(); }

    void copy(std::string_view bytes) override;
    void copy_head(std::string_view http1, const http::HeadFields& fields) override;
    void reference(std::string_view bytes, const cache::Snapshot& owner) override {
        body_.reference(bytes, owner);
    }
    size_t queued_bytes() const override { return 0; }

    // Calls add(name, value) for ":status" and then each field, in order. The views point into
    // the head string given to the constructor, and stay valid as long as it is not changed.
    template <typename Add>
    void for_each_field(Add&& add);

  private:
    // A prebuilt head's bytes, or a status line; then header lines ("\r\n" each).
    std::string& head_;
    OutputQueue& body_;
    const http::HeadFields* prebuilt_ = nullptr;  // valid while the response is being written
    size_t lines_at_ = 0;                         // where the header lines start in head_
    bool head_done_ = false;
};

template <typename Add>
void CaptureSink::for_each_field(Add&& add) {
    size_t pos = lines_at_;
    if (prebuilt_ != nullptr) {
        add(std::string_view(":status"), std::string_view(head_.data(), 3));
        for (const auto& s : prebuilt_->spans) {
            add(std::string_view(head_.data() + s.name_at, s.name_len),
                std::string_view(head_.data() + s.value_at, s.value_len));
        }
    } else {
        add(std::string_view(":status"), http::status_digits(head_));
        pos = head_.find("\r\n");
        pos = pos == std::string::npos ? head_.size() : pos + 2;
    }
    std::string_view name, value;
    while (http::next_head_field(head_, pos, name, value)) add(name, value);
}

}  // namespace anyedge::server
