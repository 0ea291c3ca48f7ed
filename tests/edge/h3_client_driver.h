// A real HTTP/3 client and a real Endpoint in one process, for tests and the h3_requests fuzz
// target: ngtcp2 and GnuTLS on the client side (the stacks browsers build on), a handshake over
// in-memory datagrams on a virtual clock, then HTTP/3 written by hand on request streams (QPACK
// static-table references and literals only, so no encoder stream is needed), so that a test
// can send what no HTTP/3 library would. The server side is the edge's: Endpoint, H3Connection
// and the H3Responder answering from a small snapshot.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bench/h3load/quic_client_setup.h"
#include "edge/cache/snapshot.h"
#include "edge/quic/endpoint.h"
#include "edge/server/h3_responder.h"
#include "edge/tls/self_signed.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace anyedge::quic::testing {

constexpr Timestamp kMs = 1'000'000;

struct ServerSide {
    std::unique_ptr<QuicTlsStore> tls;
    std::optional<ConnectionIds> ids;
    std::shared_ptr<const cache::Snapshot> site;
    gnutls_certificate_credentials_t client_credentials = nullptr;
};

inline ServerSide& server_side() {
    static ServerSide s = [] {
        ServerSide made;
        const auto dir = std::filesystem::temp_directory_path() /
                         ("anyedge-h3-driver-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        const std::string crt = (dir / "c.pem").string(), key = (dir / "k.pem").string();
        if (!tls::generate_self_signed(crt, key).ok()) std::abort();
        auto loaded = QuicTls::load({{crt, key}});
        std::filesystem::remove_all(dir);
        if (!loaded.ok()) std::abort();
        made.tls = std::make_unique<QuicTlsStore>(std::move(*loaded));
        const std::array<uint8_t, 16> key_bytes{9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8};
        auto ids = ConnectionIds::create(key_bytes, 1);
        if (!ids.ok()) std::abort();
        made.ids.emplace(std::move(*ids));
        std::string big(40 * 1024, '\0');
        for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        std::vector<cache::FileSpec> files;
        files.push_back(
            {"/index.html", "text/html", 0, "", std::string("<p>hi</p>\n"), {}, {}, {}});
        files.push_back(
            {"/big.bin", "application/octet-stream", 0, "", std::move(big), {}, {}, {}});
        made.site = cache::Snapshot::build(std::move(files), {}, 1);
        gnutls_certificate_allocate_credentials(&made.client_credentials);
        return made;
    }();
    return s;
}

inline sockaddr_in address(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    return a;
}

// The server's datagrams, split into their GSO segments.
class Capture final : public DatagramSink {
  public:
    void send(const PathAddr&, std::span<const uint8_t> data, size_t segment) override {
        if (segment == 0) segment = data.size();
        for (size_t at = 0; at < data.size(); at += segment) {
            const size_t n = std::min(segment, data.size() - at);
            datagrams.emplace_back(data.begin() + at, data.begin() + at + n);
        }
    }
    std::vector<std::vector<uint8_t>> datagrams;
};

// The client: ngtcp2 and GnuTLS, with HTTP/3 written by hand (QPACK static-table references
// and literals only, so no encoder stream is needed).
struct Client {
    ngtcp2_conn* conn = nullptr;
    gnutls_session_t session = nullptr;
    ngtcp2_crypto_conn_ref ref{};
    sockaddr_in local = address(50000), remote = address(443);
    uint64_t rand_state = 1;
    // Stream data stays valid until the connection goes: ngtcp2 retransmits from it.
    std::deque<std::string> kept;
    struct Pending {
        int64_t stream;
        std::string_view bytes;
        bool fin;
    };
    std::deque<Pending> pending;
    int64_t last_stream = -1;
    bool handshake_done = false;
    bool dead = false;
    // What the server sent on each request stream, whether it ended it, and its resets.
    std::map<int64_t, std::string> received;
    std::set<int64_t> finished;
    std::vector<std::pair<int64_t, uint64_t>> resets;  // stream, H3 error code

    ~Client() {
        if (conn) ngtcp2_conn_del(conn);
        if (session) gnutls_deinit(session);
    }
    ngtcp2_path path() {
        return {{reinterpret_cast<sockaddr*>(&local), sizeof local},
                {reinterpret_cast<sockaddr*>(&remote), sizeof remote},
                nullptr};
    }
    void queue(int64_t stream, std::string bytes, bool fin) {
        kept.push_back(std::move(bytes));
        pending.push_back({stream, kept.back(), fin});
    }
};

inline Client& client_of(void* user_data) { return *static_cast<Client*>(user_data); }

inline void client_rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx* ctx) {
    auto& state = *static_cast<uint64_t*>(ctx->native_handle);
    for (size_t i = 0; i < len; ++i) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        dest[i] = uint8_t(state >> 56);
    }
}

inline int client_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen,
                          void* user) {
    Client& c = client_of(user);
    uint8_t b[NGTCP2_MAX_CIDLEN];
    ngtcp2_rand_ctx rctx{&c.rand_state};
    client_rand(b, cidlen, &rctx);
    ngtcp2_cid_init(cid, b, cidlen);
    client_rand(token, NGTCP2_STATELESS_RESET_TOKENLEN, &rctx);
    return 0;
}

// The server's bytes on request streams are kept (its control and QPACK streams dropped), and
// the windows given back so that it can send on.
inline int client_recv_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t,
                                   const uint8_t* data, size_t len, void* user, void*) {
    Client& c = client_of(user);
    if ((stream_id & 0x3) == 0) {
        c.received[stream_id].append(reinterpret_cast<const char*>(data), len);
        if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) c.finished.insert(stream_id);
    }
    ngtcp2_conn_extend_max_stream_offset(conn, stream_id, len);
    ngtcp2_conn_extend_max_offset(conn, len);
    return 0;
}

inline int client_stream_reset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t code, void* user,
                               void*) {
    client_of(user).resets.emplace_back(stream_id, code);
    return 0;
}

inline int client_handshake_completed(ngtcp2_conn*, void* user) {
    client_of(user).handshake_done = true;
    return 0;
}

inline std::unique_ptr<Client> make_client(Timestamp now) {
    auto c = std::make_unique<Client>();
    gnutls_init(&c->session, GNUTLS_CLIENT);
    gnutls_priority_set_direct(
        c->session,
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-X25519", nullptr);
    ngtcp2_crypto_gnutls_configure_client_session(c->session);
    c->ref.get_conn = [](ngtcp2_crypto_conn_ref* r) {
        return static_cast<Client*>(r->user_data)->conn;
    };
    c->ref.user_data = c.get();
    gnutls_session_set_ptr(c->session, &c->ref);
    gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, server_side().client_credentials);
    quic_client::offer_h3(c->session, "localhost");

    ngtcp2_callbacks cb{};
    quic_client::set_crypto_callbacks(cb);
    cb.rand = client_rand;
    cb.get_new_connection_id = client_new_cid;
    cb.recv_stream_data = client_recv_stream_data;
    cb.handshake_completed = client_handshake_completed;
    cb.stream_reset = client_stream_reset;
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now;
    settings.rand_ctx.native_handle = &c->rand_state;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_uni = 64 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = 30 * NGTCP2_SECONDS;
    uint8_t d[18], s[17];
    ngtcp2_rand_ctx rctx{&c->rand_state};
    client_rand(d, sizeof d, &rctx);
    client_rand(s, sizeof s, &rctx);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d, sizeof d);
    ngtcp2_cid_init(&scid, s, sizeof s);
    const ngtcp2_path p = c->path();
    if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &p, NGTCP2_PROTO_VER_V1, &cb, &settings,
                               &params, nullptr, c.get()) != 0) {
        std::abort();
    }
    ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
    return c;
}

// QUIC's variable-length integer (RFC 9000 §16), for frame lengths below 2^14.
inline void put_varint(std::string& out, size_t v) {
    if (v < 64) {
        out.push_back(char(v));
    } else {
        out.push_back(char(0x40 | (v >> 8)));
        out.push_back(char(v & 0xff));
    }
}

// A HEADERS frame (RFC 9114 §7.2.2) whose field section (RFC 9204 §4.5) uses only the static
// table: F bits 0-1 the method (GET, HEAD, POST, OPTIONS), bits 2-3 the path.
inline std::string request_frame(uint8_t f) {
    static const uint8_t kMethod[] = {17, 18, 20, 19};  // static-table :method entries
    static const char* const kPaths[] = {"/index.html", "/big.bin", "/missing", "/"};
    std::string section = {0x00, 0x00};              // no dynamic-table references
    section.push_back(char(0xc0 | kMethod[f & 3]));  // indexed field line, static
    section.push_back(char(0xc0 | 23));              // :scheme https
    section.push_back(char(0x50));                   // :authority (static 0), literal value
    section.push_back(char(9));
    section += "localhost";
    const std::string path = kPaths[(f >> 2) & 3];
    section.push_back(char(0x51));  // :path (static 1), literal value
    section.push_back(char(path.size()));
    section += path;
    std::string frame;
    put_varint(frame, 0x01);
    put_varint(frame, section.size());
    return frame + section;
}

struct World {
    Capture sink;
    server::H3Responder responder{http::ParserLimits{}, nullptr};
    H3Shared config;
    std::unique_ptr<Endpoint> endpoint;
    std::unique_ptr<Client> client;
    PathAddr server_path;
    Timestamp now = 1'000'000'000;
    const Timestamp wall = 1'800'000'000ull * 1'000'000'000;
    bool lose = false;
    int deaf_rounds = 0;

    World() {
        ServerSide& s = server_side();
        server::ResponseContext ctx;
        ctx.date_line = "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n";
        responder.set_turn(s.site.get(), ctx, nullptr, nullptr);
        config.tls = s.tls.get();
        config.ids = &*s.ids;
        config.handler = &responder;
        config.limits.retry_above_per_s = 1000;
        config.limits.header_timeout_ms = 200;
        endpoint = std::make_unique<Endpoint>(config, sink, 8);
        const sockaddr_in server = address(443), peer = address(50000);
        std::memcpy(&server_path.local.addr, &server, sizeof server);
        server_path.local.len = sizeof server;
        std::memcpy(&server_path.remote.addr, &peer, sizeof peer);
        server_path.remote.len = sizeof peer;
        client = make_client(now);
    }

    // Packets both ways until neither side has anything to send (bounded).
    void pump() {
        Client& c = *client;
        for (int round = 0; round < 64 && !c.dead; ++round) {
            bool moved = false;
            for (int k = 0; k < 256; ++k) {
                uint8_t buf[1500];
                ngtcp2_path_storage ps;
                ngtcp2_path_storage_zero(&ps);
                ngtcp2_pkt_info pi{};
                ngtcp2_ssize wdata = -1;
                int64_t stream = -1;
                ngtcp2_vec v{nullptr, 0};
                uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
                if (!c.pending.empty() && c.handshake_done) {
                    const Client::Pending& p = c.pending.front();
                    stream = p.stream;
                    v = {reinterpret_cast<uint8_t*>(const_cast<char*>(p.bytes.data())),
                         p.bytes.size()};
                    if (p.fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
                }
                const ngtcp2_ssize n = ngtcp2_conn_writev_stream(
                    c.conn, &ps.path, &pi, buf, sizeof buf, &wdata, flags, stream,
                    stream < 0 ? nullptr : &v, stream < 0 ? 0 : 1, now);
                if (stream >= 0) {
                    Client::Pending& p = c.pending.front();
                    if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
                        n == NGTCP2_ERR_STREAM_NOT_FOUND) {
                        c.pending.pop_front();  // nothing more goes on this stream
                        continue;
                    }
                    if (wdata >= 0) {
                        p.bytes.remove_prefix(size_t(wdata));
                        if (p.bytes.empty()) c.pending.pop_front();
                    }
                }
                if (n < 0) {
                    c.dead = true;
                    break;
                }
                if (n == 0) break;
                endpoint->on_datagram(server_path, std::span<const uint8_t>(buf, size_t(n)), now,
                                      wall);
                moved = true;
            }
            std::vector<std::vector<uint8_t>> out;
            out.swap(sink.datagrams);
            if (deaf_rounds > 0) {
                --deaf_rounds;  // unread: like a client whose socket is full
            } else {
                for (const auto& d : out) {
                    moved = true;
                    if (lose) continue;
                    const ngtcp2_path p = c.path();
                    ngtcp2_pkt_info pi{};
                    if (ngtcp2_conn_read_pkt(c.conn, &p, &pi, d.data(), d.size(), now) != 0) {
                        c.dead = true;
                        break;
                    }
                }
            }
            if (!moved) break;
        }
    }

    void pass(Timestamp dt) {
        now += dt;
        endpoint->on_timers(now);
        if (!client->dead && ngtcp2_conn_get_expiry(client->conn) <= now &&
            ngtcp2_conn_handle_expiry(client->conn, now) != 0) {
            client->dead = true;
        }
        pump();
    }

    // The handshake, then the client's control stream (RFC 9114 §6.2.1) with empty SETTINGS.
    // False if the handshake did not finish, which a real client's always does here.
    bool start() {
        for (int k = 0; k < 16 && !client->handshake_done && !client->dead; ++k) pass(kMs);
        if (!client->handshake_done) return false;
        int64_t control = -1;
        if (ngtcp2_conn_open_uni_stream(client->conn, &control, nullptr) == 0) {
            client->queue(control, std::string{0x00, 0x04, 0x00}, false);
        }
        pump();
        return true;
    }

    int64_t open_stream() {
        int64_t id = -1;
        if (client->dead || ngtcp2_conn_open_bidi_stream(client->conn, &id, nullptr) != 0) {
            return -1;
        }
        client->last_stream = id;
        return id;
    }
};

}  // namespace anyedge::quic::testing
