// Ring: one io_uring instance owned by one worker thread (SINGLE_ISSUER | DEFER_TASKRUN), and
// BufferRing: a provided-buffer ring that multishot receives pick buffers from.
//
// Feature probing happens once in Ring::create, which fails with one message naming what the
// kernel lacks. Not thread-safe: every call comes from the owning thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <liburing.h>

#include "origin-sync/base/result.h"

namespace anyedge::io {

class Ring {
  public:
    static Result<std::unique_ptr<Ring>> create(unsigned entries);
    ~Ring();
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring* raw() { return &ring_; }
    // A free SQE; submits pending ones first when the submission queue is full.
    io_uring_sqe* get_sqe();
    // Makes room for `count` SQEs, so that a linked chain is not split by a submit in get_sqe().
    void reserve(unsigned count);

  private:
    Ring() = default;
    io_uring ring_{};
    bool initialized_ = false;
};

// A worker that has received nothing into a buffer ring for this long gives its pages back
// (BufferRing::release_pages).
constexpr int64_t kIdleBufferRingMs = 1000;

// Buffers handed to the kernel for multishot receive. A completed receive names a buffer id;
// the caller copies the bytes out and gives the buffer back at once with recycle().
class BufferRing {
  public:
    static Result<std::unique_ptr<BufferRing>> create(Ring& ring, uint16_t group_id, unsigned count,
                                                      unsigned buffer_size);
    ~BufferRing();
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    uint16_t group_id() const { return group_id_; }
    const char* buffer(uint16_t id) const { return data_ + size_t(id) * buffer_size_; }
    void recycle(uint16_t id);
    // Gives the buffers' pages back to the kernel (MADV_DONTNEED: they read as zeros and are
    // faulted in again when next filled). The kernel takes buffers from the ring in turn, so
    // over time every buffer gets touched; a quiet worker should not keep them all resident.
    // Only while every buffer is in the ring (none leased) and no receive can complete: between
    // two waits of the ring's thread, since DEFER_TASKRUN runs receives only inside the wait.
    void release_pages();

  private:
    BufferRing() = default;
    Ring* ring_ = nullptr;
    io_uring_buf_ring* br_ = nullptr;
    size_t br_bytes_ = 0;
    char* data_ = nullptr;
    size_t data_bytes_ = 0;
    unsigned count_ = 0;
    unsigned buffer_size_ = 0;
    uint16_t group_id_ = 0;
};

// Whether this kernel supports everything the edge needs; an empty string when it does,
// otherwise what is missing. Used by tests to skip with a reason.
std::string probe_io_uring_support();

}  // namespace anyedge::io
