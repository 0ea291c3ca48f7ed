// A ResponseSink that collects everything into one string, for pure responder tests.
#pragma once

#include <string>

#include "edge/server/response_sink.h"

namespace anyedge::server {

class StringSink : public ResponseSink {
  public:
    void copy(std::string_view b) override { out.append(b); }
    void reference(std::string_view b, const cache::Snapshot&) override { out.append(b); }
    size_t queued_bytes() const override { return out.size(); }
    std::string out;
};

}  // namespace anyedge::server
