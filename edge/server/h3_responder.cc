#include "edge/server/h3_responder.h"

#include "edge/server/listener.h"
#include "edge/server/output_queue.h"
#include "edge/server/protocol_session.h"
#include "edge/server/request_fields.h"
#include "edge/server/response_fields.h"

namespace anyedge::server {
namespace {

// What one response's stream keeps until it closes: the head its fields view and the body.
// Reused by the stream's next request; release() lets the body's snapshots go.
struct HeldResponse final : quic::H3Held {
    RequestFields fields;
    std::string head;
    OutputQueue body;

    void release() override {
        fields.clear();
        head.clear();
        body.clear();
    }
};

}  // namespace

void H3Responder::on_request(const quic::H3Request& request, const quic::PathAddr& path,
                             quic::H3Response& response) {
    // Only this responder fills the holds of the streams it answers.
    auto* held = static_cast<HeldResponse*>(response.hold.get());
    if (held == nullptr) {
        response.hold = std::make_unique<HeldResponse>();
        held = static_cast<HeldResponse*>(response.hold.get());
    }
    RequestFields& f = held->fields;
    f.add(":method", request.method, limits_);
    f.add(":path", request.path, limits_);
    if (!request.authority.empty()) f.add(":authority", request.authority, limits_);
    for (const auto& [name, value] : request.fields) f.add(name, value, limits_);
    f.check();
    const http::Request req = f.request(30);
    // RFC 8470 §5.2 / RFC 9114 §10.9: 0-RTT data can be replayed, so only safe, idempotent
    // requests are answered from it.
    if (f.error_status == 0 && request.early && req.method != http::Method::kGet &&
        req.method != http::Method::kHead) {
        f.error_status = 425;
        f.error_reason = "not idempotent in early data";
        if (counters_ != nullptr) counters_->h3_too_early.fetch_add(1, std::memory_order_relaxed);
    }

    held->body.set_copy_threshold(0);
    CaptureSink cap(held->body, held->head);
    ResponseInfo info;
    const std::string peer = log_ ? peer_text(path.remote.addr) : std::string();
    if (f.error_status != 0 || snapshot_ == nullptr) {
        const int status = f.error_status != 0 ? f.error_status : 503;
        info = respond_error(status, f.error_status != 0 ? f.error_reason : "no site", snapshot_,
                             context_, cap);
        if (log_) log_->record_error(context_.wall_ms, peer, true, status, f.error_reason);
    } else {
        info = handler_ != nullptr ? handler_->handle(req, *snapshot_, context_, cap)
                                   : respond(req, *snapshot_, context_, cap);
        if (log_) log_->record(context_.wall_ms, peer, true, req, info);
    }
    const SessionCounters before = session_counters_;
    session_counters_.count(info);
    if (counters_ != nullptr) {
        publish_counters(before, session_counters_, *counters_, &counters_->requests_h3);
    }

    response.fields.reserve(16);  // a file's answer has ~10: one allocation, not five
    cap.for_each_field(
        [&](std::string_view n, std::string_view v) { response.fields.emplace_back(n, v); });
    held->body.gather_all(response.body);
}

}  // namespace anyedge::server
