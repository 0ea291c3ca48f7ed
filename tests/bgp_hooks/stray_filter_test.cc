// The stray-forwarding tc program's verdicts, run by the kernel (BPF_PROG_TEST_RUN) on packets
// made here, against real sockets, in a network namespace of the test's own (FilterProbe): a
// SYN and a segment of a local connection are delivered; a segment of a connection this node
// does not own (no socket, only the listener, or a TIME_WAIT socket) is copied to the peer's
// tunnel and not delivered; traffic to other addresses is left alone.
// Needs root (a network namespace, CAP_BPF). Without it the tests skip loudly, unless
// ANYEDGE_REQUIRE_NETNS=1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "bgp-hooks/forward/filter_probe.h"

namespace anyedge::hooks {
namespace {

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

TEST(StrayFilter, DeliversOwnSegmentsAndCopiesStraysToEachPeer) {
    auto probe = FilterProbe::create();
    if (!probe) {
        if (const char* req = std::getenv("ANYEDGE_REQUIRE_NETNS"); req && *req == '1') {
            FAIL() << "required (ANYEDGE_REQUIRE_NETNS=1): " << probe.error();
        }
        GTEST_SKIP() << "SKIPPING the stray filter test: " << probe.error();
    }
    FilterProbe& f = **probe;
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in any = loopback(0);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
    ASSERT_EQ(::listen(listener, 16), 0);
    const uint16_t port = local_port(listener);
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in to = loopback(port);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    const int served = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(served, 0);
    const uint16_t client_port = local_port(client);
    auto segment = [&](const char* dst, uint16_t sport, uint16_t dport, bool syn = false) {
        return FilterProbe::tcp_packet(dst, sport, dport, syn, !syn);
    };

    // A segment of the connection open here, and a SYN: delivered.
    EXPECT_EQ(f.run(segment("127.0.0.1", client_port, port)), kFilterDeliver);
    EXPECT_EQ(f.run(segment("127.0.0.1", 40000, port, true)), kFilterDeliver);
    std::printf(
        "[stray filter] a segment of a local connection: %u ns per packet; another "
        "address: %u ns\n",
        f.time(segment("127.0.0.1", client_port, port), 200000),
        f.time(segment("127.0.0.2", client_port, port), 200000));
    // Not an anycast address: not ours to judge.
    EXPECT_EQ(f.run(segment("127.0.0.2", 40001, port)), kFilterDeliver);
    // Another address outside the /32: not ours either.
    EXPECT_EQ(f.run(segment("127.0.0.3", 40001, uint16_t(port + 1))), kFilterDeliver);
    EXPECT_EQ(f.counter(filter::kStrays), 0u);

    // Only the listener matches (no SYN cookie): a stray, copied to the peer, not delivered.
    EXPECT_EQ(f.run(segment("127.0.0.1", 40002, port)), kFilterDrop);
    // No socket at all (another port): a stray too.
    EXPECT_EQ(f.run(segment("127.0.0.1", 40003, uint16_t(port + 1))), kFilterDrop);
    EXPECT_EQ(f.counter(filter::kStrays), 2u);
    EXPECT_EQ(f.forwarded_to_peer(), 2u);
    EXPECT_EQ(f.counter(filter::kForwardErrors), 0u);

    // The server closed first: its side is in TIME_WAIT. The client may reuse that port for a
    // connection on another node, so a segment for it is a stray, never answered from here.
    ::close(served);
    ::close(client);
    usleep(100 * 1000);
    EXPECT_EQ(f.run(segment("127.0.0.1", client_port, port)), kFilterDrop);
    EXPECT_EQ(f.counter(filter::kStrays), 3u);

    // With no peer up, a stray is left to the kernel (which resets it), and counted.
    ASSERT_TRUE(f.set_peer_count(0));
    EXPECT_EQ(f.run(segment("127.0.0.1", 40004, uint16_t(port + 1))), kFilterDeliver);
    EXPECT_EQ(f.counter(filter::kStrayNoPeer), 1u);
    ::close(listener);
}

// The anycast prefixes the filter compares inline: masked, in network byte order.
TEST(FilterMaps, PrefixesAreMaskedInNetworkOrder) {
    filter::Settings s;
    ASSERT_TRUE(filter::add_prefix(s, "203.0.113.77/24"));
    ASSERT_TRUE(filter::add_prefix(s, "198.51.100.10"));
    ASSERT_TRUE(filter::add_prefix(s, "2001:db8:a::10/48"));
    ASSERT_EQ(s.n4, 2u);
    ASSERT_EQ(s.n6, 1u);
    EXPECT_EQ(s.v4[0].addr, inet_addr("203.0.113.0"));
    EXPECT_EQ(s.v4[0].mask, inet_addr("255.255.255.0"));
    EXPECT_EQ(s.v4[1].mask, 0xffffffffu);
    EXPECT_EQ(s.v6[0].mask[0], 0xffffffffu);
    EXPECT_EQ(s.v6[0].mask[1], htonl(0xffff0000u));
    EXPECT_EQ(s.v6[0].mask[2], 0u);
    EXPECT_EQ(s.v6[0].addr[0], htonl(0x20010db8u));
    EXPECT_EQ(s.v6[0].addr[1], htonl(0x000a0000u));
    EXPECT_EQ(s.v6[0].addr[3], 0u);
    for (const char* bad : {"203.0.113.0/33", "2001:db8::/129", "blog.example", "1.2.3.4/x"}) {
        EXPECT_FALSE(filter::add_prefix(s, bad)) << bad;
    }
    for (int i = 2; i < 8; ++i) ASSERT_TRUE(filter::add_prefix(s, "192.0.2.1"));
    const Status full = filter::add_prefix(s, "192.0.2.1");
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().find("at most 8 IPv4"), std::string::npos) << full.error();
}

// `cdn-hooks forward-cost` measures the same way.
TEST(StrayFilter, CostIsMeasuredOnARealConnection) {
    auto cost = measure_filter_cost(1000);
    if (!cost) {
        if (const char* req = std::getenv("ANYEDGE_REQUIRE_NETNS"); req && *req == '1') {
            FAIL() << "required (ANYEDGE_REQUIRE_NETNS=1): " << cost.error();
        }
        GTEST_SKIP() << "SKIPPING: " << cost.error();
    }
    EXPECT_GT(cost->local_segment_ns, 0u);
    EXPECT_GT(cost->other_address_ns, 0u);
}

}  // namespace
}  // namespace anyedge::hooks
