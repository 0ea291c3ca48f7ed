#include "edge/server/output_queue.h"

#include <algorithm>

namespace anyedge::server {

void OutputQueue::copy(std::string_view bytes) {
    if (bytes.empty()) return;
    if (!segments_.empty() && segments_.back().owned &&
        segments_.back().offset + segments_.back().len == arena_.size()) {
        segments_.back().len += bytes.size();
    } else {
        segments_.push_back(Segment{true, arena_.size(), nullptr, bytes.size(), nullptr});
    }
    arena_.append(bytes);
    total_ += bytes.size();
}

void OutputQueue::reference(std::string_view bytes, const cache::Snapshot& owner) {
    if (bytes.empty()) return;
    // Small bodies are cheaper to copy than to send as a second iovec: the response then goes
    // out as one contiguous piece.
    if (bytes.size() <= copy_threshold_) {
        copy(bytes);
        return;
    }
    // Usually the same snapshot as the last reference: one comparison, no refcount traffic.
    const bool held = std::find_if(holds_.rbegin(), holds_.rend(), [&owner](const auto& h) {
                          return h.get() == &owner;
                      }) != holds_.rend();
    if (!held) holds_.push_back(owner.shared_from_this());
    segments_.push_back(Segment{false, 0, bytes.data(), bytes.size(), &owner});
    total_ += bytes.size();
}

size_t OutputQueue::gather(iovec* iov, size_t max_iov, size_t max_bytes) const {
    size_t n = 0;
    size_t bytes = 0;
    for (size_t i = head_segment_; i < segments_.size() && n < max_iov && bytes < max_bytes; ++i) {
        const Segment& s = segments_[i];
        const char* base = s.owned ? arena_.data() + s.offset : s.ptr;
        size_t skip = i == head_segment_ ? head_offset_ : 0;
        size_t len = std::min(s.len - skip, max_bytes - bytes);
        iov[n].iov_base = const_cast<char*>(base + skip);
        iov[n].iov_len = len;
        bytes += len;
        ++n;
    }
    return n;
}

void OutputQueue::gather_all(std::vector<iovec>& out) const {
    out.resize(segments_.size() - head_segment_);
    out.resize(gather(out.data(), out.size(), SIZE_MAX));
}

void OutputQueue::consume(size_t n) {
    sent_ += n;
    while (n > 0 && head_segment_ < segments_.size()) {
        const size_t left = segments_[head_segment_].len - head_offset_;
        if (n < left) {
            head_offset_ += n;
            return;
        }
        n -= left;
        ++head_segment_;
        head_offset_ = 0;
    }
    if (sent_ == total_) clear();
}

size_t OutputQueue::move_front(size_t n, ResponseSink& to) {
    size_t moved = 0;
    while (moved < n && head_segment_ < segments_.size()) {
        const Segment& s = segments_[head_segment_];
        const char* base = s.owned ? arena_.data() + s.offset : s.ptr;
        const size_t len = std::min(s.len - head_offset_, n - moved);
        const std::string_view bytes(base + head_offset_, len);
        if (s.owned) {
            to.copy(bytes);
        } else {
            to.reference(bytes, *s.owner);
        }
        moved += len;
        consume(len);  // may clear() the queue once all is moved: the loop then ends
    }
    return moved;
}

bool OutputQueue::release_memory() {
    if (!empty() || (arena_.capacity() <= sizeof(std::string) && segments_.capacity() == 0)) {
        return false;
    }
    clear();
    std::string().swap(arena_);
    std::vector<Segment>().swap(segments_);
    std::vector<std::shared_ptr<const cache::Snapshot>>().swap(holds_);
    return true;
}

void OutputQueue::clear() {
    arena_.clear();
    segments_.clear();
    holds_.clear();
    head_segment_ = 0;
    head_offset_ = 0;
    total_ = 0;
    sent_ = 0;
}

}  // namespace anyedge::server
