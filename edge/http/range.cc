#include "edge/http/range.h"

#include <algorithm>
#include <limits>

#include "edge/http/conditional.h"
#include "edge/http/http_date.h"
#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 1*DIGIT, saturating: a position beyond 2^64-1 is past any representation we can hold, which
// gives the same answer as its exact value would.
bool parse_number(std::string_view s, std::uint64_t& out) {
    if (s.empty()) {
        return false;
    }
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) {
            return false;
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
    }
    out = v;
    return true;
}

// One range-spec resolved against the length (RFC 9110 §14.1.2-14.1.3).
enum class SpecResult { invalid, unsatisfiable, empty_suffix, satisfiable };

SpecResult resolve_spec(std::string_view spec, std::uint64_t length, ByteRange& out) {
    const std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
        return SpecResult::invalid;
    }
    const std::string_view first_text = spec.substr(0, dash);
    const std::string_view last_text = spec.substr(dash + 1);
    if (first_text.empty()) {
        // suffix-range = "-" suffix-length
        std::uint64_t suffix;
        if (!parse_number(last_text, suffix)) {
            return SpecResult::invalid;
        }
        if (suffix == 0) {
            return SpecResult::unsatisfiable;
        }
        if (length == 0) {
            return SpecResult::empty_suffix;
        }
        out = {length - std::min(suffix, length), length - 1};
        return SpecResult::satisfiable;
    }
    // int-range = first-pos "-" [ last-pos ]
    std::uint64_t first;
    if (!parse_number(first_text, first)) {
        return SpecResult::invalid;
    }
    std::uint64_t last = kMax;
    if (!last_text.empty()) {
        if (!parse_number(last_text, last)) {
            return SpecResult::invalid;
        }
        if (last < first) {
            // "A range-spec is invalid if last-pos is less than first-pos" (§14.1.2).
            return SpecResult::invalid;
        }
    }
    if (first >= length) {
        return SpecResult::unsatisfiable;
    }
    out = {first, std::min(last, length - 1)};
    return SpecResult::satisfiable;
}

RangeDecision full() { return {RangeOutcome::full, {}}; }

}  // namespace

RangeDecision evaluate_range(std::string_view range_field, std::uint64_t length,
                             const RangeLimits& limits) {
    range_field = trim_ows(range_field);
    const std::size_t eq = range_field.find('=');
    if (eq == std::string_view::npos || !iequals(range_field.substr(0, eq), "bytes")) {
        // Absent, malformed, or a unit we do not support (§14.2: MAY ignore).
        return full();
    }
    const std::string_view set = range_field.substr(eq + 1);

    RangeDecision decision{RangeOutcome::partial, {}};
    std::size_t specs = 0;
    bool empty_suffix = false;
    std::uint64_t total = 0;
    std::size_t pos = 0;
    while (pos <= set.size()) {
        std::size_t comma = set.find(',', pos);
        if (comma == std::string_view::npos) {
            comma = set.size();
        }
        const std::string_view spec = trim_ows(set.substr(pos, comma - pos));
        pos = comma + 1;
        if (spec.empty()) {
            continue;  // empty list elements are allowed (§5.6.1)
        }
        if (++specs > limits.max_ranges) {
            return full();
        }
        ByteRange r;
        switch (resolve_spec(spec, length, r)) {
            case SpecResult::invalid:
                return full();
            case SpecResult::unsatisfiable:
                break;
            case SpecResult::empty_suffix:
                empty_suffix = true;
                break;
            case SpecResult::satisfiable:
                // Overlapping ranges that add up to more than the whole representation are the
                // shape of a denial-of-service attack (§14.2); nginx answers them with 200.
                if (r.size() > length - total) {
                    return full();
                }
                total += r.size();
                decision.ranges.push_back(r);
                break;
        }
    }
    if (specs == 0) {
        return full();  // "bytes=" or "bytes= , ": no range-spec, invalid range-set
    }
    if (decision.ranges.empty()) {
        if (empty_suffix) {
            return full();
        }
        return {RangeOutcome::unsatisfiable, {}};
    }
    if (decision.ranges.size() > 1) {
        // Coalesce overlapping and adjacent ranges (§15.3.7.2). The sort is over at most
        // max_ranges elements.
        std::vector<ByteRange> merged = decision.ranges;
        std::sort(merged.begin(), merged.end(),
                  [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
        std::size_t out = 0;
        for (std::size_t i = 1; i < merged.size(); ++i) {
            if (merged[i].first <= merged[out].last + 1) {
                merged[out].last = std::max(merged[out].last, merged[i].last);
            } else {
                merged[++out] = merged[i];
            }
        }
        merged.resize(out + 1);
        if (merged.size() < decision.ranges.size()) {
            decision.ranges = std::move(merged);
        }
    }
    return decision;
}

bool if_range_allows(std::string_view if_range_field, std::string_view etag,
                     std::optional<std::int64_t> last_modified) {
    const std::string_view value = trim_ows(if_range_field);
    if (value.empty()) {
        return true;
    }
    if (value.front() == '"' || value.starts_with("W/")) {
        // §13.1.5: entity-tags are compared strongly, so a weak tag never matches.
        const auto sent = parse_entity_tag(value);
        const auto current = parse_entity_tag(etag);
        return sent && current && strong_match(*sent, *current);
    }
    // §13.1.5: a date matches only if it is exactly the Last-Modified.
    const auto date = parse_http_date(value);
    return date && last_modified && *date == *last_modified;
}

std::string content_range(const ByteRange& range, std::uint64_t length) {
    std::string s = "bytes ";
    s += std::to_string(range.first);
    s += '-';
    s += std::to_string(range.last);
    s += '/';
    s += std::to_string(length);
    return s;
}

std::string unsatisfied_content_range(std::uint64_t length) {
    return "bytes */" + std::to_string(length);
}

MultipartBody build_multipart_byteranges(std::span<const ByteRange> ranges,
                                         std::string_view part_content_type, std::uint64_t length,
                                         std::string_view boundary) {
    MultipartBody body;
    body.content_type = "multipart/byteranges; boundary=";
    body.content_type += boundary;
    body.parts.reserve(ranges.size());
    for (const ByteRange& r : ranges) {
        std::string header = "\r\n--";
        header += boundary;
        header += "\r\n";
        if (!part_content_type.empty()) {
            header += "Content-Type: ";
            header += part_content_type;
            header += "\r\n";
        }
        header += "Content-Range: ";
        header += content_range(r, length);
        header += "\r\n\r\n";
        body.content_length += header.size() + r.size();
        body.parts.push_back({std::move(header), r});
    }
    body.trailer = "\r\n--";
    body.trailer += boundary;
    body.trailer += "--\r\n";
    body.content_length += body.trailer.size();
    return body;
}

}  // namespace anyedge::http
