#include "edge/quic/h3_connection.h"

#include <netinet/in.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "edge/quic/client_hello_psk.h"
#include "origin-sync/base/block_pool.h"

#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

namespace anyedge::quic {
namespace {

// ngtcp2 and nghttp3 take and free small blocks for every packet, frame and stream; the
// per-thread pool keeps them (block_pool.h).
const ngtcp2_mem kPooledTransportMemory = block_pool_hooks<ngtcp2_mem>();
const nghttp3_mem kPooledHttpMemory = block_pool_hooks<nghttp3_mem>();

constexpr size_t kTxBuffer = 64 * 1024;
constexpr size_t kMaxSegments = 32;
// A Retry's token is used at once (one round trip); a NEW_TOKEN serves later visits.
constexpr ngtcp2_duration kRetryTokenLifetime = 10 * NGTCP2_SECONDS;
constexpr ngtcp2_duration kNewTokenLifetime = 24 * 3600 * NGTCP2_SECONDS;

// NEW_TOKEN tokens are bound to the client's IP address, not its port: a later connection
// comes from another port (ngtcp2 0.12 authenticates the whole sockaddr it is given).
Address without_port(const Address& a) {
    Address out = a;
    if (out.addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&out.addr)->sin_port = 0;
    if (out.addr.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&out.addr)->sin6_port = 0;
    return out;
}

Timestamp wall_clock_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return Timestamp(ts.tv_sec) * 1000000000 + Timestamp(ts.tv_nsec);
}

// Ticket-key windows are in Unix seconds, as GnuTLS's own ticket periods.
std::int64_t wall_seconds() { return std::int64_t(time(nullptr)); }

ngtcp2_path to_ngtcp2(const PathAddr& p) {
    ngtcp2_path path{};
    path.local.addr = const_cast<sockaddr*>(reinterpret_cast<const sockaddr*>(&p.local.addr));
    path.local.addrlen = p.local.len;
    path.remote.addr = const_cast<sockaddr*>(reinterpret_cast<const sockaddr*>(&p.remote.addr));
    path.remote.addrlen = p.remote.len;
    return path;
}

Address from_ngtcp2(const ngtcp2_addr& a) {
    Address out;
    out.len = std::min<socklen_t>(a.addrlen, sizeof out.addr);
    std::memcpy(&out.addr, a.addr, out.len);
    return out;
}

bool same(const ngtcp2_addr& a, const Address& b) {
    return a.addrlen == b.len && std::memcmp(a.addr, &b.addr, b.len) == 0;
}

std::string_view view(const nghttp3_rcbuf* b) {
    const nghttp3_vec v = nghttp3_rcbuf_get_buf(b);
    return {reinterpret_cast<const char*>(v.base), v.len};
}

// A stream's data that nghttp3 handed out for sending, as packets take it.
struct PendingStreamData {
    static constexpr size_t kMaxVecs = 16;
    int64_t stream_id = -1;
    int fin = 0;
    nghttp3_vec vec[kMaxVecs];
    size_t first = 0, count = 0;
    bool asked = false;  // whether nghttp3 was asked since the last run ended

    bool empty() const { return !asked; }
    void reset(size_t n) {
        first = 0;
        count = n;
        // Nothing to send (no stream, or none with data or a FIN): ask again next packet.
        asked = stream_id >= 0 && (n > 0 || fin);
    }
    void clear() {
        asked = false;
        stream_id = -1;
        fin = 0;
        first = count = 0;
    }
    // Packets took `n` bytes (a FIN goes with the last of them, or alone).
    void consume(size_t n) {
        while (n > 0 && first < count) {
            const size_t take = std::min(n, vec[first].len);
            vec[first].base += take;
            vec[first].len -= take;
            n -= take;
            if (vec[first].len == 0) ++first;
        }
        while (first < count && vec[first].len == 0) ++first;
        if (first == count) clear();  // all taken, the FIN with it when there was one
    }
};

}  // namespace

// Spare stream objects a connection keeps for its next requests (their buffers keep their
// capacity), as many as h3load's or a browser's usual concurrency; they go when it is idle.
constexpr size_t kSpareStreams = 16;

struct H3Connection::Impl {
    struct Stream {
        H3Request request;
        H3Response response;
        size_t slot = 0;       // index in `streams`
        size_t body_next = 0;  // next iovec of response.body for nghttp3
        bool too_large = false;

        // Ready for another request; what the response pinned (snapshots) goes now.
        void recycle() {
            request.clear();
            response.clear();
            body_next = 0;
            too_large = false;
        }
    };
    // A request stream whose header section has not arrived whole, and its deadline.
    struct HeaderDeadline {
        Timestamp deadline;
        int64_t stream_id;
    };

    H3Connection* self = nullptr;
    H3Shared shared;
    std::shared_ptr<QuicTls> tls;  // what this handshake started with, kept across reloads
    ngtcp2_conn* conn = nullptr;
    gnutls_session_t session = nullptr;
    ngtcp2_crypto_conn_ref conn_ref{};
    nghttp3_conn* h3 = nullptr;
    std::vector<std::unique_ptr<Stream>> streams;  // open request streams (Stream::slot)
    std::vector<std::unique_ptr<Stream>> spare_streams;
    std::vector<std::string> cids;  // registered with the endpoint
    // Request streams whose header section has not arrived whole, in deadline order (they share
    // one timeout): at most the open streams, and usually none, as a request's headers come in
    // the packet that opens its stream.
    std::vector<HeaderDeadline> awaiting_headers;
    Timestamp now = 0;  // of the event being handled
    ngtcp2_connection_close_error ccerr{};
    bool close_pending = false;
    uint64_t requests_timed_out = 0;
    uint64_t resumed = 0;  // 1 once a handshake resumed from a ticket, until taken
    std::vector<uint8_t> close_packet;

    ~Impl() {
        for (const std::string& c : cids) {
            shared.registry->remove_cid(
                std::span(reinterpret_cast<const uint8_t*>(c.data()), c.size()));
        }
        if (h3 != nullptr) nghttp3_conn_del(h3);
        if (conn != nullptr) ngtcp2_conn_del(conn);
        if (session != nullptr) gnutls_deinit(session);
    }

    void register_cid(const uint8_t* data, size_t len) {
        cids.emplace_back(reinterpret_cast<const char*>(data), len);
        shared.registry->add_cid(std::span(data, len), *self);
    }
    void unregister_cid(const uint8_t* data, size_t len) {
        const std::string key(reinterpret_cast<const char*>(data), len);
        auto it = std::find(cids.begin(), cids.end(), key);
        if (it == cids.end()) return;
        cids.erase(it);
        shared.registry->remove_cid(std::span(data, len));
    }

    void app_error(int liberr) {
        ngtcp2_connection_close_error_set_application_error(
            &ccerr, nghttp3_err_infer_quic_app_error_code(liberr), nullptr, 0);
        close_pending = true;
    }

    int setup_h3();
    void answer(int64_t stream_id, Stream& st);

    // Whether the stream was still waiting for its header section (it is no more).
    bool stop_awaiting_headers(int64_t stream_id) {
        for (size_t i = awaiting_headers.size(); i-- > 0;) {
            if (awaiting_headers[i].stream_id == stream_id) {
                awaiting_headers.erase(awaiting_headers.begin() + std::ptrdiff_t(i));
                return true;
            }
        }
        return false;
    }
    Stream& open_stream() {
        std::unique_ptr<Stream> st;
        if (spare_streams.empty()) {
            st = std::make_unique<Stream>();
        } else {
            st = std::move(spare_streams.back());
            spare_streams.pop_back();
        }
        st->slot = streams.size();
        streams.push_back(std::move(st));
        return *streams.back();
    }
    void close_stream(Stream& closing) {
        const size_t slot = closing.slot;
        std::unique_ptr<Stream> st = std::move(streams[slot]);
        if (slot + 1 != streams.size()) {
            streams[slot] = std::move(streams.back());
            streams[slot]->slot = slot;
        }
        streams.pop_back();
        st->recycle();
        if (spare_streams.size() < kSpareStreams) spare_streams.push_back(std::move(st));
    }

    static Impl& of(void* user_data) { return *static_cast<Impl*>(user_data); }

    // ---- ngtcp2 callbacks ----
    static void rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) {
        randombytes_buf(dest, len);
    }
    static int handshake_completed(ngtcp2_conn* conn, void* user_data) {
        Impl& s = of(user_data);
        // One ticket per connection, for resumption and 0-RTT on the next visit; and a token
        // that spares the next visit a Retry, on any node of the fleet.
        gnutls_session_ticket_send(s.session, 1, 0);
        if (gnutls_session_is_resumed(s.session)) s.resumed = 1;
        const PathAddr& p = s.self->path_;
        const std::span<const uint8_t> secret = s.shared.ids->token_secret();
        uint8_t token[NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN];
        const ngtcp2_ssize n = ngtcp2_crypto_generate_regular_token(
            token, secret.data(), secret.size(), reinterpret_cast<const sockaddr*>(&p.remote.addr),
            p.remote.len, wall_clock_ns());
        if (n > 0) ngtcp2_conn_submit_new_token(conn, token, size_t(n));
        return 0;
    }
    // Before GnuTLS reads the ClientHello: the master key of the first offered ticket that one
    // of the fleet's keys made. GnuTLS takes a new master only until it has used one, that is
    // before it reads a ticket; so a resumed session's own new ticket uses that key too.
    static int on_client_hello(gnutls_session_t session, unsigned int, unsigned int,
                               unsigned int incoming, const gnutls_datum_t* msg) {
        if (!incoming || msg == nullptr) return 0;
        auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session));
        const Impl& s = *static_cast<const Impl*>(ref->user_data);
        const std::int64_t now = wall_seconds();
        for (std::span<const uint8_t> ticket : psk_identities({msg->data, msg->size})) {
            if (const void* master = s.tls->ticket_master_of(ticket, now)) {
                gnutls_session_ticket_enable_server(session,
                                                    static_cast<const gnutls_datum_t*>(master));
                break;
            }
        }
        return 0;
    }
    static int get_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen,
                           void* user_data) {
        Impl& s = of(user_data);
        if (cidlen != kCidLength) return NGTCP2_ERR_CALLBACK_FAILURE;
        uint8_t bytes[kCidLength];
        s.shared.ids->issue(s.shared.worker, std::span<uint8_t, kCidLength>(bytes, kCidLength));
        ngtcp2_cid_init(cid, bytes, kCidLength);
        s.shared.ids->reset_token(std::span<const uint8_t>(bytes, kCidLength),
                                  std::span<uint8_t, kResetTokenLength>(token, kResetTokenLength));
        s.register_cid(bytes, kCidLength);
        return 0;
    }
    static int remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
        of(user_data).unregister_cid(cid->data, cid->datalen);
        return 0;
    }
    static int recv_stream_data(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id, uint64_t,
                                const uint8_t* data, size_t len, void* user_data, void*) {
        Impl& s = of(user_data);
        if (s.setup_h3() != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
        const nghttp3_ssize n = nghttp3_conn_read_stream(
            s.h3, stream_id, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
        if (n < 0) {
            // A malformed request (content that does not match its content-length) is a
            // stream error, RFC 9114 §4.1.2: that stream is reset with H3_MESSAGE_ERROR and the
            // connection serves on. nghttp3 0.8 returns it here instead of resetting the
            // stream itself; its state stays usable (the error is not fatal).
            if ((n == NGHTTP3_ERR_MALFORMED_HTTP_MESSAGING ||
                 n == NGHTTP3_ERR_MALFORMED_HTTP_HEADER) &&
                (stream_id & 0x3) == 0) {
                nghttp3_conn_shutdown_stream_read(s.h3, stream_id);
                ngtcp2_conn_shutdown_stream(conn, stream_id, NGHTTP3_H3_MESSAGE_ERROR);
                ngtcp2_conn_extend_max_offset(conn, len);  // the connection's credit comes back
                return 0;
            }
            s.app_error(int(n));
            return NGTCP2_ERR_CALLBACK_FAILURE;
        }
        ngtcp2_conn_extend_max_stream_offset(conn, stream_id, uint64_t(n));
        ngtcp2_conn_extend_max_offset(conn, uint64_t(n));
        return 0;
    }
    static int acked_stream_data(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t len,
                                 void* user_data, void*) {
        Impl& s = of(user_data);
        if (s.h3 == nullptr) return 0;
        if (int rv = nghttp3_conn_add_ack_offset(s.h3, stream_id, len); rv != 0) {
            s.app_error(rv);
            return NGTCP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    }
    static int stream_close(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id,
                            uint64_t app_error_code, void* user_data, void*) {
        Impl& s = of(user_data);
        if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) {
            app_error_code = NGHTTP3_H3_NO_ERROR;
        }
        if (s.h3 != nullptr) {
            const int rv = nghttp3_conn_close_stream(s.h3, stream_id, app_error_code);
            if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
                s.app_error(rv);
                return NGTCP2_ERR_CALLBACK_FAILURE;
            }
        }
        s.stop_awaiting_headers(stream_id);
        // A finished request stream makes room for another (client-initiated bidi: id % 4 == 0).
        if ((stream_id & 0x3) == 0) ngtcp2_conn_extend_max_streams_bidi(conn, 1);
        return 0;
    }
    static int stream_open(ngtcp2_conn*, int64_t stream_id, void* user_data) {
        Impl& s = of(user_data);
        if ((stream_id & 0x3) != 0) return 0;  // only client-initiated bidirectional: requests
        s.awaiting_headers.push_back(
            {s.now + Timestamp(s.shared.limits.header_timeout_ms) * NGTCP2_MILLISECONDS,
             stream_id});
        return 0;
    }
    static int stream_reset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t, void* user_data,
                            void*) {
        Impl& s = of(user_data);
        if (s.h3 != nullptr) nghttp3_conn_shutdown_stream_read(s.h3, stream_id);
        return 0;
    }
    static int stream_stop_sending(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data,
                                   void*) {
        return stream_reset(nullptr, stream_id, 0, 0, user_data, nullptr);
    }
    static int extend_max_remote_streams_bidi(ngtcp2_conn*, uint64_t max_streams, void* user_data) {
        Impl& s = of(user_data);
        if (s.h3 != nullptr) nghttp3_conn_set_max_client_streams_bidi(s.h3, max_streams);
        return 0;
    }
    static int extend_max_stream_data(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data,
                                      void*) {
        Impl& s = of(user_data);
        if (s.h3 != nullptr) nghttp3_conn_unblock_stream(s.h3, stream_id);
        return 0;
    }

    // ---- nghttp3 callbacks ----
    static int h3_stream_close(nghttp3_conn*, int64_t, uint64_t, void* user_data,
                               void* stream_user_data) {
        if (stream_user_data != nullptr) {
            of(user_data).close_stream(*static_cast<Stream*>(stream_user_data));
        }
        return 0;
    }
    static int h3_recv_data(nghttp3_conn*, int64_t stream_id, const uint8_t*, size_t len,
                            void* user_data, void* stream_user_data) {
        Impl& s = of(user_data);
        // Request content is not wanted by a static site: counted, dropped, and credited back.
        if (stream_user_data != nullptr)
            static_cast<Stream*>(stream_user_data)->request.body_bytes += len;
        ngtcp2_conn_extend_max_stream_offset(s.conn, stream_id, len);
        ngtcp2_conn_extend_max_offset(s.conn, len);
        return 0;
    }
    static int h3_deferred_consume(nghttp3_conn*, int64_t stream_id, size_t consumed,
                                   void* user_data, void*) {
        Impl& s = of(user_data);
        ngtcp2_conn_extend_max_stream_offset(s.conn, stream_id, consumed);
        ngtcp2_conn_extend_max_offset(s.conn, consumed);
        return 0;
    }
    static int h3_begin_headers(nghttp3_conn* h3, int64_t stream_id, void* user_data,
                                void* stream_user_data) {
        // One request per stream: a stream that has its object keeps it (a second header
        // section is trailers, which nghttp3 reports apart).
        if (stream_user_data != nullptr) return 0;
        Impl& s = of(user_data);
        Stream& st = s.open_stream();
        st.request.early = !ngtcp2_conn_get_handshake_completed(s.conn);
        nghttp3_conn_set_stream_user_data(h3, stream_id, &st);
        return 0;
    }
    static int h3_recv_header(nghttp3_conn*, int64_t, int32_t, nghttp3_rcbuf* name,
                              nghttp3_rcbuf* value, uint8_t, void* user_data,
                              void* stream_user_data) {
        Impl& s = of(user_data);
        auto* st = static_cast<Stream*>(stream_user_data);
        if (st == nullptr) return 0;
        const std::string_view n = view(name), v = view(value);
        // RFC 9114 §4.2.2: the field section size counts 32 octets of overhead per field.
        st->request.field_bytes += n.size() + v.size() + 32;
        if (st->request.field_bytes > s.shared.limits.max_field_section) {
            st->too_large = true;
            return 0;
        }
        H3Request& r = st->request;
        if (n == ":method")
            r.method = v;
        else if (n == ":scheme")
            r.scheme = v;
        else if (n == ":authority")
            r.authority = v;
        else if (n == ":path")
            r.path = v;
        else if (!n.empty() && n.front() != ':')
            r.fields.emplace_back(n, v);
        return 0;
    }
    static int h3_end_headers(nghttp3_conn*, int64_t stream_id, int, void* user_data, void*) {
        of(user_data).stop_awaiting_headers(stream_id);
        return 0;
    }
    static int h3_end_stream(nghttp3_conn*, int64_t stream_id, void* user_data,
                             void* stream_user_data) {
        Impl& s = of(user_data);
        auto* st = static_cast<Stream*>(stream_user_data);
        if (st != nullptr) s.answer(stream_id, *st);
        return 0;
    }
    static int h3_stop_sending(nghttp3_conn*, int64_t stream_id, uint64_t app_error_code,
                               void* user_data, void*) {
        Impl& s = of(user_data);
        if (ngtcp2_conn_shutdown_stream_read(s.conn, stream_id, app_error_code) != 0) {
            return NGHTTP3_ERR_CALLBACK_FAILURE;
        }
        return 0;
    }
    static int h3_reset_stream(nghttp3_conn*, int64_t stream_id, uint64_t app_error_code,
                               void* user_data, void*) {
        Impl& s = of(user_data);
        if (ngtcp2_conn_shutdown_stream_write(s.conn, stream_id, app_error_code) != 0) {
            return NGHTTP3_ERR_CALLBACK_FAILURE;
        }
        return 0;
    }
    static nghttp3_ssize read_body(nghttp3_conn*, int64_t, nghttp3_vec* vec, size_t veccnt,
                                   uint32_t* pflags, void*, void* stream_user_data) {
        auto* st = static_cast<Stream*>(stream_user_data);
        size_t n = 0;
        const std::vector<iovec>& body = st->response.body;
        while (n < veccnt && st->body_next < body.size()) {
            vec[n].base = static_cast<uint8_t*>(body[st->body_next].iov_base);
            vec[n].len = body[st->body_next].iov_len;
            ++n;
            ++st->body_next;
        }
        if (st->body_next == body.size()) *pflags |= NGHTTP3_DATA_FLAG_EOF;
        return nghttp3_ssize(n);
    }
};

int H3Connection::Impl::setup_h3() {
    if (h3 != nullptr) return 0;
    if (ngtcp2_conn_get_streams_uni_left(conn) < 3) return -1;
    nghttp3_callbacks cb{};
    cb.stream_close = h3_stream_close;
    cb.recv_data = h3_recv_data;
    cb.deferred_consume = h3_deferred_consume;
    cb.begin_headers = h3_begin_headers;
    cb.recv_header = h3_recv_header;
    cb.end_headers = h3_end_headers;
    cb.end_stream = h3_end_stream;
    cb.stop_sending = h3_stop_sending;
    cb.reset_stream = h3_reset_stream;
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    settings.qpack_max_dtable_capacity = 4096;
    settings.qpack_blocked_streams = 100;
    settings.max_field_section_size = shared.limits.max_field_section;
    if (nghttp3_conn_server_new(&h3, &cb, &settings, &kPooledHttpMemory, this) != 0) return -1;
    nghttp3_conn_set_max_client_streams_bidi(h3, shared.limits.max_streams_bidi);
    int64_t control = -1, encoder = -1, decoder = -1;
    if (ngtcp2_conn_open_uni_stream(conn, &control, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(h3, control) != 0 ||
        ngtcp2_conn_open_uni_stream(conn, &encoder, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(conn, &decoder, nullptr) != 0 ||
        nghttp3_conn_bind_qpack_streams(h3, encoder, decoder) != 0) {
        return -1;
    }
    return 0;
}

void H3Connection::Impl::answer(int64_t stream_id, Stream& st) {
    if (st.too_large) {
        static const char kStatus[] = "431";
        st.response.clear();
        st.response.fields.emplace_back(":status", kStatus);
    } else {
        shared.handler->on_request(st.request, self->path_, st.response);
    }
    // The fields stay valid until the stream closes (response.hold), so nghttp3 references
    // them rather than copying and lowering them again (they are lower-case already).
    static thread_local std::vector<nghttp3_nv> nv;  // reused: no allocation per response
    nv.clear();
    for (const auto& [name, value] : st.response.fields) {
        nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP3_NV_FLAG_NO_COPY_NAME | NGHTTP3_NV_FLAG_NO_COPY_VALUE});
    }
    nghttp3_data_reader reader{read_body};
    const int rv = nghttp3_conn_submit_response(h3, stream_id, nv.data(), nv.size(),
                                                st.response.body.empty() ? nullptr : &reader);
    if (rv != 0) {
        ngtcp2_conn_shutdown_stream(conn, stream_id, NGHTTP3_H3_INTERNAL_ERROR);
    }
}

Accepted H3Connection::accept(const H3Shared& shared, const PathAddr& path,
                              std::span<const uint8_t> packet, Timestamp now, Timestamp wall_now,
                              bool validate_address) {
    Accepted result;
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, packet.data(), packet.size()) != 0) {
        result.error = "not a packet that can open a connection";
        return result;
    }
    const auto* remote = reinterpret_cast<const sockaddr*>(&path.remote.addr);
    const std::span<const uint8_t> secret = shared.ids->token_secret();
    ngtcp2_cid original_dcid = hd.dcid;
    bool after_retry = false;
    if (hd.token.len > 0) {
        if (hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
            // Our Retry's token: it must be fresh, for this address and this connection.
            if (ngtcp2_crypto_verify_retry_token(&original_dcid, hd.token.base, hd.token.len,
                                                 secret.data(), secret.size(), hd.version, remote,
                                                 path.remote.len, &hd.dcid, kRetryTokenLifetime,
                                                 wall_now) != 0) {
                result.error = "invalid Retry token";
                result.invalid_token = true;
                return result;
            }
            after_retry = true;
            result.validated = true;
        } else if (hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR) {
            // A NEW_TOKEN from an earlier connection (to any node of the fleet): a bad one is
            // ignored, the client is then validated as if it had none (RFC 9000 §8.1.3).
            const Address client = without_port(path.remote);
            result.validated = ngtcp2_crypto_verify_regular_token(
                                   hd.token.base, hd.token.len, secret.data(), secret.size(),
                                   reinterpret_cast<const sockaddr*>(&client.addr), client.len,
                                   kNewTokenLifetime, wall_now) == 0;
        }
    }
    if (validate_address && !result.validated) {
        uint8_t retry_scid_bytes[kCidLength];
        shared.ids->issue(shared.worker,
                          std::span<uint8_t, kCidLength>(retry_scid_bytes, kCidLength));
        ngtcp2_cid retry_scid;
        ngtcp2_cid_init(&retry_scid, retry_scid_bytes, kCidLength);
        uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
        const ngtcp2_ssize tokenlen = ngtcp2_crypto_generate_retry_token(
            token, secret.data(), secret.size(), hd.version, remote, path.remote.len, &retry_scid,
            &hd.dcid, wall_now);
        if (tokenlen < 0) {
            result.error = "could not make a Retry token";
            return result;
        }
        result.retry.resize(NGTCP2_MAX_UDP_PAYLOAD_SIZE);
        const ngtcp2_ssize n =
            ngtcp2_crypto_write_retry(result.retry.data(), result.retry.size(), hd.version,
                                      &hd.scid, &retry_scid, &hd.dcid, token, size_t(tokenlen));
        if (n <= 0) {
            result.retry.clear();
            result.error = "could not write a Retry";
            return result;
        }
        result.retry.resize(size_t(n));
        return result;
    }
    std::unique_ptr<H3Connection> c(new H3Connection());
    c->path_ = path;
    c->impl_ = std::make_unique<Impl>();
    Impl& s = *c->impl_;
    s.self = c.get();
    s.shared = shared;
    s.tls = shared.tls->get();
    s.now = now;

    if (gnutls_init(&s.session,
                    GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_END_OF_EARLY_DATA) != 0 ||
        gnutls_priority_set(s.session, static_cast<gnutls_priority_t>(s.tls->priority())) != 0 ||
        ngtcp2_crypto_gnutls_configure_server_session(s.session) != 0 ||
        gnutls_credentials_set(s.session, GNUTLS_CRD_CERTIFICATE, s.tls->credentials()) != 0) {
        result.error = "QUIC: GnuTLS session setup failed";
        return result;
    }
    s.conn_ref.get_conn = [](ngtcp2_crypto_conn_ref* ref) {
        return static_cast<Impl*>(ref->user_data)->conn;
    };
    s.conn_ref.user_data = &s;
    gnutls_session_set_ptr(s.session, &s.conn_ref);
    gnutls_datum_t alpn{const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>("h3")),
                        2};
    gnutls_alpn_set_protocols(s.session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    // Resumption and 0-RTT: tickets from the fleet's current key, early data of any size
    // (QUIC's flow control bounds it). A ticket made with an older key still in its window gets
    // that key's master when the ClientHello arrives (on_client_hello).
    if (const void* master = s.tls->ticket_master_for_new(wall_seconds())) {
        gnutls_session_ticket_enable_server(s.session, static_cast<const gnutls_datum_t*>(master));
    }
    gnutls_handshake_set_hook_function(s.session, GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
                                       &Impl::on_client_hello);
    if (shared.anti_replay != nullptr && shared.anti_replay->get() != nullptr) {
        gnutls_anti_replay_enable(s.session,
                                  static_cast<gnutls_anti_replay_t>(shared.anti_replay->get()));
        gnutls_record_set_max_early_data_size(s.session, 0xffffffffu);
    }

    ngtcp2_callbacks cb{};
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.rand = Impl::rand;
    cb.get_new_connection_id = Impl::get_new_cid;
    cb.remove_connection_id = Impl::remove_cid;
    cb.recv_stream_data = Impl::recv_stream_data;
    cb.acked_stream_data_offset = Impl::acked_stream_data;
    cb.stream_close = Impl::stream_close;
    cb.stream_open = Impl::stream_open;
    cb.stream_reset = Impl::stream_reset;
    cb.stream_stop_sending = Impl::stream_stop_sending;
    cb.extend_max_remote_streams_bidi = Impl::extend_max_remote_streams_bidi;
    cb.extend_max_stream_data = Impl::extend_max_stream_data;
    cb.handshake_completed = Impl::handshake_completed;

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now;
    settings.max_window = shared.limits.max_window;
    settings.max_stream_window = shared.limits.max_stream_window;
    settings.handshake_timeout = uint64_t(shared.limits.handshake_timeout_ms) * NGTCP2_MILLISECONDS;
    settings.token = hd.token;

    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = shared.limits.max_stream_window;
    params.initial_max_stream_data_bidi_remote = shared.limits.max_stream_window;
    params.initial_max_stream_data_uni = shared.limits.max_stream_window;
    params.initial_max_data = shared.limits.max_window;
    params.initial_max_streams_bidi = shared.limits.max_streams_bidi;
    params.initial_max_streams_uni = 3;  // control and the two QPACK streams
    params.max_idle_timeout = uint64_t(shared.limits.idle_timeout_ms) * NGTCP2_MILLISECONDS;
    params.active_connection_id_limit = 7;
    params.original_dcid = original_dcid;
    if (after_retry) {
        // The client's Initial now names the ID our Retry gave it (RFC 9000 §7.3).
        params.retry_scid = hd.dcid;
        params.retry_scid_present = 1;
    }

    uint8_t scid_bytes[kCidLength];
    shared.ids->issue(shared.worker, std::span<uint8_t, kCidLength>(scid_bytes, kCidLength));
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, scid_bytes, kCidLength);
    params.stateless_reset_token_present = 1;
    shared.ids->reset_token(
        std::span<const uint8_t>(scid_bytes, kCidLength),
        std::span<uint8_t, kResetTokenLength>(params.stateless_reset_token, kResetTokenLength));

    const ngtcp2_path np = to_ngtcp2(path);
    if (int rv = ngtcp2_conn_server_new(&s.conn, &hd.scid, &scid, &np, hd.version, &cb, &settings,
                                        &params, &kPooledTransportMemory, &s);
        rv != 0) {
        result.error = std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rv);
        return result;
    }
    ngtcp2_conn_set_tls_native_handle(s.conn, s.session);
    // The client's chosen DCID finds this connection until it switches to ours.
    s.register_cid(hd.dcid.data, hd.dcid.datalen);
    s.register_cid(scid_bytes, kCidLength);
    c->on_packet(path, packet, now);
    result.conn = std::move(c);
    return result;
}

H3Connection::~H3Connection() = default;

uint64_t H3Connection::take_header_timeouts() {
    return std::exchange(impl_->requests_timed_out, 0);
}

uint64_t H3Connection::take_resumed() { return std::exchange(impl_->resumed, 0); }

size_t H3Connection::open_streams() const { return impl_->streams.size(); }

bool H3Connection::handshake_done() const {
    return impl_->conn != nullptr && ngtcp2_conn_get_handshake_completed(impl_->conn);
}

void H3Connection::close_with_error(int liberr, Timestamp) {
    if (liberr == NGTCP2_ERR_CRYPTO) {
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &impl_->ccerr, ngtcp2_conn_get_tls_alert(impl_->conn), nullptr, 0);
    } else if (!impl_->close_pending) {
        ngtcp2_connection_close_error_set_transport_error_liberr(&impl_->ccerr, liberr, nullptr, 0);
    }
    impl_->close_pending = true;
}

void H3Connection::on_packet(const PathAddr& path, std::span<const uint8_t> packet, Timestamp now) {
    if (state_ == State::kDraining || state_ == State::kDone) return;
    if (state_ == State::kClosing) {
        impl_->close_pending = true;  // answer with the close packet again (write() resends)
        return;
    }
    path_ = path;
    impl_->now = now;
    const ngtcp2_path np = to_ngtcp2(path);
    ngtcp2_pkt_info pi{};
    const int rv = ngtcp2_conn_read_pkt(impl_->conn, &np, &pi, packet.data(), packet.size(), now);
    if (rv == 0) return;
    last_error_ = ngtcp2_strerror(rv);
    if (rv == NGTCP2_ERR_DRAINING) {
        state_ = State::kDraining;
        close_deadline_ = now + 3 * ngtcp2_conn_get_pto(impl_->conn);
    } else if (rv == NGTCP2_ERR_DROP_CONN) {
        state_ = State::kDone;
    } else {
        close_with_error(rv, now);
    }
}

void H3Connection::write(Timestamp now, DatagramSink& out) {
    Impl& s = *impl_;
    if (state_ == State::kDone || state_ == State::kDraining) return;
    if (state_ == State::kClosing) {
        if (s.close_pending && !s.close_packet.empty()) {
            out.send(path_, s.close_packet, s.close_packet.size());
        }
        s.close_pending = false;
        return;
    }
    if (state_ == State::kGoingAway && s.streams.empty() && !s.close_pending) {
        ngtcp2_connection_close_error_set_application_error(&s.ccerr, NGHTTP3_H3_NO_ERROR, nullptr,
                                                            0);
        s.close_pending = true;
    }
    if (s.close_pending) {
        ngtcp2_path_storage ps;
        ngtcp2_path_storage_zero(&ps);
        ngtcp2_pkt_info pi{};
        s.close_packet.resize(NGTCP2_MAX_UDP_PAYLOAD_SIZE);
        const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
            s.conn, &ps.path, &pi, s.close_packet.data(), s.close_packet.size(), &s.ccerr, now);
        s.close_pending = false;
        if (n <= 0) {  // nothing can be said (e.g. before any key): just go
            state_ = State::kDone;
            return;
        }
        s.close_packet.resize(size_t(n));
        state_ = State::kClosing;
        close_deadline_ = now + 3 * ngtcp2_conn_get_pto(s.conn);
        out.send(path_, s.close_packet, s.close_packet.size());
        return;
    }

    // Every packet is offered room for the largest size this endpoint may send, not the path's
    // current one: ngtcp2 shapes ordinary packets to the path itself, and writes a PMTUD probe
    // only when it fits. With the path's size here no probe ever went out, and every packet
    // stayed at QUIC's 1,200-byte minimum.
    const size_t room =
        std::min<size_t>(ngtcp2_conn_get_max_tx_udp_payload_size(s.conn), kTxBuffer);
    const size_t quantum =
        std::clamp<size_t>(ngtcp2_conn_get_send_quantum(s.conn), room, kTxBuffer);
    // One buffer per thread, not per connection: every datagram written here is sent before
    // write() returns (the sink sends synchronously), so an idle connection holds none.
    static thread_local std::unique_ptr<uint8_t[]> tx(new uint8_t[kTxBuffer]);
    uint8_t* buf = tx.get();
    size_t used = 0, segment = 0, count = 0;
    PathAddr batch_path;
    auto flush = [&] {
        if (used > 0) out.send(batch_path, std::span<const uint8_t>(buf, used), segment);
        used = count = 0;
    };
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    // What nghttp3 last gave to send, less what packets have taken since. Nothing else can
    // queue data while write() runs, so nghttp3 would hand back exactly this rest; asking it
    // once per stream's run instead of once per packet saved ~5% of an h3 request's
    // instructions (callgrind).
    PendingStreamData pending;
    for (int guard = 0; guard < 4096; ++guard) {
        const bool may_send = s.h3 != nullptr && ngtcp2_conn_get_max_data_left(s.conn) > 0;
        if (may_send && pending.empty()) {
            const nghttp3_ssize veccnt = nghttp3_conn_writev_stream(
                s.h3, &pending.stream_id, &pending.fin, pending.vec, PendingStreamData::kMaxVecs);
            if (veccnt < 0) {
                s.app_error(int(veccnt));
                flush();
                write(now, out);
                return;
            }
            pending.reset(size_t(veccnt));
        }
        const int64_t stream_id = may_send ? pending.stream_id : -1;
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (may_send && pending.fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        ngtcp2_ssize written_data = -1;
        ngtcp2_pkt_info pi{};
        const ngtcp2_ssize n = ngtcp2_conn_writev_stream(
            s.conn, &ps.path, &pi, buf + used, room, &written_data, flags, stream_id,
            reinterpret_cast<const ngtcp2_vec*>(pending.vec + pending.first),
            may_send ? pending.count - pending.first : 0, now);
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                nghttp3_conn_block_stream(s.h3, stream_id);
                pending.clear();
                continue;
            }
            if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
                nghttp3_conn_shutdown_stream_write(s.h3, stream_id);
                pending.clear();
                continue;
            }
            if (n == NGTCP2_ERR_WRITE_MORE) {
                nghttp3_conn_add_write_offset(s.h3, stream_id, size_t(written_data));
                pending.consume(size_t(written_data));
                continue;
            }
            last_error_ = ngtcp2_strerror(int(n));
            close_with_error(int(n), now);
            flush();
            write(now, out);
            return;
        }
        if (written_data >= 0) {
            nghttp3_conn_add_write_offset(s.h3, stream_id, size_t(written_data));
            pending.consume(size_t(written_data));
        }
        if (n == 0) break;
        if (used > 0 && (size_t(n) > segment || !same(ps.path.remote, batch_path.remote) ||
                         !same(ps.path.local, batch_path.local))) {
            // This packet cannot join the batch: send the batch, then start a new one with it.
            const size_t start = used;
            flush();
            std::memmove(buf, buf + start, size_t(n));
        }
        if (used == 0) {
            segment = size_t(n);
            batch_path = {from_ngtcp2(ps.path.local), from_ngtcp2(ps.path.remote)};
        }
        used += size_t(n);
        ++count;
        if (size_t(n) < segment || count == kMaxSegments || used + room > quantum) flush();
    }
    flush();
    // Pacing only once the handshake has measured the path: before that ngtcp2 0.12 paces by
    // the initial RTT guess (333 ms), which held the first response back ~30 ms on every new
    // connection.
    if (ngtcp2_conn_get_handshake_completed(s.conn)) ngtcp2_conn_update_pkt_tx_time(s.conn, now);
}

Timestamp H3Connection::expiry() const {
    if (state_ == State::kClosing || state_ == State::kDraining) return close_deadline_;
    if (state_ == State::kDone) return 0;
    const Timestamp t = ngtcp2_conn_get_expiry(impl_->conn);
    const auto& d = impl_->awaiting_headers;
    return d.empty() ? t : std::min(t, d.front().deadline);
}

void H3Connection::on_timer(Timestamp now) {
    if (state_ == State::kClosing || state_ == State::kDraining) {
        if (now >= close_deadline_) state_ = State::kDone;
        return;
    }
    if (state_ == State::kDone) return;
    Impl& s = *impl_;
    s.now = now;
    // Slowloris: a request whose header section is still incomplete at its deadline is
    // refused (RESET_STREAM and STOP_SENDING), and its stream counts no more.
    size_t expired = 0;
    while (expired < s.awaiting_headers.size() && s.awaiting_headers[expired].deadline <= now) {
        ++expired;
    }
    if (expired > 0) {
        // Taken out first: shutting a stream down may call back into stop_awaiting_headers.
        const std::vector<Impl::HeaderDeadline> due(
            s.awaiting_headers.begin(), s.awaiting_headers.begin() + std::ptrdiff_t(expired));
        s.awaiting_headers.erase(s.awaiting_headers.begin(),
                                 s.awaiting_headers.begin() + std::ptrdiff_t(expired));
        for (const Impl::HeaderDeadline& d : due) {
            ngtcp2_conn_shutdown_stream(s.conn, d.stream_id, NGHTTP3_H3_REQUEST_REJECTED);
            ++s.requests_timed_out;
        }
    }
    // Quiet: the spare streams go (a busy connection's timers fire too, with streams open).
    if (s.streams.empty()) std::vector<std::unique_ptr<Impl::Stream>>().swap(s.spare_streams);
    const int rv = ngtcp2_conn_handle_expiry(impl_->conn, now);
    if (rv == 0) return;
    last_error_ = ngtcp2_strerror(rv);
    if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        state_ = State::kDone;  // silently: the peer has gone, or never finished
    } else {
        close_with_error(rv, now);
    }
}

void H3Connection::shutdown(Timestamp) {
    if (state_ != State::kOpen) return;
    if (impl_->h3 == nullptr) {
        ngtcp2_connection_close_error_set_application_error(&impl_->ccerr, NGHTTP3_H3_NO_ERROR,
                                                            nullptr, 0);
        impl_->close_pending = true;
        return;
    }
    // GOAWAY: requests already open are answered, no new ones are taken.
    nghttp3_conn_submit_shutdown_notice(impl_->h3);
    nghttp3_conn_shutdown(impl_->h3);
    state_ = State::kGoingAway;
}

}  // namespace anyedge::quic
