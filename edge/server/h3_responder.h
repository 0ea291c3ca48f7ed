// H3Responder: HTTP/3 requests answered by the same Responder (or listener handler) as
// HTTP/1.1 and HTTP/2, with the same field rules (RequestFields) and the same response fields
// (CaptureSink::for_each_field). Bodies are referenced, never copied: the stream holds the queue,
// and the queue holds the snapshots, until nghttp3 is done with them.
#pragma once

#include "edge/quic/quic_types.h"
#include "edge/server/access_log.h"
#include "edge/server/http_session.h"
#include "edge/server/protocol_session.h"
#include "edge/server/responder.h"
#include "edge/server/shared_state.h"

namespace anyedge::server {

class H3Responder final : public quic::H3Handler {
  public:
    H3Responder(const http::ParserLimits& limits, RequestHandler* handler)
        : limits_(limits), handler_(handler) {}

    // What requests in this loop turn answer from; the pointers must stay valid until the next
    // call.
    void set_turn(const cache::Snapshot* snapshot, const ResponseContext& context, AccessLog* log,
                  WorkerCounters* counters) {
        snapshot_ = snapshot;
        context_ = context;
        log_ = log;
        counters_ = counters;
    }
    void on_request(const quic::H3Request& request, const quic::PathAddr& path,
                    quic::H3Response& response) override;

  private:
    http::ParserLimits limits_;
    RequestHandler* handler_;
    const cache::Snapshot* snapshot_ = nullptr;
    ResponseContext context_;
    AccessLog* log_ = nullptr;
    WorkerCounters* counters_ = nullptr;
    SessionCounters session_counters_;
};

}  // namespace anyedge::server
