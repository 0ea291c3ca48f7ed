#include "edge/tls/record_buffers.h"

#include <algorithm>
#include <cstring>

namespace anyedge::tls {

std::span<char> SendRing::reserve(std::size_t min, std::size_t want) {
    if (!buf_) {
        buf_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }
    if (size_ == 0) {
        head_ = tail_ = 0;
        wrapped_ = false;
    }
    if (wrapped_) {
        const std::size_t room = head_ - tail_;
        return room >= min ? std::span<char>(buf_.get() + tail_, room) : std::span<char>();
    }
    const std::size_t end_room = capacity_ - tail_;
    const std::size_t front_room = head_;
    if (end_room >= want || (end_room >= min && end_room >= front_room)) {
        return {buf_.get() + tail_, end_room};
    }
    if (front_room >= min) {
        wrapped_ = true;
        mark_ = tail_;
        tail_ = 0;
        return {buf_.get(), front_room};
    }
    return {};
}

void SendRing::commit(std::size_t n) {
    tail_ += n;
    size_ += n;
}

std::string_view SendRing::front() const {
    if (size_ == 0) {
        return {};
    }
    return {buf_.get() + head_, (wrapped_ ? mark_ : tail_) - head_};
}

void SendRing::consume(std::size_t n) {
    while (n > 0 && size_ > 0) {
        const std::size_t part = std::min(n, front().size());
        head_ += part;
        size_ -= part;
        n -= part;
        if (wrapped_ && head_ == mark_) {
            wrapped_ = false;
            head_ = 0;
        }
    }
    if (size_ == 0) {
        head_ = tail_ = 0;
        wrapped_ = false;
    }
}

bool SendRing::release() {
    if (size_ != 0 || !buf_) {
        return false;
    }
    buf_.reset();
    head_ = tail_ = 0;
    wrapped_ = false;
    return true;
}

std::span<char> ReceiveBuffer::space() {
    if (!buf_) {
        buf_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }
    if (start_ > 0 && (end_ == capacity_ || start_ == end_)) {
        std::memmove(buf_.get(), buf_.get() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
    }
    return {buf_.get() + end_, capacity_ - end_};
}

void ReceiveBuffer::commit(std::size_t n) { end_ += n; }

void ReceiveBuffer::consume(std::size_t n) {
    start_ += std::min(n, end_ - start_);
    if (start_ == end_) {
        start_ = end_ = 0;
    }
}

bool ReceiveBuffer::release() {
    if (end_ != start_ || !buf_) {
        return false;
    }
    buf_.reset();
    start_ = end_ = 0;
    return true;
}

}  // namespace anyedge::tls
