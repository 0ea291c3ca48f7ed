// An HTTP/1.1 response head as HTTP/2 and HTTP/3 send it: ":status", then each field with its
// name in lower case, and no connection-specific fields (RFC 9113 §8.2.2, RFC 9114 §4.2).
// Written once, here, for the responses built per request (response_fields.h) and for the
// heads the snapshot builds ahead of time (HeadFields).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace anyedge::http {

bool connection_specific(std::string_view lower_name);

// One header line of head[pos, end), its name lowered in place; advances pos past the line.
// Lines without a colon are skipped, and so are connection-specific fields. False at the end.
bool next_head_field(std::string& head, size_t& pos, size_t end, std::string_view& name,
                     std::string_view& value);

// A status line's three digits ("500" when `head` does not start with one).
std::string_view status_digits(std::string_view head);

// Header lines translated ahead of time: a status's three digits when they begin a head, then
// each field's name (lowered) and value, back to back, so that a stream copies them in one go
// and points its fields into its own copy.
struct HeadFields {
    struct Span {
        uint16_t name_at, name_len, value_at, value_len;
    };
    std::string bytes;
    std::vector<Span> spans;
    bool has_status = false;
    // False when the text could not be translated (over 64 KB: the offsets are 16-bit), or
    // for a default-constructed value: a sink then uses the text.
    bool translated = false;

    // `head`: a status line and header lines, each ending "\r\n", no blank line.
    static HeadFields of(std::string_view head);
    // Header lines only, each ending "\r\n".
    static HeadFields of_lines(std::string_view lines);
};

// Header lines sent with every response of a kind (a listener's extra fields, the Date line),
// kept as text for HTTP/1.1 and as fields for HTTP/2 and HTTP/3.
struct HeaderLines {
    HeaderLines() = default;
    explicit HeaderLines(std::string lines)
        : text(std::move(lines)), fields(HeadFields::of_lines(text)) {}
    std::string text;
    HeadFields fields;
};

}  // namespace anyedge::http
