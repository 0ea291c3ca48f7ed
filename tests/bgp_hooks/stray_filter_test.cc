// The stray-forwarding tc program's verdicts, run by the kernel (BPF_PROG_TEST_RUN) on packets
// made here, against real sockets, inside a network namespace of the test's own: a SYN and a
// segment of a local connection are delivered; a segment of a connection this node does not
// own (no socket, only the listener, or a TIME_WAIT socket) is copied to each peer's tunnel
// and not delivered; traffic to other addresses is left alone.
// Needs root (a network namespace, CAP_BPF). Without it the tests skip loudly, unless
// ANYEDGE_REQUIRE_NETNS=1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bgp-hooks/forward/stray_forward_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

namespace {

// Runs the test body in a fresh network namespace (this thread only) and comes back after.
class PrivateNetns {
  public:
    PrivateNetns() {
        home_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (home_ < 0 || ::unshare(CLONE_NEWNET) != 0) {
            why_ = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
            return;
        }
        entered_ = true;
        if (std::system("ip link set lo up && ip link add t0 type veth peer name t1 && "
                        "ip link set t0 up && ip link set t1 up") != 0) {
            why_ = "ip link: cannot make the test's interfaces";
        }
    }
    ~PrivateNetns() {
        if (entered_) ::setns(home_, CLONE_NEWNET);
        if (home_ >= 0) ::close(home_);
    }
    bool ok() const { return entered_ && why_.empty(); }
    const std::string& why() const { return why_; }

  private:
    int home_ = -1;
    bool entered_ = false;
    std::string why_;
};

struct Loaded {
    bpf_object* object = nullptr;
    int forward = -1, settings = -1, peers = -1, anycast = -1, forwarded = -1, counters = -1;
    ~Loaded() {
        if (object) bpf_object__close(object);
    }
};

struct Tcp {
    uint16_t sport, dport;
    bool syn = false, ack = true;
};

// Ethernet + IPv4 + TCP, from 127.0.0.1:sport to `dst`:dport.
std::vector<uint8_t> packet(const char* dst, const Tcp& t) {
    std::vector<uint8_t> p(14 + 20 + 20, 0);
    p[12] = 0x08;  // ETH_P_IP
    uint8_t* ip = p.data() + 14;
    ip[0] = 0x45;
    ip[2] = 0;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    inet_pton(AF_INET, "127.0.0.1", ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    uint8_t* tcp = ip + 20;
    tcp[0] = uint8_t(t.sport >> 8);
    tcp[1] = uint8_t(t.sport);
    tcp[2] = uint8_t(t.dport >> 8);
    tcp[3] = uint8_t(t.dport);
    tcp[12] = 5 << 4;
    tcp[13] = uint8_t((t.syn ? 0x02 : 0) | (t.ack ? 0x10 : 0));
    return p;
}

// Mean time of one run over `repeat` runs, in ns (a figure, printed; never asserted).
uint32_t time_runs(int prog, std::vector<uint8_t> data, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data.data(),
                .data_size_in = static_cast<uint32_t>(data.size()), .repeat = repeat);
    if (bpf_prog_test_run_opts(prog, &o) != 0) return 0;
    return o.duration;
}

int run(int prog, std::vector<uint8_t> data) {
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data.data(),
                .data_size_in = static_cast<uint32_t>(data.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(prog, &o) != 0) return -1;
    return static_cast<int>(o.retval);
}

uint64_t percpu_sum(int map, uint32_t key, size_t value_words, size_t word) {
    const int cpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> v(size_t(cpus) * value_words);
    if (bpf_map_lookup_elem(map, &key, v.data()) != 0) return 0;
    uint64_t total = 0;
    for (int c = 0; c < cpus; ++c) total += v[size_t(c) * value_words + word];
    return total;
}

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

int listen_on_loopback() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 16);
    return fd;
}

int connect_to(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return fd;
}

constexpr int kDeliver = 0;  // TC_ACT_OK
constexpr int kDrop = 2;     // TC_ACT_SHOT

TEST(StrayFilter, DeliversOwnSegmentsAndCopiesStraysToEachPeer) {
    PrivateNetns ns;
    if (!ns.ok()) {
        if (const char* req = std::getenv("ANYEDGE_REQUIRE_NETNS"); req && *req == '1') {
            FAIL() << "a private network namespace is required (ANYEDGE_REQUIRE_NETNS=1): "
                   << ns.why();
        }
        GTEST_SKIP() << "SKIPPING: no private network namespace: " << ns.why();
    }
    Loaded m;
    m.object = bpf_object__open_mem(anyedge::hooks::kStrayForwardObject,
                                    anyedge::hooks::kStrayForwardObjectSize, nullptr);
    ASSERT_NE(m.object, nullptr);
    ASSERT_EQ(bpf_object__load(m.object), 0) << "loading the program (needs CAP_BPF)";
    m.forward = bpf_program__fd(bpf_object__find_program_by_name(m.object, "forward_strays"));
    auto map = [&](const char* n) {
        return bpf_map__fd(bpf_object__find_map_by_name(m.object, n));
    };
    m.settings = map("settings");
    m.peers = map("peers");
    m.anycast = map("anycast");
    m.forwarded = map("forwarded");
    m.counters = map("counters");

    // The anycast address is 127.0.0.1 here; one peer, through the veth t0.
    struct {
        uint32_t prefixlen;
        uint8_t bytes[16];
    } key{128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}};
    uint8_t one = 1;
    ASSERT_EQ(bpf_map_update_elem(m.anycast, &key, &one, BPF_ANY), 0);
    uint32_t zero = 0, peer_count = 1;
    ASSERT_EQ(bpf_map_update_elem(m.settings, &zero, &peer_count, BPF_ANY), 0);
    uint32_t peer[2] = {if_nametoindex("t0"), 0};
    ASSERT_NE(peer[0], 0u);
    ASSERT_EQ(bpf_map_update_elem(m.peers, &zero, peer, BPF_ANY), 0);

    const int listener = listen_on_loopback();
    const uint16_t port = local_port(listener);
    const int client = connect_to(port);
    const int served = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(served, 0);
    const uint16_t client_port = local_port(client);

    // A segment of the connection open here, and a SYN: delivered.
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {client_port, port})), kDeliver);
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {40000, port, true, false})), kDeliver);
    EXPECT_EQ(percpu_sum(m.counters, 0, 1, 0), 2u);  // COUNTER_LOCAL
    std::printf(
        "[stray filter] a segment of a local connection: %u ns per packet; another "
        "address: %u ns\n",
        time_runs(m.forward, packet("127.0.0.1", {client_port, port}), 200000),
        time_runs(m.forward, packet("127.0.0.2", {client_port, port}), 200000));
    // Not an anycast address: not ours to judge, nothing counted.
    const uint64_t local_before = percpu_sum(m.counters, 0, 1, 0);
    EXPECT_EQ(run(m.forward, packet("127.0.0.2", {40001, port})), kDeliver);
    EXPECT_EQ(percpu_sum(m.counters, 0, 1, 0), local_before);

    // Only the listener matches (no SYN cookie): a stray, copied to the peer, not delivered.
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {40002, port})), kDrop);
    // No socket at all (another port): a stray too.
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {40003, uint16_t(port + 1)})), kDrop);
    EXPECT_EQ(percpu_sum(m.counters, 5, 1, 0), 2u);   // COUNTER_STRAYS
    EXPECT_EQ(percpu_sum(m.forwarded, 0, 2, 0), 2u);  // packets to peer 0
    EXPECT_EQ(percpu_sum(m.counters, 4, 1, 0), 0u);   // COUNTER_FORWARD_ERRORS

    // The server closed first: its side is in TIME_WAIT. The client may reuse that port for a
    // connection on another node, so a segment for it is a stray, never answered from here.
    ::close(served);
    ::close(client);
    usleep(100 * 1000);
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {client_port, port})), kDrop);
    EXPECT_EQ(percpu_sum(m.counters, 5, 1, 0), 3u);

    // With no peer up, a stray is left to the kernel (which resets it), and counted.
    peer_count = 0;
    ASSERT_EQ(bpf_map_update_elem(m.settings, &zero, &peer_count, BPF_ANY), 0);
    EXPECT_EQ(run(m.forward, packet("127.0.0.1", {40004, uint16_t(port + 1)})), kDeliver);
    EXPECT_EQ(percpu_sum(m.counters, 1, 1, 0), 1u);  // COUNTER_STRAY_NO_PEER
    ::close(listener);
}

}  // namespace
