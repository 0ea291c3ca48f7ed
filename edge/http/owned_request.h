// OwnedRequest: a Request whose views point into its own storage, for a request that must
// outlive the receive buffer it was parsed from (its body is still arriving).
#pragma once

#include <string>

#include "edge/http/request.h"

namespace anyedge::http {

class OwnedRequest {
  public:
    OwnedRequest() = default;
    OwnedRequest(const OwnedRequest&) = delete;
    OwnedRequest& operator=(const OwnedRequest&) = delete;

    // Copies every field of r, and its strings into this object's storage.
    void assign(const Request& r);
    const Request& get() const { return request_; }
    // Gives the storage's memory back (an idle connection keeps none).
    void clear();

  private:
    Request request_;
    std::string storage_;
};

}  // namespace anyedge::http
