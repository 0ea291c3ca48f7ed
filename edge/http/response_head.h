// An HTTP/1.1 response head as HTTP/2 and HTTP/3 send it: ":status", then each field with its
// name in lower case, and no connection-specific fields (RFC 9113 §8.2.2, RFC 9114 §4.2).
// Written once, here, for the responses built per request (response_fields.h) and for the
// heads the snapshot builds ahead of time (HeadFields).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace anyedge::http {

bool connection_specific(std::string_view lower_name);

// One header line of `head` starting at `pos`, its name lowered in place; advances pos past
// the line. Lines without a colon are skipped, and so are connection-specific fields. False at
// the end.
bool next_head_field(std::string& head, size_t& pos, std::string_view& name,
                     std::string_view& value);

// A status line's three digits ("500" when `head` does not start with one).
std::string_view status_digits(std::string_view head);

// A head translated ahead of time: the status's three digits, then each field's name
// (lowered) and value, back to back, so that a stream copies them in one go and points its
// fields into its own copy.
struct HeadFields {
    struct Span {
        uint16_t name_at, name_len, value_at, value_len;
    };
    std::string bytes;
    std::vector<Span> spans;

    // `head`: a status line and header lines, each ending "\r\n", no blank line.
    static HeadFields of(std::string_view head);
    bool empty() const { return bytes.size() < 3; }
};

}  // namespace anyedge::http
