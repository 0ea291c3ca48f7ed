// Content types and caching rules: chosen at publish time and frozen into the manifest (so
// every node answers with identical headers), and used by the edge for a plain --site folder.
// Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace anyedge {

// Content-Type for a site path by its extension (case-insensitive), with "; charset=utf-8" on
// text types. Unknown extensions get application/octet-stream.
std::string mime_type(std::string_view path);

// True for types worth a brotli/gzip variant (text, scripts, styles, SVG, JSON, XML, icons).
bool is_compressible(std::string_view mime);

// True when the file name carries a content hash of at least 8 hex characters as its own
// dot/dash/underscore-separated part with both a digit and a letter (style.3f9a1c2b.css,
// app-0a1b2c3d4e.js): such a name changes whenever its bytes do, so it may be cached forever.
bool is_fingerprinted(std::string_view path);

// Cache-Control: fingerprinted -> one year, immutable; HTML -> 60 s; everything else -> 1 h.
std::string cache_control_for(std::string_view path, std::string_view mime);

}  // namespace anyedge
