#include "edge/server/response_fields.h"

namespace anyedge::server {

void CaptureSink::copy(std::string_view bytes) {
    if (head_done_) {
        body_.copy(bytes);
        return;
    }
    // Only the new bytes (and the three before them) can complete the blank line.
    const size_t from = head_.size() < lines_at_ + 3 ? lines_at_ : head_.size() - 3;
    head_.append(bytes);
    const size_t end = head_.find("\r\n\r\n", from);
    if (end == std::string::npos) return;
    // Anything after the blank line is the body's start.
    body_.copy(std::string_view(head_).substr(end + 4));
    head_.resize(end + 2);
    head_done_ = true;
}

void CaptureSink::copy_head(std::string_view http1, const http::HeadFields& fields) {
    if (!head_.empty() || head_done_ || fields.empty()) {
        copy(http1);
        return;
    }
    // The prebuilt fields' bytes first; the lines that follow (Date, ...) come after them.
    head_.assign(fields.bytes);
    prebuilt_ = &fields;
    lines_at_ = head_.size();
}

}  // namespace anyedge::server
