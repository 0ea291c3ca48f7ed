// OutputQueue: the bytes a connection still has to send, as a gather list. Copied bytes live
// in an arena; referenced bytes point into snapshots that the queue keeps alive until sent
// (each reference names its snapshot, so the queue needs nothing from the worker).
//
// Invariant: while a send built from gather() is in flight, nothing is appended to this queue
// (the connection appends to its back queue and swaps when the front one is drained), so the
// iovecs handed to the kernel stay valid. One connection, one thread.
#pragma once

#include <sys/uio.h>

#include <memory>
#include <string>
#include <vector>

#include "edge/cache/snapshot.h"
#include "edge/server/response_sink.h"

namespace anyedge::server {

class OutputQueue final : public ResponseSink {
  public:
    void copy(std::string_view bytes) override;
    void reference(std::string_view bytes, const cache::Snapshot& owner) override;
    size_t queued_bytes() const override { return total_ - sent_; }

    bool empty() const { return sent_ == total_; }
    // Fills up to max_iov iovecs (at most max_bytes) from the unsent head; returns the count.
    size_t gather(iovec* iov, size_t max_iov, size_t max_bytes) const;
    // Every unsent byte as iovecs, in `out` (for a framer that references them until the stream
    // ends; `out` keeps its capacity from one response to the next).
    void gather_all(std::vector<iovec>& out) const;
    // Marks n bytes as sent; resets the queue when everything is.
    void consume(size_t n);
    void clear();
    // An empty queue gives its storage back (an idle connection keeps none); returns whether
    // there was any to give.
    bool release_memory();
    // Moves the first n unsent bytes to `to`: copied bytes are copied, referenced ones
    // referenced there (with their snapshot held by `to`). Returns the bytes moved.
    size_t move_front(size_t n, ResponseSink& to);

    // Bodies up to the threshold are copied, larger ones referenced. Over TLS with OpenSSL's
    // records every piece becomes its own record (SSL_write has no gather form), so a response
    // whose body is copied goes out as one record; on plain HTTP the kernel copies every byte into
    // the socket anyway, and a second copy here cost a quarter of the CPU of pipelined 8 KB
    // responses.
    static constexpr size_t kCopyThreshold = 16 * 1024;
    static constexpr size_t kPlainCopyThreshold = 1024;
    void set_copy_threshold(size_t bytes) { copy_threshold_ = bytes; }

  private:
    struct Segment {
        bool owned;
        size_t offset;  // into arena_ when owned
        const char* ptr;
        size_t len;
        const cache::Snapshot* owner;  // referenced bytes: the snapshot held for them
    };
    std::string arena_;
    std::vector<Segment> segments_;
    std::vector<std::shared_ptr<const cache::Snapshot>> holds_;
    size_t copy_threshold_ = kCopyThreshold;
    size_t head_segment_ = 0;  // first segment not fully sent
    size_t head_offset_ = 0;   // bytes of it already sent
    size_t total_ = 0;
    size_t sent_ = 0;
};

}  // namespace anyedge::server
