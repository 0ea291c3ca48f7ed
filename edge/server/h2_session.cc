#include "edge/server/h2_session.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "edge/http/request_parser.h"
#include "edge/http/tokens.h"
#include "edge/server/output_queue.h"
#include "edge/server/request_fields.h"
#include "edge/server/response_fields.h"
#include "origin-sync/base/block_pool.h"

#include <nghttp2/nghttp2.h>

namespace anyedge::server {
namespace {

constexpr uint32_t kMaxConcurrentStreams = 128;

}  // namespace

struct H2Session::Stream : RequestFields {
    int32_t id = 0;
    size_t slot = 0;  // its place in H2Session::streams_
    bool headers_done = false;
    bool request_ended = false;  // END_STREAM received
    bool answered = false;
    bool collecting = false;  // reading the body for a handler that wants it
    bool wants_body = false;  // ... and it is answered with handle_with_body
    std::string body;
    // The response head, its fields referenced by nghttp2 until the HEADERS frame is sent.
    std::string head;
    uint64_t dropped = 0;  // body bytes received and dropped
    // The response body, sent as DATA frames.
    OutputQueue body_out;
    size_t body_left_to_frame = 0;  // not yet handed to nghttp2 by the read callback

    // Ready for another request, keeping what its buffers have allocated.
    void recycle() {
        id = 0;
        clear();
        body.clear();
        head.clear();
        headers_done = request_ended = answered = collecting = wants_body = false;
        dropped = 0;
        body_out.clear();
        body_left_to_frame = 0;
    }
};

namespace {
constexpr size_t kSpareStreams = 16;
}  // namespace

// The request as the Responder and handlers see it; views into the stream's fields.
static http::Request request_of(const H2Session::Stream& st) { return st.request(20); }

// nghttp2's C callbacks, each forwarding to the session in user_data.
struct H2Session::Callbacks {
    static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

    static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int,
                           void* user_data) {
        H2Session& s = self(user_data);
        if (s.out_ == nullptr || s.out_->queued_bytes() >= s.limits_.output_budget) {
            return NGHTTP2_ERR_WOULDBLOCK;
        }
        s.out_->copy(std::string_view(reinterpret_cast<const char*>(data), length));
        return static_cast<ssize_t>(length);
    }

    // Frames a DATA payload without copying it (NGHTTP2_DATA_FLAG_NO_COPY): send_data() below
    // writes the frame header and the bytes themselves.
    static ssize_t read_body(nghttp2_session*, int32_t, uint8_t*, size_t length,
                             uint32_t* data_flags, nghttp2_data_source* source, void*) {
        auto* st = static_cast<Stream*>(source->ptr);
        const size_t n = std::min(length, st->body_left_to_frame);
        st->body_left_to_frame -= n;
        *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (st->body_left_to_frame == 0) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
    }

    static int send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                         size_t length, nghttp2_data_source* source, void* user_data) {
        H2Session& s = self(user_data);
        if (s.out_ == nullptr || s.out_->queued_bytes() >= s.limits_.output_budget) {
            return NGHTTP2_ERR_WOULDBLOCK;
        }
        auto* st = static_cast<Stream*>(source->ptr);
        s.out_->copy(std::string_view(reinterpret_cast<const char*>(framehd), 9));
        if (frame->data.padlen > 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // we never pad
        // Referenced bytes stay referenced, their snapshot held by the output queue: this
        // stream's may be older than the connection's current one by the time it is sent.
        length -= st->body_out.move_front(length, *s.out_);
        return length == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }

    static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                void* user_data) {
        H2Session& s = self(user_data);
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            return 0;
        }
        std::unique_ptr<Stream> st;
        if (s.spare_streams_.empty()) {
            st = std::make_unique<Stream>();
        } else {
            st = std::move(s.spare_streams_.back());
            s.spare_streams_.pop_back();
        }
        st->id = frame->hd.stream_id;
        st->slot = s.streams_.size();
        nghttp2_session_set_stream_user_data(session, st->id, st.get());
        s.receiving_ = st.get();
        s.streams_.push_back(std::move(st));
        ++s.header_blocks_open_;
        return 0;
    }

    static int on_header(nghttp2_session* session, const nghttp2_frame* frame,
                         const uint8_t* name_p, size_t namelen, const uint8_t* value_p,
                         size_t valuelen, uint8_t, void* user_data) {
        H2Session& s = self(user_data);
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
            return 0;  // trailers: nothing we use
        }
        Stream* st = s.receiving_;
        if (st == nullptr || st->id != frame->hd.stream_id) {
            st = static_cast<Stream*>(
                nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
        }
        if (st == nullptr || st->error_status != 0) return 0;
        const std::string_view name(reinterpret_cast<const char*>(name_p), namelen);
        const std::string_view value(reinterpret_cast<const char*>(value_p), valuelen);
        st->add(name, value, s.limits_.parser);
        return 0;
    }

    static int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user_data) {
        H2Session& s = self(user_data);
        auto* st = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
        if (st == nullptr) return 0;
        if (!st->collecting) {
            // A body nobody asked for is dropped, up to the size an HTTP/1.1 connection would
            // discard; past that the stream is cancelled.
            st->dropped += len;
            if (st->dropped > s.limits_.parser.max_body_bytes) {
                nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
            }
            return 0;
        }
        if (st->body.size() + len > s.limits_.parser.max_body_bytes) {
            st->collecting = false;
            --s.bodies_open_;
            st->error_status = 413;
            st->error_reason = "body too large";
            s.answer(*st);
            return 0;
        }
        st->body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                             void* user_data) {
        H2Session& s = self(user_data);
        const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        auto* st = static_cast<Stream*>(
            nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
        if (st == nullptr) return 0;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            s.receiving_ = nullptr;
            --s.header_blocks_open_;
            st->headers_done = true;
            st->request_ended = end_stream;
            if (!end_stream && st->error_status == 0 && s.handler_ != nullptr) {
                if (s.handler_->wants_body(request_of(*st))) {
                    st->collecting = st->wants_body = true;
                    ++s.bodies_open_;
                    return 0;  // answered when the body is whole
                }
            }
            // No body wanted: answer now; a body that still comes is dropped. (Not reset with
            // NO_ERROR after the response, as RFC 9113 §8.1 allows: curl 7.88 then loses the
            // response.)
            s.answer(*st);
        } else if (end_stream) {
            st->request_ended = true;  // the last DATA frame, or trailers
            if (st->collecting) {
                st->collecting = false;
                --s.bodies_open_;
                s.answer(*st);
            }
        }
        return 0;
    }

    static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t,
                               void* user_data) {
        H2Session& s = self(user_data);
        auto* found =
            static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
        if (found == nullptr) return 0;
        if (s.receiving_ == found) s.receiving_ = nullptr;
        // Out of streams_ by swapping the last one into its slot.
        std::unique_ptr<Stream> st = std::move(s.streams_[found->slot]);
        if (found->slot + 1 != s.streams_.size()) {
            s.streams_[found->slot] = std::move(s.streams_.back());
            s.streams_[found->slot]->slot = found->slot;
        }
        s.streams_.pop_back();
        if (!st->headers_done) --s.header_blocks_open_;
        if (st->collecting) --s.bodies_open_;
        if (s.spare_streams_.size() < kSpareStreams) {
            st->recycle();
            s.spare_streams_.push_back(std::move(st));
        }
        return 0;
    }
};

H2Session::H2Session(const SessionLimits& limits, RequestHandler* handler)
    : limits_(limits), handler_(handler) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, &Callbacks::on_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, &Callbacks::send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Callbacks::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Callbacks::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Callbacks::on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Callbacks::on_stream_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    // Bounds on what a peer can make us queue or keep (SETTINGS and PING floods, CONTINUATION
    // floods: CVE-2019-9512/9515, CVE-2024-28182).
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_continuations(opt, 8);
    // No closed streams kept for the priority tree (RFC 9113 deprecates it, and we ignore
    // it): they made every stream lookup and close walk a map of dead streams.
    nghttp2_option_set_no_closed_streams(opt, 1);
    // nghttp2 takes and frees a few small blocks per stream; the per-thread pool keeps them.
    static nghttp2_mem pooled = block_pool_hooks<nghttp2_mem>();
    nghttp2_session_server_new3(&session_, cb, this, opt, &pooled);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
}

H2Session::~H2Session() { nghttp2_session_del(session_); }

bool H2Session::release_memory() {
    const bool any = !spare_streams_.empty();
    spare_streams_.clear();
    spare_streams_.shrink_to_fit();
    return any;
}

void H2Session::set_access_log(AccessLog* log, std::string peer, bool tls) {
    log_ = log;
    peer_ = std::move(peer);
    tls_ = tls;
}

void H2Session::start(ResponseSink& out) {
    const std::array<nghttp2_settings_entry, 2> settings{{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.parser.max_header_bytes},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    send(out);
}

void H2Session::on_receive(std::string_view bytes, const cache::Snapshot& snapshot,
                           const ResponseContext& context, ResponseSink& out) {
    if (closing_) return;
    snapshot_ = &snapshot;
    context_ = &context;
    out_ = &out;
    track_frames(bytes);
    const ssize_t n = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (n < 0) {
        // Bad preface, a flood, a callback failure: GOAWAY, then the connection ends.
        last_error_ = nghttp2_strerror(static_cast<int>(n));
        failed_ = true;
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
    send(out);
    snapshot_ = nullptr;
    context_ = nullptr;
}

void H2Session::resume(const cache::Snapshot& snapshot, const ResponseContext& context,
                       ResponseSink& out) {
    if (closing_) return;
    snapshot_ = &snapshot;
    context_ = &context;
    send(out);
    snapshot_ = nullptr;
    context_ = nullptr;
}

// Frame boundaries, counted here rather than read from nghttp2's callbacks: frames it ignores
// (unknown types such as PRIORITY_UPDATE, DATA for closed streams) get no "received" callback,
// and a connection must not look mid-request because of one.
void H2Session::track_frames(std::string_view bytes) {
    constexpr size_t kPrefaceBytes = 24;  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    while (!bytes.empty()) {
        if (preface_seen_ < kPrefaceBytes) {
            const size_t n = std::min(bytes.size(), kPrefaceBytes - preface_seen_);
            preface_seen_ += n;
            bytes.remove_prefix(n);
        } else if (payload_left_ > 0) {
            const size_t n = std::min<size_t>(bytes.size(), payload_left_);
            payload_left_ -= n;
            bytes.remove_prefix(n);
        } else {
            const size_t n = std::min(bytes.size(), sizeof frame_header_ - frame_header_seen_);
            std::memcpy(frame_header_ + frame_header_seen_, bytes.data(), n);
            frame_header_seen_ += n;
            bytes.remove_prefix(n);
            if (frame_header_seen_ == sizeof frame_header_) {
                payload_left_ = uint32_t(frame_header_[0]) << 16 | uint32_t(frame_header_[1]) << 8 |
                                uint32_t(frame_header_[2]);
                frame_header_seen_ = 0;
            }
        }
    }
}

void H2Session::send(ResponseSink& out) {
    out_ = &out;
    if (nghttp2_session_send(session_) != 0) {
        failed_ = true;
        closing_ = true;
    }
    out_ = nullptr;
    update_closing();
}

void H2Session::update_closing() {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        closing_ = true;
    }
}

void H2Session::goaway() {
    if (goaway_sent_) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
}

void H2Session::close_after_current() {
    close_requested_ = true;
    goaway();
}

void H2Session::answer(Stream& st) {
    if (st.answered) return;
    st.answered = true;
    ++requests_;
    ResponseContext ctx = *context_;
    if (close_requested_ || requests_ >= limits_.max_requests_per_connection) {
        ctx.force_close = true;
    }
    st.check();
    const http::Request req = request_of(st);

    // A file's bytes are referenced here, never copied (the queue holds their snapshot):
    // send_data() copies each DATA payload once, into the connection's output.
    st.body_out.set_copy_threshold(0);
    CaptureSink cap(st.body_out, st.head);
    ResponseInfo info;
    if (st.error_status != 0) {
        info = respond_error(st.error_status, st.error_reason, snapshot_, ctx, cap);
        if (log_) log_->record_error(ctx.wall_ms, peer_, tls_, st.error_status, st.error_reason);
    } else {
        if (handler_ != nullptr) {
            info = st.wants_body ? handler_->handle_with_body(req, st.body, *snapshot_, ctx, cap)
                                 : handler_->handle(req, *snapshot_, ctx, cap);
        } else {
            info = respond(req, *snapshot_, ctx, cap);
        }
        if (log_) log_->record(ctx.wall_ms, peer_, tls_, req, info);
    }
    counters_.count(info);
    st.body.clear();
    st.body.shrink_to_fit();

    // The head (in the stream's reused string: a file's prebuilt fields, or HTTP/1.1 lines
    // lowered in place) becomes :status and lower-case fields. The stream keeps the head until
    // the HEADERS frame is sent: nghttp2
    // references the fields rather than copying and lowering them again (NO_COPY), and the
    // stream outlives its frames.
    static thread_local std::vector<nghttp2_nv> nv;  // reused: no allocation per response
    nv.clear();
    cap.for_each_field([](std::string_view n, std::string_view v) {
        nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
    });

    int rv;
    if (st.body_out.empty()) {
        rv = nghttp2_submit_response(session_, st.id, nv.data(), nv.size(), nullptr);
    } else {
        st.body_left_to_frame = st.body_out.queued_bytes();
        nghttp2_data_provider provider{};
        provider.source.ptr = &st;
        provider.read_callback = &Callbacks::read_body;
        rv = nghttp2_submit_response(session_, st.id, nv.data(), nv.size(), &provider);
    }
    if (rv != 0) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
    }
    // A drain, a stop or the request cap: finish what is open, accept nothing new.
    if (ctx.force_close) goaway();
}

}  // namespace anyedge::server
