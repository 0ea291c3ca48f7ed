#include "edge/server/syn_hold.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

namespace anyedge::server {

namespace {

// Offset 0 is the TCP header for a TCP socket's filter (skb->data there when tcp_filter runs);
// byte 13 holds the flags: CWR ECE URG ACK PSH RST SYN FIN. Drop when SYN is set and ACK is
// clear (a new connection attempt, ECN bits or not); keep everything else whole.
constexpr uint32_t kTcpFlagsOffset = 13;
constexpr uint32_t kSyn = 0x02;
constexpr uint32_t kAck = 0x10;
sock_filter kDropBareSyn[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kTcpFlagsOffset),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, kSyn | kAck),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kSyn, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0),           // drop
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // accept the whole packet
};

// HTTP/3's new connection attempts: on a UDP socket, offset 0 is the UDP header (skb->data
// there when udp_queue_rcv_one_skb runs the filter), so the QUIC packet starts at 8. Drop a
// datagram whose first packet has a long header (0x80) and the type of an Initial (0x00 in bits
// 0x30, with the fixed bit 0x40): the client's first flight, retransmitted after its PTO (~1 s)
// like a SYN. Packets of established connections (short headers, Handshake) pass.
constexpr uint32_t kQuicFirstByte = 8;
sock_filter kDropQuicInitial[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kQuicFirstByte),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xc0, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0),           // drop
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // accept the whole packet
};

}  // namespace

Status attach_syn_drop_filter(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    const bool udp = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
    sock_fprog prog{static_cast<unsigned short>(std::size(kDropBareSyn)), kDropBareSyn};
    if (udp) prog = {static_cast<unsigned short>(std::size(kDropQuicInitial)), kDropQuicInitial};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
        return make_error(std::string("SO_ATTACH_FILTER: ") + std::strerror(errno));
    }
    return ok_status();
}

Status detach_syn_drop_filter(int fd) {
    const int unused = 0;
    // ENOENT: no filter attached, which is what we want.
    if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) != 0 &&
        errno != ENOENT) {
        return make_error(std::string("SO_DETACH_FILTER: ") + std::strerror(errno));
    }
    return ok_status();
}

SynHold::SynHold(const std::vector<int>& listener_fds) {
    for (int fd : listener_fds) {
        const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
            dup_error_ = std::string("duplicating listener fd: ") + std::strerror(errno);
            continue;
        }
        fds_.push_back(copy);
    }
    timer_ = std::thread([this] { timer_loop(); });
}

SynHold::~SynHold() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        release_locked();
    }
    wake_.notify_all();
    timer_.join();
    for (int fd : fds_) ::close(fd);
}

uint64_t SynHold::drops_now() const {
    uint64_t total = 0;
    for (int fd : fds_) {
        uint32_t info[SK_MEMINFO_VARS] = {};
        socklen_t len = sizeof info;
        if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) == 0 &&
            len >= sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1)) {
            total += info[SK_MEMINFO_DROPS];
        }
    }
    return total;
}

Status SynHold::hold(std::chrono::milliseconds duration) {
    std::lock_guard lock(mutex_);
    if (!dup_error_.empty()) return make_error(dup_error_);
    if (!held_) {
        const uint64_t drops = drops_now();
        for (size_t i = 0; i < fds_.size(); ++i) {
            if (auto st = attach_syn_drop_filter(fds_[i]); !st) {
                for (size_t j = 0; j < i; ++j) (void)detach_syn_drop_filter(fds_[j]);
                return st;
            }
        }
        held_ = true;
        ++holds_;
        drops_at_start_ = drops;
    }
    until_ = Clock::now() + duration;
    wake_.notify_all();
    return ok_status();
}

void SynHold::release_locked() {
    if (!held_) return;
    // A detach cannot fail on a socket we own with a filter attached; if it ever did, the
    // next hold() re-attaches (SO_ATTACH_FILTER replaces) and its release tries again.
    for (int fd : fds_) (void)detach_syn_drop_filter(fd);
    const uint64_t drops = drops_now();
    dropped_ += drops >= drops_at_start_ ? drops - drops_at_start_ : 0;
    held_ = false;
}

void SynHold::release() {
    std::lock_guard lock(mutex_);
    release_locked();
}

SynHold::Stats SynHold::stats() const {
    std::lock_guard lock(mutex_);
    Stats s;
    s.held = held_;
    s.holds = holds_;
    s.listeners = fds_.size();
    s.syns_dropped = dropped_;
    if (held_) {
        const uint64_t drops = drops_now();
        s.syns_dropped += drops >= drops_at_start_ ? drops - drops_at_start_ : 0;
        s.left_ms = std::max<int64_t>(
            0,
            std::chrono::duration_cast<std::chrono::milliseconds>(until_ - Clock::now()).count());
    }
    return s;
}

void SynHold::timer_loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        if (!held_) {
            wake_.wait(lock);
            continue;
        }
        // until_ may move while we sleep (a new hold()); re-check after every wake-up.
        wake_.wait_until(lock, until_);
        if (held_ && Clock::now() >= until_) release_locked();
    }
}

}  // namespace anyedge::server
