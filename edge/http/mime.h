// MIME types by file extension, for the plain-folder site loader.
// Text types carry "; charset=utf-8" (the site is written in UTF-8).
#pragma once

#include <string_view>

namespace anyedge::http {

// Content-Type for a file name; "application/octet-stream" when the extension is unknown.
std::string_view mime_type_for(std::string_view file_name);

// Whether a type is worth compressing (text, scripts, markup, SVG, JSON, ICO).
bool is_compressible(std::string_view mime_type);

}  // namespace anyedge::http
