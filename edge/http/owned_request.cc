#include "edge/http/owned_request.h"

#include <array>

namespace anyedge::http {

void OwnedRequest::assign(const Request& r) {
    static constexpr std::array<std::string_view Request::*, 11> kViews = {
        &Request::method_name,
        &Request::target,
        &Request::host,
        &Request::if_match,
        &Request::if_none_match,
        &Request::if_modified_since,
        &Request::if_unmodified_since,
        &Request::range,
        &Request::if_range,
        &Request::accept_encoding,
        &Request::authorization};
    request_ = r;
    size_t total = 0;
    for (auto view : kViews) total += (r.*view).size();
    storage_.clear();
    storage_.reserve(total);
    // Copy everything first: the views are taken once the storage no longer moves.
    std::array<size_t, kViews.size()> offsets{};
    for (size_t i = 0; i < kViews.size(); ++i) {
        offsets[i] = storage_.size();
        storage_.append(r.*kViews[i]);
    }
    for (size_t i = 0; i < kViews.size(); ++i) {
        request_.*kViews[i] = std::string_view(storage_).substr(offsets[i], (r.*kViews[i]).size());
    }
}

void OwnedRequest::clear() {
    request_ = Request{};
    std::string().swap(storage_);
}

}  // namespace anyedge::http
