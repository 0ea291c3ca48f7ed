// The own-records fuzz target: a real TLS 1.3 handshake between an OpenSSL client and a server
// TlsSession, then arbitrary events against the server's own record layer. Each input byte is
// one event; low 3 bits:
//   0: the client sends ((byte >> 3) + 1) * 37 bytes     1: ((byte >> 3) + 1) raw input bytes
//      (taken from the input) reach the server as they are
//   2: a client KeyUpdate (bit 3: update_requested), then 5 bytes   3: the server writes
//   4: the client reads what the server sent                      5: the server reads
//   6: the server sheds its buffers      7: by (byte >> 3) % 3: the server's close_notify, the
//      peer's FIN, or one flipped bit in the client's next record
// Invariants: nothing crashes or leaks (ASan); while no byte was forged, everything the client
// sent arrives at the server intact and in order, and the server never fails.

#include <cstdlib>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "edge/tls/tls_context.h"
#include "edge/tls/tls_session.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_tls_context.h"

namespace anyedge::fuzz {
namespace {

SSL_CTX* client_context() {
    static SSL_CTX* ctx = [] {
        SSL_CTX* c = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
        return c;
    }();
    return ctx;
}

// Moves what `from` has to send into `to`; a bit of the first byte flipped when asked.
void transfer(tls::TlsSession& from, tls::TlsSession& to, int flip_at = -1) {
    for (int i = 0; i < 64; ++i) {
        std::string_view pending = from.pending_ciphertext();
        if (pending.empty()) return;
        std::string bytes(pending);
        if (flip_at >= 0 && !bytes.empty()) {
            bytes[static_cast<size_t>(flip_at) % bytes.size()] ^= 0x01;
            flip_at = -1;
        }
        const size_t n = to.feed_ciphertext(bytes);
        if (n == 0) return;
        from.consume_ciphertext(n);
    }
}

}  // namespace

void tls_records(const uint8_t* data, size_t size) {
    tls::SslPtr ssl(SSL_new(client_context()));
    SSL_set_connect_state(ssl.get());
    auto c = tls::TlsSession::adopt(std::move(ssl));
    auto s = tls::TlsSession::accept(fuzz_server_context());
    check(c.ok() && s.ok());
    tls::TlsSession& client = *c;
    tls::TlsSession& server = *s;
    for (int i = 0; i < 20 && !(client.handshake_done() && server.handshake_done()); ++i) {
        client.handshake();
        transfer(client, server);
        server.handshake();
        transfer(server, client);
    }
    check(server.owns_records());
    ERR_clear_error();

    std::string sent;
    std::string received;
    bool forged = false;
    char buf[4096];
    auto server_reads = [&] {
        // Bounded by the input: at most one read per record it can hold, plus one.
        for (size_t i = 0; i <= size * 64 + 64; ++i) {
            const tls::TlsIo r = server.read_plaintext(buf);
            if (r.bytes > 0) received.append(buf, r.bytes);
            if (r.status != tls::TlsStatus::ok) return;
        }
    };
    size_t i = 0;
    while (i < size) {
        const uint8_t b = data[i++];
        const unsigned arg = b >> 3;
        switch (b & 7) {
            case 0: {
                std::string chunk((arg + 1) * 37, static_cast<char>('a' + sent.size() % 26));
                const tls::TlsIo w = client.write_plaintext(chunk);
                sent.append(chunk, 0, w.bytes);
                transfer(client, server);
                break;
            }
            case 1: {
                const size_t n = std::min<size_t>(arg + 1, size - i);
                server.feed_ciphertext({reinterpret_cast<const char*>(data + i), n});
                i += n;
                forged = forged || n > 0;
                break;
            }
            case 2:
                SSL_key_update(client.native_handle(),
                               (arg & 1) ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
                if (client.write_plaintext(std::string_view("after")).status ==
                    tls::TlsStatus::ok) {
                    sent += "after";
                }
                transfer(client, server);
                break;
            case 3: {
                const std::string a(arg * 500 + 1, 'x'), z(700, 'y');
                const iovec pieces[] = {{const_cast<char*>(a.data()), a.size()},
                                        {const_cast<char*>(z.data()), z.size()}};
                server.write_plaintext(std::span<const iovec>(pieces));
                break;
            }
            case 4:
                transfer(server, client);
                for (int k = 0; k < 64 && client.read_plaintext(buf).status == tls::TlsStatus::ok;
                     ++k) {
                }
                ERR_clear_error();
                break;
            case 5:
                server_reads();
                break;
            case 6:
                server.shed_buffers();
                break;
            case 7:
                if (arg % 3 == 0) {
                    server.shutdown();
                } else if (arg % 3 == 1) {
                    server.feed_eof();
                    forged = true;  // a FIN mid-stream is truncation, not an answer
                } else {
                    if (client.write_plaintext(std::string_view("flip")).status ==
                        tls::TlsStatus::ok) {
                        sent += "flip";
                    }
                    transfer(client, server, static_cast<int>(arg));
                    forged = true;
                }
                break;
        }
    }
    // Deliver what the client still holds (the server's input buffer may have been full).
    for (int round = 0; round < 1000 && !client.pending_ciphertext().empty() && !server.failed();
         ++round) {
        transfer(client, server);
        server_reads();
    }
    server_reads();
    if (!forged) {
        // Nothing forged: every byte the client sent arrived, in order, and nothing failed.
        check(!server.failed());
        check(received == sent);
    } else {
        // Forged bytes never authenticate: what arrived is still what the client sent.
        check(received.size() <= sent.size() && sent.compare(0, received.size(), received) == 0);
    }
    ERR_clear_error();
}

}  // namespace anyedge::fuzz
