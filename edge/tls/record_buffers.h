// record_buffers: the two ciphertext buffers of a connection whose records TlsSession protects
// itself (record_layer.h). Both are allocated on first use and given back by release() when
// empty, so an idle connection holds neither.
//
// SendRing: records are sealed straight into it and sent from it. A record must be contiguous
// and the bytes handed to a send must not move while it is in flight, so it is a ring that
// wraps whole records (a "bip buffer"): data is [head, tail), or [head, mark) then [0, tail)
// once it wrapped; front() is the first contiguous part.
// ReceiveBuffer: received ciphertext, opened in place record by record; what is left (part of a
// record) moves to the front when room is needed.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

namespace anyedge::tls {

class SendRing {
  public:
    explicit SendRing(std::size_t capacity) : capacity_(capacity) {}

    // Contiguous free space of at least `min` bytes, preferring a part with room for `want`;
    // empty when there is none. Nothing already queued moves.
    std::span<char> reserve(std::size_t min, std::size_t want);
    void commit(std::size_t n);

    std::string_view front() const;
    void consume(std::size_t n);
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // Frees the memory; only when empty. Returns whether there was any.
    bool release();

  private:
    std::unique_ptr<char[]> buf_;
    std::size_t capacity_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    std::size_t mark_ = 0;  // end of the first part while wrapped
    std::size_t size_ = 0;
    bool wrapped_ = false;
};

class ReceiveBuffer {
  public:
    explicit ReceiveBuffer(std::size_t capacity) : capacity_(capacity) {}

    // Free space after the data (moves the data to the front first when that makes room).
    std::span<char> space();
    void commit(std::size_t n);

    std::span<char> data() { return {buf_.get() + start_, end_ - start_}; }
    void consume(std::size_t n);
    std::size_t size() const { return end_ - start_; }
    std::size_t capacity() const { return capacity_; }

    bool release();

  private:
    std::unique_ptr<char[]> buf_;
    std::size_t capacity_;
    std::size_t start_ = 0;
    std::size_t end_ = 0;
};

}  // namespace anyedge::tls
