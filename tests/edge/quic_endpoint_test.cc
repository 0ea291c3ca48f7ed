// The QUIC endpoint's routing rules without sockets: connection IDs that name their node and
// worker, stateless resets only for this node's own IDs, and drops counted by reason.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "edge/quic/connection_ids.h"
#include "edge/quic/endpoint.h"

namespace anyedge::quic {
namespace {

constexpr std::array<uint8_t, 16> kFleetKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

struct CapturedDatagram {
    std::vector<uint8_t> bytes;
    size_t segment = 0;
};

class CaptureSink final : public DatagramSink {
  public:
    void send(const PathAddr&, std::span<const uint8_t> data, size_t segment) override {
        sent.push_back({{data.begin(), data.end()}, segment});
    }
    std::vector<CapturedDatagram> sent;
};

std::array<uint8_t, kCidLength> cid_of(const ConnectionIds& ids, uint8_t worker) {
    std::array<uint8_t, kCidLength> cid{};
    ids.issue(worker, cid);
    return cid;
}

// A 1-RTT (short header) packet to `cid`: the fixed bit, the ID, then bytes that stand for a
// protected packet number and payload.
std::vector<uint8_t> short_packet(std::span<const uint8_t> cid, size_t size) {
    std::vector<uint8_t> p(size, 0x5a);
    p[0] = 0x40;
    std::copy(cid.begin(), cid.end(), p.begin() + 1);
    return p;
}

// A QUIC v1 long-header packet of `type` (0 Initial, 2 Handshake) to `dcid`, from an 8-byte
// client ID, padded with bytes that stand for the rest.
std::vector<uint8_t> long_packet(uint8_t type, std::span<const uint8_t> dcid, size_t size) {
    std::vector<uint8_t> p(size, 0x5a);
    p[0] = uint8_t(0xc0 | (type << 4));
    p[1] = 0, p[2] = 0, p[3] = 0, p[4] = 1;  // version 1
    p[5] = uint8_t(dcid.size());
    std::copy(dcid.begin(), dcid.end(), p.begin() + 6);
    p[6 + dcid.size()] = 8;  // SCID length
    return p;
}

TEST(ConnectionIds, CarryTheirNodeAndWorkerForEveryHolderOfTheFleetKey) {
    auto here = ConnectionIds::create(kFleetKey, 7);
    auto there = ConnectionIds::create(kFleetKey, 9);
    ASSERT_TRUE(here && there);
    for (uint8_t worker : {0, 3, 255}) {
        const auto cid = cid_of(*here, worker);
        for (const ConnectionIds* reader : {&*here, &*there}) {
            const auto owner = reader->owner(cid);
            ASSERT_TRUE(owner.has_value());
            EXPECT_EQ(owner->node, 7);
            EXPECT_EQ(owner->worker, worker);
        }
    }
    // Two IDs of one connection cannot be linked: apart from the worker octet, they are
    // unrelated blocks.
    EXPECT_NE(cid_of(*here, 1), cid_of(*here, 1));
    // The worker is also in the clear, in the first octet, for the kernel to steer by.
    EXPECT_EQ(cid_of(*here, 3)[0], 3);
    EXPECT_EQ(cid_of(*here, 200)[0], kWorkerUnknown);
    // Not our length: not ours to judge.
    const std::array<uint8_t, 8> short_cid{};
    EXPECT_FALSE(here->owner(short_cid).has_value());
    // The clear worker must agree with the encrypted one: an ID a client made up for its first
    // Initial is seldom taken for a node's.
    auto forged = cid_of(*here, 3);
    forged[0] = 4;
    EXPECT_FALSE(there->owner(forged).has_value());
    auto many = cid_of(*here, 200);
    many[0] = 30;
    EXPECT_FALSE(there->owner(many).has_value());
    int taken = 0;
    for (int i = 0; i < 4096; ++i) {
        std::array<uint8_t, kCidLength> made_up{};
        for (auto& b : made_up) b = uint8_t((i * 131 + (&b - made_up.data()) * 29) ^ (i >> 3));
        made_up[0] &= 0x1f;  // config rotation 0, the only check before this one
        if (there->owner(made_up)) ++taken;
    }
    EXPECT_LT(taken, 4096 / 8);
}

// Every worker thread issues and reads IDs through the one shared object.
TEST(ConnectionIds, WorkersShareOneObjectSafely) {
    auto ids = ConnectionIds::create(kFleetKey, 42);
    ASSERT_TRUE(ids);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (uint8_t w = 0; w < 4; ++w) {
        threads.emplace_back([&, w] {
            for (int i = 0; i < 5000; ++i) {
                const auto cid = cid_of(*ids, w);
                const auto owner = ids->owner(cid);
                if (!owner || owner->node != 42 || owner->worker != w) ++wrong;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
}

TEST(ConnectionIds, ResetTokensAreTheSameOnEveryNodeOfTheFleetOnly) {
    auto a = ConnectionIds::create(kFleetKey, 1);
    auto b = ConnectionIds::create(kFleetKey, 2);
    auto stranger = ConnectionIds::with_random_key(1);
    ASSERT_TRUE(a && b && stranger);
    const auto cid = cid_of(*a, 0);
    std::array<uint8_t, kResetTokenLength> ta{}, tb{}, ts{};
    a->reset_token(cid, ta);
    b->reset_token(cid, tb);
    stranger->reset_token(cid, ts);
    EXPECT_EQ(ta, tb);
    EXPECT_NE(ta, ts);
}

TEST(ConnectionIds, KeyFileIsThirtyTwoHexDigits) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("anyedge-cidkey-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "good") << "  000102030405060708090a0b0c0d0e0f\n";
    std::ofstream(dir / "short") << "0001020304\n";
    std::ofstream(dir / "junk") << "000102030405060708090a0b0c0d0e0f trailing\n";
    auto good = ConnectionIds::read_key_file((dir / "good").string());
    ASSERT_TRUE(good) << good.error();
    EXPECT_EQ((*good)[15], 0x0f);
    EXPECT_FALSE(ConnectionIds::read_key_file((dir / "short").string()));
    EXPECT_FALSE(ConnectionIds::read_key_file((dir / "junk").string()));
    EXPECT_FALSE(ConnectionIds::read_key_file((dir / "missing").string()));
    std::filesystem::remove_all(dir);
}

class EndpointRouting : public ::testing::Test {
  protected:
    void SetUp() override {
        auto mine = ConnectionIds::create(kFleetKey, 1);
        auto theirs = ConnectionIds::create(kFleetKey, 2);
        ASSERT_TRUE(mine && theirs);
        mine_.emplace(std::move(*mine));
        theirs_.emplace(std::move(*theirs));
        H3Shared shared;
        shared.ids = &*mine_;
        shared.worker = 0;
        endpoint_ = std::make_unique<Endpoint>(shared, sink_, 100);
    }
    CaptureSink sink_;
    std::optional<ConnectionIds> mine_, theirs_;
    std::unique_ptr<Endpoint> endpoint_;
    PathAddr path_;
};

TEST_F(EndpointRouting, AnotherNodesConnectionIsDroppedNeverReset) {
    // RFC 9000 §10.3: the connection may be alive on node 2 (the route moved); a reset from
    // here would kill it.
    const auto cid = cid_of(*theirs_, 0);
    endpoint_->on_datagram(path_, short_packet(cid, 200), 1, 1);
    EXPECT_TRUE(sink_.sent.empty());
    EXPECT_EQ(endpoint_->counters().dropped_other_node, 1u);
    EXPECT_EQ(endpoint_->counters().stateless_resets, 0u);
}

// A UDP socket on loopback that stands for a peer node's forward address.
struct PeerSocket {
    PeerSocket() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        auto* a = reinterpret_cast<sockaddr_in*>(&address.addr);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.len = sizeof(sockaddr_in);
        ::bind(fd, reinterpret_cast<sockaddr*>(&address.addr), address.len);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address.addr), &address.len);
        timeval tv{2, 0};  // a lost datagram fails the test instead of hanging it
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~PeerSocket() { ::close(fd); }
    std::vector<uint8_t> receive() {
        std::vector<uint8_t> buf(4096);
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        buf.resize(n > 0 ? size_t(n) : 0);
        return buf;
    }
    int fd = -1;
    Address address;
};

// An IPv4 or IPv6 socket address.
Address ip(const char* text, uint16_t port) {
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len = sizeof(sockaddr_in6);
    }
    return a;
}

PathAddr client_path() { return PathAddr{ip("203.0.113.10", 443), ip("198.51.100.2", 50123)}; }

// This node's forward socket and node 2's forward address, wired to an endpoint.
struct ForwardingToNode2 {
    explicit ForwardingToNode2(Endpoint& endpoint) { endpoint.set_peer_forwarder(&forwarder); }
    PeerSocket own;  // this node's forward socket, which sends
    PeerSocket node2;
    PeerAddresses peers{{2, node2.address}};
    SocketPeerForwarder forwarder{own.fd, peers};
};

// Continuity across route changes: a packet of node 2's connection that reaches node 1 goes
// to node 2's forward address with the client's path, and node 2 reads the same packet and
// path back. Nothing is sent to the client from here.
TEST_F(EndpointRouting, AnotherNodesPacketIsForwardedToItWithTheClientsPath) {
    ForwardingToNode2 fw(*endpoint_);
    const auto packet = short_packet(cid_of(*theirs_, 0), 300);
    const PathAddr path = client_path();
    endpoint_->on_datagram(path, packet, 1, 1);
    EXPECT_TRUE(sink_.sent.empty());
    EXPECT_EQ(endpoint_->counters().forwarded_other_node, 1u);
    EXPECT_EQ(endpoint_->counters().dropped_other_node, 0u);
    EXPECT_EQ(fw.forwarder.sent().at(2), 1u);

    const auto got = fw.node2.receive();
    ASSERT_EQ(got.size(), packet.size() + kForwardTrailerSize);
    const auto f = decode_forwarded(got);
    ASSERT_TRUE(f.has_value());
    EXPECT_TRUE(std::equal(f->datagram.begin(), f->datagram.end(), packet.begin(), packet.end()));
    EXPECT_EQ(std::memcmp(&f->path.local.addr, &path.local.addr, sizeof(sockaddr_in)), 0);
    EXPECT_EQ(std::memcmp(&f->path.remote.addr, &path.remote.addr, sizeof(sockaddr_in)), 0);
}

// The hop budget is one: what a peer forwarded here is never forwarded again, and a node with
// no address for the ID's node drops the packet.
TEST_F(EndpointRouting, ForwardedPacketsAreNeverForwardedAgain) {
    ForwardingToNode2 fw(*endpoint_);
    endpoint_->on_datagram(client_path(), short_packet(cid_of(*theirs_, 0), 300), 1, 1,
                           /*from_peer=*/true);
    EXPECT_EQ(endpoint_->counters().forwarded_other_node, 0u);
    EXPECT_EQ(endpoint_->counters().dropped_other_node, 1u);
    EXPECT_EQ(endpoint_->counters().from_peers, 1u);
    auto node3 = ConnectionIds::create(kFleetKey, 3);
    ASSERT_TRUE(node3);
    endpoint_->on_datagram(client_path(), short_packet(cid_of(*node3, 0), 300), 1, 1);
    EXPECT_EQ(endpoint_->counters().dropped_other_node, 2u);
    EXPECT_EQ(fw.forwarder.failed(), 1u);
    // Nor is a forwarded long-header packet, and it opens nothing here: peers forward only what
    // names this node.
    endpoint_->on_datagram(client_path(), long_packet(0, cid_of(*theirs_, 0), 1200), 1, 1,
                           /*from_peer=*/true);
    EXPECT_EQ(endpoint_->counters().dropped_other_node, 3u);
    EXPECT_EQ(endpoint_->counters().forwarded_other_node, 0u);
    EXPECT_EQ(endpoint_->connections(), 0u);
}

// A handshake node 2 began before the route moved here: the client's later Initial and
// Handshake packets carry the ID node 2 chose, and go to node 2 like its 1-RTT packets. (Before,
// they were taken for new connections and dropped, and the handshake hung.)
TEST_F(EndpointRouting, AHandshakeAnotherNodeBeganIsForwardedThere) {
    ForwardingToNode2 fw(*endpoint_);
    const auto cid = cid_of(*theirs_, 0);
    const auto handshake = long_packet(2, cid, 300);
    const auto initial = long_packet(0, cid, 1200);
    endpoint_->on_datagram(client_path(), handshake, 1, 1);
    endpoint_->on_datagram(client_path(), initial, 1, 1);
    EXPECT_TRUE(sink_.sent.empty());
    EXPECT_EQ(endpoint_->connections(), 0u);
    EXPECT_EQ(endpoint_->counters().forwarded_other_node, 2u);
    EXPECT_EQ(fw.forwarder.sent().at(2), 2u);
    for (const auto* sent : {&handshake, &initial}) {
        const auto got = fw.node2.receive();
        const auto f = decode_forwarded(got);
        ASSERT_TRUE(f.has_value());
        EXPECT_TRUE(std::equal(f->datagram.begin(), f->datagram.end(), sent->begin(), sent->end()));
    }
    // An ID that names no peer of this node is a client's own: a candidate new connection
    // (this one is not a valid Initial, so it is dropped as garbage, not forwarded).
    auto node3 = ConnectionIds::create(kFleetKey, 3);
    ASSERT_TRUE(node3);
    endpoint_->on_datagram(client_path(), long_packet(0, cid_of(*node3, 0), 1200), 1, 1);
    EXPECT_EQ(endpoint_->counters().forwarded_other_node, 2u);
    EXPECT_EQ(endpoint_->counters().dropped_garbage, 1u);
    EXPECT_EQ(fw.forwarder.failed(), 0u);
}

TEST(PeerForwarding, TrailerRoundTripsAndRejectsWhatIsNotOne) {
    const PathAddr v6{ip("2001:db8:a::10", 443), ip("2001:db8:0:31::2", 40000)};
    const std::vector<uint8_t> packet(100, 0x42);
    std::vector<uint8_t> wire;
    ASSERT_TRUE(encode_forwarded(packet, v6, wire));
    auto f = decode_forwarded(wire);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->datagram.size(), packet.size());
    EXPECT_EQ(std::memcmp(&f->path.remote.addr, &v6.remote.addr, sizeof(sockaddr_in6)), 0);
    // Not a trailer: too short, a wrong magic, a family mix.
    EXPECT_FALSE(decode_forwarded(std::span<const uint8_t>(wire).first(kForwardTrailerSize)));
    auto bad = wire;
    bad.back() ^= 1;
    EXPECT_FALSE(decode_forwarded(bad));
    auto mixed = wire;
    mixed[packet.size()] = 4;  // local address says IPv4, remote IPv6
    EXPECT_FALSE(decode_forwarded(mixed));
    EXPECT_FALSE(decode_forwarded(packet));
}

TEST_F(EndpointRouting, AnotherWorkersConnectionIsDroppedNeverReset) {
    const auto cid = cid_of(*mine_, 5);
    endpoint_->on_datagram(path_, short_packet(cid, 200), 1, 1);
    EXPECT_TRUE(sink_.sent.empty());
    EXPECT_EQ(endpoint_->counters().dropped_unknown, 1u);
}

TEST_F(EndpointRouting, OurOwnUnknownConnectionGetsAStatelessResetSmallerThanThePacket) {
    const auto cid = cid_of(*mine_, 0);
    endpoint_->on_datagram(path_, short_packet(cid, 60), 1, 1);
    ASSERT_EQ(sink_.sent.size(), 1u);
    const std::vector<uint8_t>& reset = sink_.sent[0].bytes;
    EXPECT_LT(reset.size(), 60u);
    EXPECT_EQ(reset[0] & 0xc0, 0x40);  // looks like a short-header packet
    // It ends with the token every node of the fleet computes for this ID.
    std::array<uint8_t, kResetTokenLength> token{};
    theirs_->reset_token(cid, token);
    EXPECT_TRUE(std::equal(token.begin(), token.end(), reset.end() - kResetTokenLength));
    EXPECT_EQ(endpoint_->counters().stateless_resets, 1u);

    // Too small to answer without risking a reset loop: dropped.
    endpoint_->on_datagram(path_, short_packet(cid, 1 + kCidLength + 4), 2, 1);
    EXPECT_EQ(sink_.sent.size(), 1u);
}

TEST_F(EndpointRouting, GarbageAndUnacceptableInitialsAreCountedAndDropped) {
    const std::vector<uint8_t> one_byte{0x40};
    endpoint_->on_datagram(path_, one_byte, 1, 1);
    // An empty datagram is legal UDP (and ngtcp2 asserts on it).
    endpoint_->on_datagram(path_, {}, 1, 1);
    // A long header of QUIC v1 that is not an Initial of acceptable size.
    std::vector<uint8_t> long_header(40, 0);
    long_header[0] = 0xc0 | 0x20;  // Handshake packet type
    long_header[4] = 1;            // version 1
    long_header[5] = 8;            // DCID length
    endpoint_->on_datagram(path_, long_header, 2, 1);
    EXPECT_TRUE(sink_.sent.empty());
    EXPECT_EQ(endpoint_->counters().dropped_garbage, 3u);
    EXPECT_EQ(endpoint_->connections(), 0u);
}

TEST_F(EndpointRouting, UnknownVersionIsAnsweredWithVersionNegotiation) {
    std::vector<uint8_t> p(1200, 0);
    p[0] = 0xc0;
    p[1] = 0x1a, p[2] = 0x2a, p[3] = 0x3a, p[4] = 0x4a;  // not a version we speak
    p[5] = 8;                                            // DCID length
    p[14] = 4;                                           // SCID length
    endpoint_->on_datagram(path_, p, 1, 1);
    ASSERT_EQ(sink_.sent.size(), 1u);
    const std::vector<uint8_t>& vn = sink_.sent[0].bytes;
    // Version 0 marks Version Negotiation; v1 is among the versions it lists.
    EXPECT_EQ(vn[1] | vn[2] | vn[3] | vn[4], 0);
    EXPECT_EQ(endpoint_->counters().version_negotiations, 1u);

    // Under 1200 bytes, an unknown version gets nothing (RFC 9000 §5.2.2): no amplification.
    p.resize(100);
    endpoint_->on_datagram(path_, p, 2, 1);
    EXPECT_EQ(sink_.sent.size(), 1u);
    EXPECT_EQ(endpoint_->counters().version_negotiations, 1u);
}

}  // namespace
}  // namespace anyedge::quic
