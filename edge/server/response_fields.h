// The Responder writes HTTP/1.1; HTTP/2 and HTTP/3 send the same response as fields. This is
// that translation: CaptureSink keeps the head and hands the body to an OutputQueue, and
// CaptureSink::for_each_field() gives ":status" and lower-case fields (the rule is
// http/response_head.h). What arrives already translated (a file's head, the Date line, the
// listener's extra fields) is copied, not parsed, so the hot path parses nothing.
#pragma once

#include <algorithm>
#include <array>
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
    void copy_prebuilt(std::string_view http1, const http::HeadFields& fields) override;
    void reference(std::string_view bytes, const cache::Snapshot& owner) override {
        body_.reference(bytes, owner);
    }
    size_t queued_bytes() const override { return 0; }

    // Calls add(name, value) for ":status" and then each field, in order. The views point into
    // the head string given to the constructor, and stay valid as long as it is not changed.
    // Call it while the response's snapshot is alive (prebuilt fields' spans live there).
    template <typename Add>
    void for_each_field(Add&& add);

  private:
    // A run of head_: header lines as text, or a prebuilt field set's bytes.
    struct Segment {
        const http::HeadFields* fields = nullptr;  // null: text lines
        size_t begin = 0, end = 0;
    };
    void text_appended(size_t begin);

    std::string& head_;
    OutputQueue& body_;
    std::array<Segment, 8> segments_{};
    size_t segment_count_ = 0;
    bool head_done_ = false;
};

template <typename Add>
void CaptureSink::for_each_field(Add&& add) {
    const std::string_view all(head_);
    size_t first_line = 0;
    if (segment_count_ > 0 && segments_[0].fields != nullptr && segments_[0].fields->has_status) {
        add(std::string_view(":status"), all.substr(0, 3));
    } else {
        add(std::string_view(":status"), http::status_digits(all));
        const size_t eol = all.find("\r\n");
        first_line = eol == std::string_view::npos ? all.size() : eol + 2;
    }
    for (size_t i = 0; i < segment_count_; ++i) {
        const Segment& seg = segments_[i];
        if (seg.fields != nullptr) {
            for (const auto& s : seg.fields->spans) {
                add(all.substr(seg.begin + s.name_at, s.name_len),
                    all.substr(seg.begin + s.value_at, s.value_len));
            }
            continue;
        }
        size_t pos = std::max(seg.begin, first_line);
        std::string_view name, value;
        while (http::next_head_field(head_, pos, seg.end, name, value)) add(name, value);
    }
}

}  // namespace anyedge::server
