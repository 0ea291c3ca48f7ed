// Request-target normalization (RFC 9112 §3.2, RFC 3986 §5.2.4).
// Pure functions; the result is a safe absolute path inside the site, or a refusal.
//
// Refused (400): anything not origin-form or absolute-form, invalid percent-escapes, decoded NUL
// or control characters, backslashes (raw or encoded), encoded slashes (%2F: a client must not
// be able to smuggle a separator past our segment logic), fragments, and dot-segments that would
// climb above the root. Runs of slashes collapse to one, like nginx's merge_slashes.
#pragma once

#include <string>
#include <string_view>

namespace anyedge::http {

struct NormalizedTarget {
    std::string path;   // starts with '/', decoded, no dot-segments, no empty segments
    std::string query;  // raw query without '?', empty when absent
    bool has_query = false;
};

enum class PathError { kBadTarget, kBadEscape, kForbiddenByte, kEncodedSlash, kAboveRoot };

struct PathResult {
    bool ok = false;
    PathError error = PathError::kBadTarget;
    NormalizedTarget target;
};

PathResult normalize_target(std::string_view target);

// Message for logs and error pages.
std::string_view describe(PathError error);

}  // namespace anyedge::http
