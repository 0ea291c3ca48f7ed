// The QUIC endpoint fuzz target: arbitrary datagrams and timer ticks against a real Endpoint
// (GnuTLS certificate, fleet-keyed connection IDs, an HTTP/3 handler), as the UDP socket would
// deliver them. Input, as records:
//   0 LEN_HI LEN_LO BYTES...  a datagram of LEN bytes (the seed corpus holds real Initials)
//   1 N                       time passes by N ms and the timers run
//   2                         a drain: GOAWAY on every connection
// Invariants: nothing crashes, hangs or leaks (ASan); every datagram is handled or counted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "edge/quic/endpoint.h"
#include "tests/edge/h3_client_driver.h"
#include "tests/fuzz/fuzz_targets.h"

namespace anyedge::fuzz {
namespace {

class DropSink final : public quic::DatagramSink {
  public:
    void send(const quic::PathAddr&, std::span<const uint8_t> data, size_t) override {
        bytes += data.size();
    }
    size_t bytes = 0;
};

class SmallHandler final : public quic::H3Handler {
  public:
    void on_request(const quic::H3Request& request, const quic::PathAddr&,
                    quic::H3Response& r) override {
        static const std::string status = "200", body = "hello";
        r.fields.emplace_back(":status", status);
        if (request.method != "HEAD") {
            r.body.push_back({const_cast<char*>(body.data()), body.size()});
        }
    }
};

quic::PathAddr loopback_path() {
    quic::PathAddr p;
    auto* local = reinterpret_cast<sockaddr_in*>(&p.local.addr);
    local->sin_family = AF_INET;
    local->sin_port = htons(443);
    local->sin_addr.s_addr = htonl(0x7f000001);
    p.local.len = sizeof(sockaddr_in);
    p.remote = p.local;
    reinterpret_cast<sockaddr_in*>(&p.remote.addr)->sin_port = htons(50000);
    return p;
}

}  // namespace

void quic_datagrams(const uint8_t* data, size_t size) {
    // The certificate and the fleet's connection-ID key, made once (the test client's server).
    quic::testing::ServerSide& s = quic::testing::server_side();
    SmallHandler handler;
    DropSink sink;
    quic::H3Shared config;
    config.tls = s.tls.get();
    config.ids = &*s.ids;
    config.handler = &handler;
    config.limits.retry_above_per_s = 1000;
    quic::Endpoint endpoint(config, sink, 64);
    const quic::PathAddr path = loopback_path();
    quic::Timestamp now = 1'000'000'000;
    const quic::Timestamp wall = 1'800'000'000ull * 1'000'000'000;
    size_t i = 0;
    for (int steps = 0; i < size && steps < 4096; ++steps) {
        const uint8_t op = data[i++] % 3;
        if (op == 0) {
            if (i + 2 > size) break;
            const size_t len = std::min<size_t>((size_t(data[i]) << 8) | data[i + 1], size - i - 2);
            i += 2;
            endpoint.on_datagram(path, std::span<const uint8_t>(data + i, len), now, wall);
            i += len;
        } else if (op == 1) {
            if (i >= size) break;
            now += quic::Timestamp(data[i++]) * 1'000'000;
            endpoint.on_timers(now);
        } else {
            endpoint.shutdown(now, false);
        }
    }
    // Let every connection time out, so that what they hold is given back before the end.
    for (int k = 0; k < 64 && endpoint.connections() > 0; ++k) {
        now += 5'000'000'000ull;
        endpoint.on_timers(now);
    }
}

}  // namespace anyedge::fuzz
