#include "edge/io/ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace anyedge::io {
namespace {

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace

Result<std::unique_ptr<Ring>> Ring::create(unsigned entries) {
    std::unique_ptr<Ring> r(new Ring());
    io_uring_params params{};
    // SINGLE_ISSUER + DEFER_TASKRUN: completions run only when this thread waits (kernel 6.1+),
    // which batches work and avoids interrupting the worker mid-loop.
    params.flags =
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    int rc = io_uring_queue_init_params(entries, &r->ring_, &params);
    if (rc < 0) {
        return make_error("io_uring_setup failed (" + errno_text(rc) +
                          "): need Linux 6.1+ with io_uring enabled "
                          "(kernel.io_uring_disabled=0, not blocked by seccomp)");
    }
    r->initialized_ = true;
    // Saves an fd lookup on every io_uring_enter; optional (Linux 5.18+).
    io_uring_register_ring_fd(&r->ring_);

    io_uring_probe* probe = io_uring_get_probe_ring(&r->ring_);
    if (!probe) return make_error("io_uring: cannot probe supported operations");
    struct Need {
        int op;
        const char* name;
    };
    static constexpr Need kNeeded[] = {
        {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_RECV, "RECV"},
        {IORING_OP_SENDMSG, "SENDMSG"},   {IORING_OP_CLOSE, "CLOSE"},
        {IORING_OP_SHUTDOWN, "SHUTDOWN"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
        {IORING_OP_TIMEOUT, "TIMEOUT"},
    };
    std::string missing;
    for (const auto& n : kNeeded) {
        if (!io_uring_opcode_supported(probe, n.op)) missing += std::string(" ") + n.name;
    }
    io_uring_free_probe(probe);
    if (!missing.empty()) return make_error("io_uring lacks operations:" + missing);
    if (!(params.features & IORING_FEAT_EXT_ARG)) {
        return make_error("io_uring lacks IORING_FEAT_EXT_ARG (need Linux 5.11+)");
    }
    return r;
}

Ring::~Ring() {
    if (initialized_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* Ring::get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void Ring::reserve(unsigned count) {
    if (io_uring_sq_space_left(&ring_) < count) io_uring_submit(&ring_);
}

Result<std::unique_ptr<BufferRing>> BufferRing::create(Ring& ring, uint16_t group_id,
                                                       unsigned count, unsigned buffer_size) {
    if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
        return make_error("buffer ring size must be a power of two up to 32768");
    }
    std::unique_ptr<BufferRing> b(new BufferRing());
    b->ring_ = &ring;
    b->count_ = count;
    b->buffer_size_ = buffer_size;
    b->group_id_ = group_id;
    b->br_bytes_ = count * sizeof(io_uring_buf);
    void* mem =
        mmap(nullptr, b->br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return make_error("mmap buffer ring: " + errno_text(errno));
    b->br_ = static_cast<io_uring_buf_ring*>(mem);
    b->data_bytes_ = size_t(count) * buffer_size;
    void* data =
        mmap(nullptr, b->data_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (data == MAP_FAILED) return make_error("mmap receive buffers: " + errno_text(errno));
    b->data_ = static_cast<char*>(data);

    // liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring: register by hand.
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(b->br_);
    reg.ring_entries = count;
    reg.bgid = group_id;
    int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
    if (rc < 0) {
        return make_error("io_uring_register_buf_ring failed (" + errno_text(rc) +
                          "): need Linux 5.19+ provided buffer rings");
    }
    io_uring_buf_ring_init(b->br_);
    const int mask = io_uring_buf_ring_mask(count);
    for (unsigned i = 0; i < count; ++i) {
        io_uring_buf_ring_add(b->br_, b->data_ + size_t(i) * buffer_size, buffer_size,
                              static_cast<unsigned short>(i), mask, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(b->br_, static_cast<int>(count));
    return b;
}

void BufferRing::recycle(uint16_t id) {
    io_uring_buf_ring_add(br_, data_ + size_t(id) * buffer_size_, buffer_size_, id,
                          io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(br_, 1);
}

void BufferRing::release_pages() { madvise(data_, data_bytes_, MADV_DONTNEED); }

BufferRing::~BufferRing() {
    if (ring_ && br_) io_uring_unregister_buf_ring(ring_->raw(), group_id_);
    if (br_) munmap(br_, br_bytes_);
    if (data_) munmap(data_, data_bytes_);
}

// On a thread of its own: a DEFER_TASKRUN ring belongs to the thread that made it, and the
// kernel's teardown of the probe ring can still notify that thread afterwards, which fails
// its next interruptible wait with EINTR (a test's blocking connect() with a send timeout
// did, about one run in 150).
std::string probe_io_uring_support() {
    std::string why;
    std::thread([&why] {
        auto ring = Ring::create(8);
        if (!ring) {
            why = ring.error();
            return;
        }
        auto buffers = BufferRing::create(**ring, 0, 8, 4096);
        if (!buffers) why = buffers.error();
    }).join();
    return why;
}

}  // namespace anyedge::io
