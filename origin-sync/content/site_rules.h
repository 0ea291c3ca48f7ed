// The rules that the edge (serving) and the canary (predicting what the edge serves) must
// share: which file a URL path names, and a file's ETag. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace anyedge {

// A URL path ending in '/' names that directory's index.html: "/" -> "/index.html",
// "/post/x/" -> "/post/x/index.html"; any other path names itself.
std::string resolve_index(std::string_view url_path);

// The manifest key (site path, no leading '/') of the file a request target serves: the query
// is dropped and resolve_index applied. "/post/x/?a=1" -> "post/x/index.html".
std::string manifest_key_for(std::string_view target);

// A representation's strong ETag (RFC 9110 §8.8.3): the quoted hex SHA-256 of exactly the
// bytes sent, so every node gives the same bytes the same validator.
std::string etag_for(std::string_view sha256_hex);

// The inverse, for a received ETag header: the hex inside a strong ETag ("" for a weak, an
// unquoted or an empty one). Surrounding white space is ignored.
std::string sha256_of_etag(std::string_view etag);

}  // namespace anyedge
