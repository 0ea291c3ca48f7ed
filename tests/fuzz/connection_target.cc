// The connection fuzz target: arbitrary event sequences against a Connection (plain or TLS),
// driven without sockets by tests/edge/connection_driver.h. Input: the first byte picks the
// transport (bit 0: TLS) and draining (bit 1); each following byte is one event:
//   low 3 bits 0-3: receive the next (byte >> 3) + 1 input bytes
//              4: the clock moves 60 ms (the idle release)   5: it moves 20 s (timeouts)
//              6: the peer's FIN                             7: by (byte >> 3) % 4: a reset,
//                 a stop, unread input toggled, or (TLS) a real client's ClientHello.
// Invariants: nothing crashes or leaks (ASan), every send completes, and a closed connection
// holds nothing.

#include <cstdlib>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "edge/tls/tls_context.h"
#include "tests/edge/connection_driver.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_tls_context.h"

namespace anyedge::fuzz {
namespace {

// A real client's first flight, offering h2 and http/1.1.
std::string client_hello() {
    static const std::string hello = [] {
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        SSL* ssl = SSL_new(ctx);
        BIO* internal = nullptr;
        BIO* network = nullptr;
        BIO_new_bio_pair(&internal, 0, &network, 0);
        SSL_set_bio(ssl, internal, internal);
        SSL_set_connect_state(ssl);
        static const unsigned char alpn[] = "\x02h2\x08http/1.1";
        SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1);
        SSL_do_handshake(ssl);
        std::string out;
        char buf[4096];
        for (int n; (n = BIO_read(network, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
        SSL_free(ssl);
        BIO_free(network);
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return out;
    }();
    return hello;
}

}  // namespace

void connection(const uint8_t* data, size_t size) {
    if (size == 0) return;
    const bool tls = data[0] & 1;
    server::ConnectionOptions options;
    options.header_timeout_ms = 1000;
    options.idle_timeout_ms = 5000;
    options.session.output_budget = 8 * 1024;  // reach back-pressure with small inputs
    server::testing::ConnectionDriver d(options);
    d.set_draining(data[0] & 2);
    if (tls) {
        auto session = tls::TlsSession::accept(fuzz_server_context());
        check(session.ok());
        d.start(std::make_unique<tls::TlsSession>(std::move(*session)));
    } else {
        d.start();
    }
    size_t i = 1;
    while (i < size && !d.closed()) {
        const uint8_t b = data[i++];
        switch (b & 7) {
            case 0:
            case 1:
            case 2:
            case 3: {
                const size_t n = std::min<size_t>((b >> 3) + 1, size - i);
                d.receive(std::string_view(reinterpret_cast<const char*>(data + i), n));
                i += n;
                break;
            }
            case 4:
                d.tick(60);
                break;
            case 5:
                d.tick(20000);
                break;
            case 6:
                d.receive_end(0);
                break;
            default:
                switch ((b >> 3) % 4) {
                    case 0:
                        d.receive_end(-ECONNRESET);
                        break;
                    case 1:
                        d.stop();
                        break;
                    case 2:
                        d.io().unread = !d.io().unread;
                        break;
                    default:
                        if (tls) d.receive(client_hello());
                        break;
                }
        }
        check(d.io().queue.empty());  // the driver completed every operation
        check(d.counters().in_flight.load() == 0);
    }
    // However it ended, the connection ends: a stop and the timeouts close it.
    d.stop();
    for (int k = 0; k < 4 && !d.closed(); ++k) d.tick(20000);
    d.receive_end(0);
    check(d.closed());
    check(!d.connection().in_use());
    check(!d.connection().holds_session() && !d.connection().holds_output_queues());
}

}  // namespace anyedge::fuzz
