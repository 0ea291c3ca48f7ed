// h3load: a small HTTP/3 load client for bench/ (Debian's h2load has no HTTP/3), on ngtcp2 +
// nghttp3's client API and GnuTLS, single-threaded, one UDP socket per connection.
//
//   h3load -c CONNS -m STREAMS -D SECONDS [-n REQUESTS] [--new] [-H 'name: value']...
//          [--raw-first] [--print] [--body FILE] [--ack-every N] https://HOST:PORT/PATH
//
// Keeps CONNS connections with STREAMS requests in flight on each for SECONDS (or until
// REQUESTS answers); with --new, every connection makes one request and closes (a new
// handshake per request). -H adds a request field. --print writes the first response's fields
// ("< name: value") and --body its body, for tests. A response counts as succeeded when its
// status is 2xx or 3xx. --slow-request opens a request and never finishes its header section
// (slowloris), and reports when the server refuses the stream. --ack-every N (default 10, as
// Chrome acknowledges on a busy connection) sets how many packets each acknowledgement waits
// for. --raw-first sends each connection's first request with exactly the -H fields, in their
// order, names as given and pseudo-fields included (for tests of malformed requests), and the
// later ones as usual; a stream the server resets counts as failed, and its error code is
// printed ("stream resets: N, codes 0x10e"). Prints h2load-like lines that
// bench.py reads:
//   requests: N total, N succeeded, N failed
//   traffic: BYTES bytes body
//   socket drops: N datagrams (dropped by this client's full sockets: loss the server repaired)
//   largest datagram: N bytes (received)
//   finished in S s, R req/s
// Certificates are not verified (the bench serves a throwaway one).
#include <arpa/inet.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/h3load/quic_client_setup.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <poll.h>

namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000 + uint64_t(ts.tv_nsec);
}

struct Options {
    int conns = 1;
    int streams = 1;
    double seconds = 5;
    bool fresh = false;  // --new: one request per connection
    // --ack-every N: acknowledge every N ack-eliciting packets (ngtcp2's ack_thresh). 10, as
    // Chrome does on a connection past its first 100 packets (QUIC ACK decimation); ngtcp2's
    // own default is 2.
    size_t ack_every = 10;
    long max_requests = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    bool print = false;
    std::string body_file;
    // --slow-request: each connection opens one request stream, sends the first bytes of a
    // HEADERS frame and nothing more (slowloris); reports when the server resets the stream.
    bool slow = false;
    bool raw_first = false;  // --raw-first
    std::string host, port, path, authority;
};

struct Totals {
    uint64_t ok = 0, failed = 0, bytes = 0, connections = 0, connect_failures = 0;
    uint64_t started = 0;
    int64_t printed_stream = -1;  // the stream whose response --print shows
    uint64_t slow_resets = 0;
    uint64_t socket_drops = 0;    // datagrams the kernel dropped for want of socket buffer
    size_t largest_datagram = 0;  // received: shows whether the server's PMTUD took effect
    double first_slow_reset_ms = -1;
    std::vector<uint64_t> reset_codes;  // of request streams the server reset, in order
    std::string body;
};

gnutls_certificate_credentials_t g_cred = nullptr;
sockaddr_storage g_server{};
socklen_t g_server_len = 0;
std::mt19937_64 g_rng{std::random_device{}()};

void rand_bytes(uint8_t* dest, size_t len) {
    for (size_t i = 0; i < len; ++i) dest[i] = uint8_t(g_rng());
}

class Client;

struct Conn {
    Client* client = nullptr;
    int fd = -1;
    sockaddr_storage local{};
    socklen_t local_len = 0;
    ngtcp2_conn* conn = nullptr;
    nghttp3_conn* h3 = nullptr;
    gnutls_session_t session = nullptr;
    ngtcp2_crypto_conn_ref ref{};
    int in_flight = 0;
    int started = 0;  // requests submitted on this connection
    bool handshake_done = false;
    bool closing = false;
    bool dead = false;
    uint32_t socket_drops = 0;  // the kernel's running count for this socket (SO_RXQ_OVFL)
    uint64_t born = 0;
    int64_t slow_stream = -1;
    bool slow_pending = false;
    std::vector<int> statuses;
    std::vector<int64_t> open_requests;  // submitted, not yet ended or reset

    ~Conn() {
        if (h3) nghttp3_conn_del(h3);
        if (conn) ngtcp2_conn_del(conn);
        if (session) gnutls_deinit(session);
        if (fd >= 0) close(fd);
    }
};

class Client {
  public:
    Client(Options o) : o_(std::move(o)) {}
    int run();

    Options o_;
    Totals t_;
    bool running_ = true;
    std::vector<std::unique_ptr<Conn>> conns_;

    std::unique_ptr<Conn> connect();
    void submit(Conn& c);
    bool write(Conn& c);
    void read(Conn& c);
    void finish_request(Conn& c, bool ok, int64_t stream_id);
};

Conn& conn_of(void* user_data) { return *static_cast<Conn*>(user_data); }

bool setup_h3(Conn& c);

int recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t* data,
                     size_t len, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    // The server's control and QPACK streams may arrive before our side is set up.
    if (!c.h3 && !setup_h3(c)) return NGTCP2_ERR_CALLBACK_FAILURE;
    const nghttp3_ssize n =
        nghttp3_conn_read_stream(c.h3, stream_id, data, len, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
    if (n < 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    ngtcp2_conn_extend_max_stream_offset(c.conn, stream_id, uint64_t(n));
    ngtcp2_conn_extend_max_offset(c.conn, uint64_t(n));
    return 0;
}

int acked_stream_data(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t len, void* user_data,
                      void*) {
    Conn& c = conn_of(user_data);
    if (c.h3 && nghttp3_conn_add_ack_offset(c.h3, stream_id, len) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

int stream_close(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t code, void* user_data,
                 void*) {
    Conn& c = conn_of(user_data);
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (c.h3) {
        const int rv = nghttp3_conn_close_stream(c.h3, stream_id, code);
        if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

// The server refusing a stream (RESET_STREAM or STOP_SENDING): for --slow-request, the result.
int peer_refused(Conn& c, int64_t stream_id) {
    if (stream_id != c.slow_stream || c.closing) return 0;
    Totals& t = c.client->t_;
    ++t.slow_resets;
    if (t.first_slow_reset_ms < 0) t.first_slow_reset_ms = double(now_ns() - c.born) / 1e6;
    c.closing = true;
    return 0;
}

int stream_reset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t code, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    if (std::find(c.open_requests.begin(), c.open_requests.end(), stream_id) !=
        c.open_requests.end()) {
        c.client->t_.reset_codes.push_back(code);
    }
    return peer_refused(c, stream_id);
}

int stream_stop_sending(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) {
    return peer_refused(conn_of(user_data), stream_id);
}

int extend_max_stream_data(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    if (c.h3) nghttp3_conn_unblock_stream(c.h3, stream_id);
    return 0;
}

int handshake_completed(ngtcp2_conn*, void* user_data) {
    conn_of(user_data).handshake_done = true;
    return 0;
}

int get_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void*) {
    uint8_t b[NGTCP2_MAX_CIDLEN];
    rand_bytes(b, cidlen);
    ngtcp2_cid_init(cid, b, cidlen);
    rand_bytes(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
}

void rand_cb(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) { rand_bytes(dest, len); }

int h3_recv_data(nghttp3_conn*, int64_t stream_id, const uint8_t* data, size_t len, void* user_data,
                 void*) {
    Conn& c = conn_of(user_data);
    c.client->t_.bytes += len;
    if (stream_id == c.client->t_.printed_stream && !c.client->o_.body_file.empty()) {
        c.client->t_.body.append(reinterpret_cast<const char*>(data), len);
    }
    ngtcp2_conn_extend_max_stream_offset(c.conn, stream_id, len);
    ngtcp2_conn_extend_max_offset(c.conn, len);
    return 0;
}

int h3_deferred_consume(nghttp3_conn*, int64_t stream_id, size_t n, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    ngtcp2_conn_extend_max_stream_offset(c.conn, stream_id, n);
    ngtcp2_conn_extend_max_offset(c.conn, n);
    return 0;
}

int h3_recv_header(nghttp3_conn*, int64_t stream_id, int32_t, nghttp3_rcbuf* name,
                   nghttp3_rcbuf* value, uint8_t, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    const nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
    Totals& t = c.client->t_;
    if (c.client->o_.print && (t.printed_stream < 0 || t.printed_stream == stream_id)) {
        t.printed_stream = stream_id;
        printf("< %.*s: %.*s\n", int(n.len), n.base, int(v.len), v.base);
    }
    if (n.len == 7 && memcmp(n.base, ":status", 7) == 0) {
        if (size_t(stream_id / 4) >= c.statuses.size()) c.statuses.resize(stream_id / 4 + 1);
        c.statuses[stream_id / 4] =
            atoi(std::string(reinterpret_cast<char*>(v.base), v.len).c_str());
    }
    return 0;
}

// A request stream is over: answered (end_stream), or reset by the server (stream_close first).
bool take_open_request(Conn& c, int64_t stream_id) {
    const auto it = std::find(c.open_requests.begin(), c.open_requests.end(), stream_id);
    if (it == c.open_requests.end()) return false;
    c.open_requests.erase(it);
    return true;
}

int h3_stream_close(nghttp3_conn*, int64_t stream_id, uint64_t, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    if (take_open_request(c, stream_id)) c.client->finish_request(c, false, stream_id);
    return 0;
}

int h3_end_stream(nghttp3_conn*, int64_t stream_id, void* user_data, void*) {
    Conn& c = conn_of(user_data);
    if (!take_open_request(c, stream_id)) return 0;
    const int status = size_t(stream_id / 4) < c.statuses.size() ? c.statuses[stream_id / 4] : 0;
    const bool ok = status >= 200 && status < 400;
    c.client->finish_request(c, ok, stream_id);
    return 0;
}

void Client::finish_request(Conn& c, bool ok, int64_t) {
    --c.in_flight;
    if (ok) {
        ++t_.ok;
    } else {
        ++t_.failed;
    }
    if (o_.fresh) {
        c.closing = true;  // one request per connection
    } else if (running_) {
        submit(c);
    }
}

std::unique_ptr<Conn> Client::connect() {
    auto c = std::make_unique<Conn>();
    c->client = this;
    c->born = now_ns();
    c->fd = socket(g_server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0 || ::connect(c->fd, reinterpret_cast<sockaddr*>(&g_server), g_server_len) != 0) {
        return nullptr;
    }
    // As QUIC clients do on Linux: a receive buffer that holds a burst of responses, and
    // UDP_GRO, so that a burst the server sent as one GSO batch arrives as one read. Without
    // them the client's socket overflowed at 16 x 8 KB in flight, and the server's figures
    // measured loss recovery. SO_RXQ_OVFL counts what the socket still drops; it is printed.
    const int on = 1, rcvbuf = 8 << 20;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // up to rmem_max
    }
    setsockopt(c->fd, SOL_UDP, UDP_GRO, &on, sizeof on);
    setsockopt(c->fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    c->local_len = sizeof c->local;
    getsockname(c->fd, reinterpret_cast<sockaddr*>(&c->local), &c->local_len);

    gnutls_init(&c->session,
                GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA);
    gnutls_priority_set_direct(
        c->session,
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:-GROUP-ALL:"
        "+GROUP-X25519:+GROUP-SECP256R1",
        nullptr);
    ngtcp2_crypto_gnutls_configure_client_session(c->session);
    c->ref.get_conn = [](ngtcp2_crypto_conn_ref* r) {
        return static_cast<Conn*>(r->user_data)->conn;
    };
    c->ref.user_data = c.get();
    gnutls_session_set_ptr(c->session, &c->ref);
    gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, g_cred);
    anyedge::quic_client::offer_h3(c->session, o_.host.c_str());

    ngtcp2_callbacks cb{};
    anyedge::quic_client::set_crypto_callbacks(cb);
    cb.rand = rand_cb;
    cb.get_new_connection_id = get_new_cid;
    cb.recv_stream_data = recv_stream_data;
    cb.acked_stream_data_offset = acked_stream_data;
    cb.stream_close = stream_close;
    cb.extend_max_stream_data = extend_max_stream_data;
    cb.handshake_completed = handshake_completed;
    cb.stream_reset = stream_reset;
    cb.stream_stop_sending = stream_stop_sending;

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    settings.max_window = 64 << 20;
    settings.initial_rtt = 10 * NGTCP2_MILLISECONDS;
    settings.max_stream_window = 32 << 20;
    settings.ack_thresh = o_.ack_every;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 8 << 20;
    params.initial_max_stream_data_bidi_remote = 1 << 20;
    params.initial_max_stream_data_uni = 1 << 20;  // the server's control and QPACK streams
    params.initial_max_data = 32 << 20;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = 30 * NGTCP2_SECONDS;

    uint8_t d[18], s[17];
    rand_bytes(d, sizeof d);
    rand_bytes(s, sizeof s);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d, sizeof d);
    ngtcp2_cid_init(&scid, s, sizeof s);
    ngtcp2_path path{{reinterpret_cast<sockaddr*>(&c->local), c->local_len},
                     {reinterpret_cast<sockaddr*>(&g_server), g_server_len},
                     nullptr};
    if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings,
                               &params, nullptr, c.get()) != 0) {
        return nullptr;
    }
    ngtcp2_conn_set_tls_native_handle(c->conn, c->session);
    ++t_.connections;
    return c;
}

bool setup_h3(Conn& c) {
    if (c.h3) return true;
    if (ngtcp2_conn_get_streams_uni_left(c.conn) < 3) return false;
    nghttp3_callbacks cb{};
    cb.recv_data = h3_recv_data;
    cb.deferred_consume = h3_deferred_consume;
    cb.recv_header = h3_recv_header;
    cb.end_stream = h3_end_stream;
    cb.stream_close = h3_stream_close;
    nghttp3_settings s;
    nghttp3_settings_default(&s);
    s.qpack_max_dtable_capacity = 4096;
    s.qpack_blocked_streams = 100;
    if (nghttp3_conn_client_new(&c.h3, &cb, &s, nullptr, &c) != 0) return false;
    int64_t ctrl, enc, dec;
    return ngtcp2_conn_open_uni_stream(c.conn, &ctrl, nullptr) == 0 &&
           nghttp3_conn_bind_control_stream(c.h3, ctrl) == 0 &&
           ngtcp2_conn_open_uni_stream(c.conn, &enc, nullptr) == 0 &&
           ngtcp2_conn_open_uni_stream(c.conn, &dec, nullptr) == 0 &&
           nghttp3_conn_bind_qpack_streams(c.h3, enc, dec) == 0;
}

void Client::submit(Conn& c) {
    if (!c.h3 || c.closing || !running_) return;
    if (o_.fresh && c.started > 0) return;
    if (o_.max_requests > 0 && t_.started >= uint64_t(o_.max_requests)) return;
    int64_t id;
    if (int rv = ngtcp2_conn_open_bidi_stream(c.conn, &id, nullptr); rv != 0) {
        return;  // wait for credit
    }
    auto nv = [](const char* n, const std::string& v) {
        return nghttp3_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n)),
                          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), strlen(n),
                          v.size(), NGHTTP3_NV_FLAG_NONE};
    };
    static const std::string get = "GET", https = "https";
    std::vector<nghttp3_nv> h;
    const bool raw = o_.raw_first && c.started == 0;
    if (!raw) {
        h = {nv(":method", get), nv(":scheme", https), nv(":authority", o_.authority),
             nv(":path", o_.path)};
    }
    if (raw || !o_.raw_first) {
        for (const auto& [name, value] : o_.headers) h.push_back(nv(name.c_str(), value));
    }
    // nghttp3 lower-cases the names it copies; a raw request's fields go as they are (they
    // live as long as the options).
    if (raw) {
        for (nghttp3_nv& f : h)
            f.flags = NGHTTP3_NV_FLAG_NO_COPY_NAME | NGHTTP3_NV_FLAG_NO_COPY_VALUE;
    }
    if (int rv = nghttp3_conn_submit_request(c.h3, id, h.data(), h.size(), nullptr, nullptr);
        rv != 0) {
        return;
    }
    ++t_.started;
    ++c.in_flight;
    ++c.started;
    c.open_requests.push_back(id);
}

bool Client::write(Conn& c) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    const uint64_t ts = now_ns();
    if (c.slow_pending) {
        // A HEADERS frame (type 0x01) announcing 100 bytes (varint 0x40 0x64), then silence.
        static const uint8_t partial[] = {0x01, 0x40, 0x64};
        ngtcp2_vec v{const_cast<uint8_t*>(partial), sizeof partial};
        ngtcp2_ssize wdata = -1;
        ngtcp2_pkt_info pi{};
        const ngtcp2_ssize w = ngtcp2_conn_writev_stream(c.conn, &ps.path, &pi, buf, sizeof buf,
                                                         &wdata, 0, c.slow_stream, &v, 1, ts);
        if (w < 0) return false;
        if (wdata == ngtcp2_ssize(sizeof partial)) c.slow_pending = false;
        if (w > 0) ::send(c.fd, buf, size_t(w), 0);
    }
    for (int guard = 0; guard < 1024; ++guard) {
        int64_t sid = -1;
        int fin = 0;
        nghttp3_vec vec[16];
        nghttp3_ssize n = 0;
        if (c.h3 && ngtcp2_conn_get_max_data_left(c.conn)) {
            n = nghttp3_conn_writev_stream(c.h3, &sid, &fin, vec, 16);
            if (n < 0) return false;
        }
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
        ngtcp2_ssize wdata = -1;
        ngtcp2_pkt_info pi{};
        const ngtcp2_ssize w =
            ngtcp2_conn_writev_stream(c.conn, &ps.path, &pi, buf, sizeof buf, &wdata, flags, sid,
                                      reinterpret_cast<const ngtcp2_vec*>(vec), size_t(n), ts);
        if (w < 0) {
            if (w == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                nghttp3_conn_block_stream(c.h3, sid);
                continue;
            }
            if (w == NGTCP2_ERR_STREAM_SHUT_WR) {
                nghttp3_conn_shutdown_stream_write(c.h3, sid);
                continue;
            }
            if (w == NGTCP2_ERR_WRITE_MORE) {
                nghttp3_conn_add_write_offset(c.h3, sid, size_t(wdata));
                continue;
            }
            return false;
        }
        if (wdata >= 0) nghttp3_conn_add_write_offset(c.h3, sid, size_t(wdata));
        if (w == 0) break;
        ::send(c.fd, buf, size_t(w), 0);
    }
    ngtcp2_conn_update_pkt_tx_time(c.conn, ts);
    return true;
}

void Client::read(Conn& c) {
    uint8_t buf[65536];
    ngtcp2_path path{{reinterpret_cast<sockaddr*>(&c.local), c.local_len},
                     {reinterpret_cast<sockaddr*>(&g_server), g_server_len},
                     nullptr};
    for (int i = 0; i < 64; ++i) {
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(c.fd, &msg, 0);
        if (n <= 0) return;
        size_t segment = size_t(n);  // one datagram, unless GRO says they were several
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
                int size = 0;
                std::memcpy(&size, CMSG_DATA(cm), sizeof size);
                if (size > 0) segment = size_t(size);
            } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
                uint32_t drops = 0;
                std::memcpy(&drops, CMSG_DATA(cm), sizeof drops);
                t_.socket_drops += uint32_t(drops - c.socket_drops);
                c.socket_drops = drops;
            }
        }
        for (size_t off = 0; off < size_t(n); off += segment) {
            ngtcp2_pkt_info pi{};
            const size_t len = std::min(segment, size_t(n) - off);
            t_.largest_datagram = std::max(t_.largest_datagram, len);
            if (ngtcp2_conn_read_pkt(c.conn, &path, &pi, buf + off, len, now_ns()) != 0) {
                c.dead = true;
                return;
            }
            if (c.handshake_done && !c.h3 && !setup_h3(c)) {
                c.dead = true;
                return;
            }
        }
    }
}

void close_conn(Conn& c) {
    uint8_t buf[1500];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi{};
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    ngtcp2_connection_close_error_set_application_error(&ccerr, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c.conn, &ps.path, &pi, buf,
                                                              sizeof buf, &ccerr, now_ns());
    if (n > 0) ::send(c.fd, buf, size_t(n), 0);
}

int Client::run() {
    const uint64_t start = now_ns();
    const uint64_t end = start + uint64_t(o_.seconds * 1e9);
    for (int i = 0; i < o_.conns; ++i) {
        if (auto c = connect()) conns_.push_back(std::move(c));
    }
    std::vector<pollfd> pfds;
    for (;;) {
        const uint64_t now = now_ns();
        if (running_ && now >= end) running_ = false;
        if (running_ && o_.max_requests > 0 && t_.ok + t_.failed >= uint64_t(o_.max_requests)) {
            running_ = false;
        }
        if (running_ && o_.slow && t_.slow_resets >= uint64_t(o_.conns)) running_ = false;
        // Start requests, replace finished connections.
        for (auto& c : conns_) {
            if (c->dead || (c->closing && c->in_flight == 0)) {
                if (!c->dead) {
                    close_conn(*c);
                } else if (c->in_flight > 0 || !c->handshake_done) {
                    t_.failed += uint64_t(std::max(c->in_flight, c->handshake_done ? 0 : 1));
                    ++t_.connect_failures;
                }
                c.reset();
                if (running_) c = connect();
                if (!c) continue;
            }
            if (c->h3 && o_.slow) {
                if (c->slow_stream < 0 &&
                    ngtcp2_conn_open_bidi_stream(c->conn, &c->slow_stream, nullptr) == 0) {
                    c->slow_pending = true;
                }
            } else if (c->h3) {
                while (c->in_flight < o_.streams && running_ && !c->closing) {
                    const int before = c->started;
                    submit(*c);
                    if (c->started == before) break;
                }
            }
            if (!write(*c)) c->dead = true;
        }
        std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c == nullptr; });
        if (!running_) {
            bool busy = false;
            for (auto& c : conns_) busy = busy || (c->in_flight > 0 && !c->dead);
            if (!busy || now > end + 5000000000ull) break;  // a bounded grace for the last ones
        }
        // Wait for packets or the next timer.
        uint64_t next = end > now ? end : now + 1000000;
        pfds.clear();
        for (auto& c : conns_) {
            next = std::min<uint64_t>(next, ngtcp2_conn_get_expiry(c->conn));
            pfds.push_back({c->fd, POLLIN, 0});
        }
        const uint64_t t = now_ns();
        const int timeout_ms = next > t ? int(std::min<uint64_t>((next - t) / 1000000, 100)) : 0;
        poll(pfds.data(), pfds.size(), timeout_ms);
        const uint64_t after = now_ns();
        for (size_t i = 0; i < conns_.size(); ++i) {
            Conn& c = *conns_[i];
            if (pfds[i].revents & POLLIN) read(c);
            if (!c.dead && ngtcp2_conn_get_expiry(c.conn) <= after &&
                ngtcp2_conn_handle_expiry(c.conn, after) != 0) {
                c.dead = true;
            }
        }
    }
    const double secs = double(now_ns() - start) / 1e9;
    for (auto& c : conns_) {
        if (c && c->in_flight > 0) t_.failed += uint64_t(c->in_flight);
    }
    printf("requests: %llu total, %llu succeeded, %llu failed\n",
           (unsigned long long)(t_.ok + t_.failed), (unsigned long long)t_.ok,
           (unsigned long long)t_.failed);
    printf("connections: %llu opened, %llu failed\n", (unsigned long long)t_.connections,
           (unsigned long long)t_.connect_failures);
    printf("traffic: %llu bytes body\n", (unsigned long long)t_.bytes);
    printf("socket drops: %llu datagrams\n", (unsigned long long)t_.socket_drops);
    printf("largest datagram: %zu bytes\n", t_.largest_datagram);
    printf("finished in %.2f s, %.2f req/s\n", secs, double(t_.ok) / secs);
    if (!t_.reset_codes.empty()) {
        printf("stream resets: %zu, codes", t_.reset_codes.size());
        for (uint64_t code : t_.reset_codes) printf(" 0x%llx", (unsigned long long)code);
        printf("\n");
    }
    if (o_.slow) {
        printf("slow requests: %llu of %d reset by the server, the first after %.0f ms\n",
               (unsigned long long)t_.slow_resets, o_.conns, t_.first_slow_reset_ms);
    }
    if (!o_.body_file.empty()) {
        if (FILE* f = fopen(o_.body_file.c_str(), "wb")) {
            fwrite(t_.body.data(), 1, t_.body.size(), f);
            fclose(f);
        }
    }
    return t_.ok > 0 || (o_.slow && t_.slow_resets > 0) ? 0 : 1;
}

int usage() {
    fprintf(stderr,
            "usage: h3load [-c CONNS] [-m STREAMS] [-D SECONDS] [--new] https://HOST:PORT/PATH\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::string url;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
        if (a == "-c") {
            o.conns = std::max(1, atoi(next()));
        } else if (a == "-m") {
            o.streams = std::max(1, atoi(next()));
        } else if (a == "-D") {
            o.seconds = atof(next());
        } else if (a == "--new") {
            o.fresh = true;
        } else if (a == "--ack-every") {
            o.ack_every = size_t(std::max(1, atoi(next())));
        } else if (a == "-n") {
            o.max_requests = atol(next());
        } else if (a == "--slow-request") {
            o.slow = true;
        } else if (a == "--print") {
            o.print = true;
        } else if (a == "--body") {
            o.body_file = next();
        } else if (a == "--raw-first") {
            o.raw_first = true;
        } else if (a == "-H") {
            // "name: value" (a pseudo-field's name starts with its colon); field names go
            // lower-case on the wire (RFC 9114 §4.2), except with --raw-first.
            std::string line = next();
            const size_t colon = line.find(':', 1);
            if (colon == std::string::npos) return usage();
            std::string name = line.substr(0, colon);
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            o.headers.emplace_back(name, value);
        } else if (a.rfind("https://", 0) == 0) {
            url = a;
        } else {
            return usage();
        }
    }
    if (url.empty()) return usage();
    if (!o.raw_first) {
        for (auto& field : o.headers) {
            for (char& ch : field.first) ch = char(tolower(static_cast<unsigned char>(ch)));
        }
    }
    const std::string rest = url.substr(8);
    const size_t slash = rest.find('/');
    o.authority = rest.substr(0, slash);
    o.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const size_t colon = o.authority.rfind(':');
    o.host = o.authority.substr(0, colon);
    o.port = colon == std::string::npos ? "443" : o.authority.substr(colon + 1);
    if (!o.host.empty() && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);

    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res) != 0 || res == nullptr) {
        fprintf(stderr, "h3load: cannot resolve %s\n", o.host.c_str());
        return 2;
    }
    memcpy(&g_server, res->ai_addr, res->ai_addrlen);
    g_server_len = res->ai_addrlen;
    freeaddrinfo(res);
    gnutls_certificate_allocate_credentials(&g_cred);
    Client client(o);
    const int rc = client.run();
    client.conns_.clear();
    gnutls_certificate_free_credentials(g_cred);
    return rc;
}
