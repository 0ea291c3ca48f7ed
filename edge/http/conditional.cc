#include "edge/http/conditional.h"

#include <cstddef>

#include "edge/http/http_date.h"
#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

// etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3).
bool is_etagc(char c) {
    auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x7E) || u >= 0x80;
}

// Parses one entity-tag at s[pos], leaving pos just after the closing quote. On failure pos is
// unspecified.
std::optional<EntityTag> take_entity_tag(std::string_view s, std::size_t& pos) {
    EntityTag tag;
    if (s.substr(pos, 2) == "W/") {
        tag.weak = true;
        pos += 2;
    }
    if (pos >= s.size() || s[pos] != '"') {
        return std::nullopt;
    }
    const std::size_t begin = ++pos;
    while (pos < s.size() && s[pos] != '"') {
        if (!is_etagc(s[pos])) {
            return std::nullopt;
        }
        ++pos;
    }
    if (pos >= s.size()) {
        return std::nullopt;
    }
    tag.opaque = s.substr(begin, pos - begin);
    ++pos;
    return tag;
}

}  // namespace

std::optional<EntityTag> parse_entity_tag(std::string_view text) {
    text = trim_ows(text);
    std::size_t pos = 0;
    auto tag = take_entity_tag(text, pos);
    if (!tag || pos != text.size()) {
        return std::nullopt;
    }
    return tag;
}

bool strong_match(const EntityTag& a, const EntityTag& b) {
    return !a.weak && !b.weak && a.opaque == b.opaque;
}

bool weak_match(const EntityTag& a, const EntityTag& b) { return a.opaque == b.opaque; }

bool entity_tag_list_matches(std::string_view field_value, std::string_view current,
                             Comparison comparison) {
    field_value = trim_ows(field_value);
    if (field_value == "*") {
        return true;
    }
    const std::optional<EntityTag> cur = parse_entity_tag(current);
    if (!cur) {
        return false;
    }
    // #entity-tag (RFC 9110 §5.6.1): members separated by commas with OWS, empty members
    // allowed. A comma may appear inside an opaque-tag, so members are parsed, not split.
    std::size_t pos = 0;
    const std::size_t n = field_value.size();
    while (pos < n) {
        if (field_value[pos] == ',' || is_ows(field_value[pos])) {
            ++pos;
            continue;
        }
        std::optional<EntityTag> tag = take_entity_tag(field_value, pos);
        while (tag && pos < n && is_ows(field_value[pos])) {
            ++pos;
        }
        if (tag && (pos == n || field_value[pos] == ',')) {
            const bool match = comparison == Comparison::strong ? strong_match(*tag, *cur)
                                                                : weak_match(*tag, *cur);
            if (match) {
                return true;
            }
            continue;
        }
        // An invalid member: skip to the next comma and keep looking.
        while (pos < n && field_value[pos] != ',') {
            ++pos;
        }
    }
    return false;
}

Precondition evaluate_preconditions(MethodClass method, const ConditionalFields& fields,
                                    const Validators& validators) {
    const bool safe = method == MethodClass::get_or_head;
    const std::string_view if_match = trim_ows(fields.if_match);
    const std::string_view if_none_match = trim_ows(fields.if_none_match);

    // Step 1 (§13.1.1): If-Match uses the strong comparison.
    if (!if_match.empty()) {
        if (!entity_tag_list_matches(if_match, validators.etag, Comparison::strong)) {
            return Precondition::precondition_failed;
        }
    } else if (!fields.if_unmodified_since.empty() && validators.last_modified) {
        // Step 2 (§13.1.4): false when the representation was modified after the date; an
        // invalid date is ignored.
        const auto date = parse_http_date(fields.if_unmodified_since);
        if (date && *validators.last_modified > *date) {
            return Precondition::precondition_failed;
        }
    }

    // Step 3 (§13.1.2): If-None-Match uses the weak comparison.
    if (!if_none_match.empty()) {
        if (entity_tag_list_matches(if_none_match, validators.etag, Comparison::weak)) {
            return safe ? Precondition::not_modified : Precondition::precondition_failed;
        }
    } else if (safe && !fields.if_modified_since.empty() && validators.last_modified) {
        // Step 4 (§13.1.3): false when the representation was not modified after the date.
        const auto date = parse_http_date(fields.if_modified_since);
        if (date && *validators.last_modified <= *date) {
            return Precondition::not_modified;
        }
    }
    return Precondition::proceed;
}

}  // namespace anyedge::http
