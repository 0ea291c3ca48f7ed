// OriginUpload: cdn-edge in the origin role. GET/HEAD serve the origin tree like any site;
// PUT (with "Authorization: Bearer <token>") stores what `cdnctl publish --origin https://...`
// uploads: blobs, manifests, their signatures, the `next`/`current` pointers, public.pem.
//
// Every blob's SHA-256 is checked against its name on arrival; writes are tmp + fsync + rename;
// anything else is refused. After a pointer, manifest or key is stored, the served snapshot is
// reloaded so that nodes following the origin see it. Runs on a serving worker (uploads are
// the author's rare path, not the browsers' one).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "edge/server/http_session.h"
#include "origin-sync/base/result.h"

namespace anyedge::server {

// Which files an origin accepts, by their path in the tree (no leading slash).
enum class UploadKind { kBlob, kManifest, kPointer, kPublicKey, kRefused };
UploadKind classify_upload(std::string_view path);

// A PUT's request target as an origin file: bad_path for a target that does not normalize or
// has a query; else its tree-relative path and kind.
struct UploadTarget {
    bool bad_path = false;
    UploadKind kind = UploadKind::kRefused;
    std::string rel;
};
UploadTarget upload_target(std::string_view request_target);

class OriginUpload final : public RequestHandler {
  public:
    OriginUpload(std::filesystem::path root, std::string token,
                 std::function<Result<uint64_t>()> reload);

    bool wants_body(const http::Request& request) const override;
    ResponseInfo handle(const http::Request& request, const cache::Snapshot& snapshot,
                        const ResponseContext& context, ResponseSink& out) override;
    ResponseInfo handle_with_body(const http::Request& request, std::string_view body,
                                  const cache::Snapshot& snapshot, const ResponseContext& context,
                                  ResponseSink& out) override;

  private:
    std::filesystem::path root_;
    std::string token_;
    std::function<Result<uint64_t>()> reload_;
};

}  // namespace anyedge::server
