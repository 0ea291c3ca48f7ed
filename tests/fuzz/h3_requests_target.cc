// The HTTP/3 request fuzz target: a real QUIC client in the same process (ngtcp2 and GnuTLS, as
// browsers' stacks do it) finishes a handshake with a real Endpoint over in-memory datagrams,
// then sends what the input says on its request streams. The quic_datagrams target cannot get
// here: its datagrams never finish a handshake, so the edge's HTTP/3 layer (fields, answers
// from the site's snapshot, bodies referenced until sent, stream reuse, header timeouts, the
// drain) was not fuzzed. Input: the first byte is ignored; each record then is, by its first
// byte modulo 8:
//   0 F       a well-formed request on a new stream (F: method, path, FIN or not)
//   1 N ...   a new request stream carrying the next N bytes as they are (HTTP/3 frames or not)
//   2 N ...   N more bytes on the last raw stream, then its FIN when N is odd
//   3 C       the client resets its last stream with code C (RESET_STREAM and STOP_SENDING)
//   4 N       N x 10 ms pass and both sides' timers run
//   5         the server drains (GOAWAY)
//   6         the server's next datagrams are lost until the next 6 (loss recovery)
//   7 N       the client stops reading for N rounds (the server's windows fill)
// Invariants: nothing crashes or leaks (ASan); once time runs out, every connection is gone.
#include <string>

#include "tests/edge/h3_client_driver.h"
#include "tests/fuzz/fuzz_targets.h"

namespace anyedge::fuzz {

using quic::testing::kMs;
using quic::testing::request_frame;
using quic::testing::World;

void h3_requests(const uint8_t* data, size_t size) {
    World w;
    if (!w.start()) std::abort();  // a real client must always get this far
    size_t i = 1;
    for (int steps = 0; i < size && steps < 512 && !w.client->dead; ++steps) {
        const uint8_t op = data[i++] % 8;
        if (op != 5 && op != 6 && i >= size) break;  // the others take an argument byte
        const uint8_t arg = op != 5 && op != 6 ? data[i] : 0;
        switch (op) {
            case 0: {
                ++i;
                const int64_t id = w.open_stream();
                if (id >= 0) w.client->queue(id, request_frame(arg), (arg & 0x10) == 0);
                break;
            }
            case 1:
            case 2: {
                ++i;
                const size_t n = std::min<size_t>(arg, size - i);
                std::string bytes(reinterpret_cast<const char*>(data + i), n);
                i += n;
                const int64_t id = op == 1 ? w.open_stream() : w.client->last_stream;
                if (id >= 0) w.client->queue(id, std::move(bytes), op == 2 && (n & 1));
                break;
            }
            case 3:
                ++i;
                if (w.client->last_stream >= 0) {
                    ngtcp2_conn_shutdown_stream(w.client->conn, w.client->last_stream, arg);
                }
                break;
            case 4:
                ++i;
                w.pass(quic::Timestamp(arg) * 10 * kMs);
                break;
            case 5:
                w.endpoint->shutdown(w.now, false);
                break;
            case 6:
                w.lose = !w.lose;
                break;
            default:
                ++i;
                w.deaf_rounds = arg % 8;
                break;
        }
        w.pump();
    }
    // Time runs out for everything: every connection must be gone, and what it held with it.
    w.lose = true;
    for (int k = 0; k < 64 && w.endpoint->connections() > 0; ++k) w.pass(5'000'000'000ull);
    check(w.endpoint->connections() == 0);
}

}  // namespace anyedge::fuzz
