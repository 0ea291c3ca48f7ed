// ChunkedBody: a strict decoder of the chunked transfer coding (RFC 9112 §7.1), for request
// bodies. Beast's chunk parser is lenient in ways a front proxy may not be (it tolerates what
// the grammar forbids), and two parties that frame one byte stream differently is request
// smuggling. This one accepts exactly the grammar:
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = 1*HEXDIG [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
//
// and refuses the rest: a sign, "0x", whitespace or "_" in a size, an empty size, a size past
// 2^63 - 1, a bare CR or LF, a quoted string that a line end interrupts, data longer than its
// size, obs-fold in a trailer, and trailer fields that would carry framing or routing
// (RFC 9110 §6.5.1). Trailer fields that pass are discarded.
//
// Streaming and sans-IO: feed() consumes every byte it is given up to the body's end, keeping
// its state between calls, so a body split at any offset decodes the same. One body, one
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace anyedge::http {

struct ChunkedLimits {
    uint64_t max_body_bytes = 64 * 1024;     // decoded data -> 413
    uint32_t max_line_bytes = 4096;          // a chunk-size line with its extensions -> 400
    uint32_t max_trailer_bytes = 16 * 1024;  // the trailer section -> 431
};

class ChunkedBody {
  public:
    enum class Status { kNeedMore, kDone, kError };

    explicit ChunkedBody(ChunkedLimits limits = {}) : limits_(limits) {}

    // Decodes a prefix of data; `consumed` says how much (all of it unless the body ended
    // inside). Chunk data goes to `sink` when it is not null.
    Status feed(std::string_view data, size_t& consumed, std::string* sink);

    int error_status() const { return error_status_; }  // 400, 413 or 431
    std::string_view error_reason() const { return error_reason_; }
    uint64_t body_bytes() const { return body_bytes_; }

  private:
    enum class State : uint8_t {
        kSizeStart,     // a line's first byte: must be a hex digit
        kSize,          // more hex digits
        kExtSpace,      // BWS before ";"
        kExtNameStart,  // after ";" (BWS allowed)
        kExtName,
        kExtAfterName,   // BWS before "=" or ";"
        kExtValueStart,  // after "=" (BWS allowed)
        kExtToken,
        kExtQuoted,
        kExtQuotedPair,   // after a backslash inside the quoted string
        kExtAfterQuoted,  // a closing quote: BWS, ";" or CR
        kLineLf,          // CR seen at the end of a chunk-size line
        kData,
        kDataCr,  // after chunk-data: CR
        kDataLf,
        kTrailerStart,  // a trailer line's first byte, or the final CR
        kTrailerField,
        kTrailerLf,
        kFinalLf,
        kDone,
    };
    Status fail(int status, std::string_view reason);
    bool trailer_field_ok();
    bool end_item(char c);

    ChunkedLimits limits_;
    State state_ = State::kSizeStart;
    uint64_t chunk_size_ = 0;
    uint64_t body_bytes_ = 0;
    uint32_t line_bytes_ = 0;
    uint32_t trailer_bytes_ = 0;
    std::string field_;  // the trailer field being read
    int error_status_ = 0;
    std::string_view error_reason_;
};

}  // namespace anyedge::http
