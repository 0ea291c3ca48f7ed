// range: byte-range requests (RFC 9110 §14) for a representation of known length.
//
// Owns: Range parsing and the decision 200 / 206 / 416, abuse limits, If-Range (§13.1.5), and
// the layout of a multipart/byteranges body (§14.6) as header strings plus slices of the
// representation, so that the sender can gather-send without copying the body.
// Invariants: pure; the work done for one header is bounded by its length and by
// RangeLimits::max_ranges (no sort over more than max_ranges elements). Ranges returned are
// always non-empty, inside [0, length) and, when more than one, pairwise disjoint and not adjacent.
// Threads: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace anyedge::http {

// An inclusive byte range [first, last], as in Content-Range.
struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;

    std::uint64_t size() const { return last - first + 1; }
    bool operator==(const ByteRange&) const = default;
};

enum class RangeOutcome {
    full,           // ignore Range: send 200 with the whole representation
    partial,        // send 206: one range as a plain body, several as multipart/byteranges
    unsatisfiable,  // send 416 with Content-Range: bytes */length
};

struct RangeDecision {
    RangeOutcome outcome = RangeOutcome::full;
    std::vector<ByteRange> ranges;  // non-empty only for partial
};

struct RangeLimits {
    // More range-specs than this and Range is ignored (200), as nginx's max_ranges; also bounds
    // the work spent on one header.
    std::size_t max_ranges = 16;
};

// Evaluates a Range field value against a representation of `length` bytes (RFC 9110 §14.2):
//   - unit other than "bytes" (case-insensitive), or any syntax error: full (the RFC lets a
//     server ignore a Range it does not understand);
//   - no satisfiable range-spec: unsatisfiable; for an empty representation int-ranges are
//     unsatisfiable and a suffix-range gives full (there are no bytes to send in a 206);
//   - abuse (RFC 9110 §14.2 allows ignoring it), decided like nginx and answered with full,
//     which is always correct and costs the attacker the whole body instead of many parts:
//     more than limits.max_ranges specs, or satisfiable ranges whose sizes add up to more than
//     the representation (overlap);
//   - otherwise partial: overlapping or adjacent ranges are coalesced (RFC 9110 §15.3.7.2), in
//     which case the parts come in ascending order; if nothing was coalesced the order of the
//     request is kept (§14.6 asks for it).
// An empty field value (absent) gives full.
RangeDecision evaluate_range(std::string_view range_field, std::uint64_t length,
                             const RangeLimits& limits = {});

// If-Range (RFC 9110 §13.1.5): whether Range may be honoured. An absent (empty) If-Range allows
// it. An entity-tag must match `etag` by strong comparison (a weak tag never matches); a date
// must be a valid HTTP-date equal to last_modified exactly. Anything else disallows it, and
// the server then sends 200 with the whole representation.
bool if_range_allows(std::string_view if_range_field, std::string_view etag,
                     std::optional<std::int64_t> last_modified);

// "bytes first-last/length" (§14.4), the Content-Range of a 206 with one range.
std::string content_range(const ByteRange& range, std::uint64_t length);
// "bytes */length", the Content-Range of a 416 (§15.5.17).
std::string unsatisfied_content_range(std::uint64_t length);

// One part of a multipart/byteranges body: `header` is sent, then `range` of the
// representation.
struct MultipartPart {
    std::string header;
    ByteRange range;
};

struct MultipartBody {
    std::string content_type;  // "multipart/byteranges; boundary=..." for the 206 header
    std::vector<MultipartPart> parts;
    std::string trailer;               // the closing delimiter, sent after the last part
    std::uint64_t content_length = 0;  // exact: every header, range and the trailer
};

// Lays out a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1.1). part_content_type is
// the representation's Content-Type (omitted from parts when empty); boundary must be 1-70
// characters that do not occur in the representation (a random or hash-derived token).
// Each part header starts with CRLF (ending the previous body part, or as a harmless empty
// preamble line before the first), then "--boundary", Content-Type, Content-Range, CRLF CRLF.
MultipartBody build_multipart_byteranges(std::span<const ByteRange> ranges,
                                         std::string_view part_content_type, std::uint64_t length,
                                         std::string_view boundary);

}  // namespace anyedge::http
