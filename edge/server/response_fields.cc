#include "edge/server/response_fields.h"

#include <cstring>

#include "edge/http/tokens.h"

namespace anyedge::server {

void CaptureSink::copy(std::string_view bytes) {
    if (head_done_) {
        body_.copy(bytes);
        return;
    }
    // Only the new bytes (and the three before them) can complete the blank line.
    const size_t from = head_.size() < 3 ? 0 : head_.size() - 3;
    head_.append(bytes);
    const size_t end = head_.find("\r\n\r\n", from);
    if (end == std::string::npos) return;
    // Anything after the blank line is the body's start.
    body_.copy(std::string_view(head_).substr(end + 4));
    head_.resize(end + 2);
    head_done_ = true;
}

bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "transfer-encoding" || lower_name == "upgrade" ||
           lower_name == "proxy-connection";
}

std::string_view status_digits(const std::string& head) {
    return head.size() >= 12 ? std::string_view(head).substr(9, 3) : std::string_view("500");
}

bool next_response_field(std::string& head, size_t& pos, std::string_view& name,
                         std::string_view& value) {
    while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        if (eol == std::string::npos) eol = head.size();
        char* line = head.data() + pos;
        const size_t line_len = eol - pos;
        pos = eol + 2;
        const char* colon = static_cast<const char*>(std::memchr(line, ':', line_len));
        if (colon == nullptr) continue;
        const size_t name_len = static_cast<size_t>(colon - line);
        http::ascii_lower_in_place(line, name_len);
        name = std::string_view(line, name_len);
        if (connection_specific(name)) continue;
        value = http::trim_ows(std::string_view(colon + 1, line_len - name_len - 1));
        return true;
    }
    return false;
}

}  // namespace anyedge::server
