#include "edge/http/response_head.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "edge/http/tokens.h"

namespace anyedge::http {

bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "transfer-encoding" || lower_name == "upgrade" ||
           lower_name == "proxy-connection";
}

bool next_head_field(std::string& head, size_t& pos, size_t end, std::string_view& name,
                     std::string_view& value) {
    end = std::min(end, head.size());
    while (pos < end) {
        size_t eol = std::string_view(head).substr(0, end).find("\r\n", pos);
        if (eol == std::string::npos) eol = end;
        char* line = head.data() + pos;
        const size_t line_len = eol - pos;
        pos = eol + 2;
        const char* colon = static_cast<const char*>(std::memchr(line, ':', line_len));
        if (colon == nullptr) continue;
        const size_t name_len = static_cast<size_t>(colon - line);
        ascii_lower_in_place(line, name_len);
        name = std::string_view(line, name_len);
        if (connection_specific(name)) continue;
        value = trim_ows(std::string_view(colon + 1, line_len - name_len - 1));
        return true;
    }
    return false;
}

std::string_view status_digits(std::string_view head) {
    const auto digit = [&](size_t i) { return head[i] >= '0' && head[i] <= '9'; };
    if (head.size() >= 12 && head.substr(0, 5) == "HTTP/" && head[8] == ' ' && digit(9) &&
        digit(10) && digit(11)) {
        return head.substr(9, 3);
    }
    return "500";
}

namespace {

HeadFields translate(std::string_view head, bool with_status) {
    HeadFields f;
    std::string text(head);
    if (text.size() > std::numeric_limits<uint16_t>::max()) return f;  // never for a real head
    size_t pos = 0;
    if (with_status) {
        f.bytes = status_digits(text);
        f.has_status = true;
        pos = text.find("\r\n");
        pos = pos == std::string::npos ? text.size() : pos + 2;
    }
    std::string_view name, value;
    while (next_head_field(text, pos, text.size(), name, value)) {
        HeadFields::Span s{uint16_t(f.bytes.size()), uint16_t(name.size()), 0,
                           uint16_t(value.size())};
        f.bytes.append(name);
        s.value_at = uint16_t(f.bytes.size());
        f.bytes.append(value);
        f.spans.push_back(s);
    }
    f.translated = true;
    return f;
}

}  // namespace

HeadFields HeadFields::of(std::string_view head) { return translate(head, true); }

HeadFields HeadFields::of_lines(std::string_view lines) { return translate(lines, false); }

}  // namespace anyedge::http
