#include "edge/server/response_fields.h"

namespace anyedge::server {

void CaptureSink::copy(std::string_view bytes) {
    if (head_done_) {
        body_.copy(bytes);
        return;
    }
    const size_t begin = head_.size();
    head_.append(bytes);
    text_appended(begin);
}

void CaptureSink::text_appended(size_t begin) {
    if (segment_count_ == 0 || segments_[segment_count_ - 1].fields != nullptr) {
        segments_[segment_count_++] = Segment{nullptr, begin, begin};
    }
    Segment& text = segments_[segment_count_ - 1];
    // The blank line ends the head: "\r\n" where a line starts. Text after prebuilt fields
    // starts a line; elsewhere only the new bytes (and the three before them) can complete
    // "\r\n\r\n".
    size_t body_at = std::string::npos;
    if (segment_count_ > 1 && head_.size() >= text.begin + 2 &&
        head_.compare(text.begin, 2, "\r\n") == 0) {
        body_at = text.begin + 2;
    } else {
        const size_t from = begin - text.begin < 3 ? text.begin : begin - 3;
        const size_t end = head_.find("\r\n\r\n", from);
        if (end != std::string::npos) body_at = end + 4;
    }
    if (body_at == std::string::npos) {
        text.end = head_.size();
        return;
    }
    // Anything after the blank line is the body's start.
    body_.copy(std::string_view(head_).substr(body_at));
    head_.resize(body_at - 2);
    text.end = head_.size();
    head_done_ = true;
}

void CaptureSink::copy_prebuilt(std::string_view http1, const http::HeadFields& fields) {
    // Untranslated lines, a status anywhere but at the start, or a table without room for
    // one more run (so that text can always follow): the text, as it is.
    if (!fields.translated || head_done_ || (fields.has_status && !head_.empty()) ||
        segment_count_ + 1 >= segments_.size()) {
        copy(http1);
        return;
    }
    const size_t begin = head_.size();
    head_.append(fields.bytes);
    segments_[segment_count_++] = Segment{&fields, begin, head_.size()};
}

}  // namespace anyedge::server
