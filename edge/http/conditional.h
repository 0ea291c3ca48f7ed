// conditional: evaluation of conditional requests (RFC 9110 §13) for GET and HEAD.
//
// Owns: entity-tag syntax and comparison (RFC 9110 §8.8.3) and the precedence of the four
// precondition fields (§13.2.2). Range/If-Range is handled in edge/http/range.h after this says
// "proceed" (step 5 of §13.2.2).
// Invariants: pure, no allocation; a field value is passed as the raw (comma-combined) field
// value, and an empty value means the field is absent.
// Threads: any.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace anyedge::http {

// An entity-tag split into its parts: W/"abc" -> {weak = true, opaque = abc}.
struct EntityTag {
    bool weak = false;
    std::string_view opaque;  // the bytes between the quotes
};

// Parses exactly one entity-tag (RFC 9110 §8.8.3): [W/] DQUOTE *etagc DQUOTE. Surrounding OWS is
// allowed; nullopt on anything else.
std::optional<EntityTag> parse_entity_tag(std::string_view text);

// RFC 9110 §8.8.3.2: strong comparison needs both tags strong and equal opaque-tags; weak
// comparison only equal opaque-tags.
bool strong_match(const EntityTag& a, const EntityTag& b);
bool weak_match(const EntityTag& a, const EntityTag& b);

enum class Comparison { strong, weak };

// Whether a field value of the form `"*" / #entity-tag` (If-Match, If-None-Match) matches the
// current entity-tag. `*` matches any current representation (the caller only evaluates
// preconditions for a resource that exists). List members that are not valid entity-tags never
// match. current is the ETag as sent, quotes included; an empty current matches only `*`.
bool entity_tag_list_matches(std::string_view field_value, std::string_view current,
                             Comparison comparison);

enum class MethodClass {
    get_or_head,  // the methods this server serves
    other,        // anything else: a failed If-None-Match then yields 412, not 304
};

enum class Precondition {
    proceed,              // evaluate Range next, then serve
    not_modified,         // 304 Not Modified
    precondition_failed,  // 412 Precondition Failed
};

struct ConditionalFields {
    std::string_view if_match = {};
    std::string_view if_none_match = {};
    std::string_view if_modified_since = {};
    std::string_view if_unmodified_since = {};
};

// The selected representation's validators. etag is sent quoted (e.g. "\"abc\""), empty if none;
// last_modified is Unix seconds, nullopt if the representation has no modification date.
struct Validators {
    std::string_view etag;
    std::optional<std::int64_t> last_modified;
};

// RFC 9110 §13.2.2, in its order:
//   1. If-Match present: false -> 412 (strong comparison, §13.1.1).
//   2. else If-Unmodified-Since present and valid: false -> 412 (§13.1.4).
//   3. If-None-Match present: false -> 304 for GET/HEAD, else 412 (weak comparison, §13.1.2).
//   4. else, GET/HEAD, If-Modified-Since present and valid: false -> 304 (§13.1.3).
//   5. proceed.
// Invalid dates, or dates with more than one member, are ignored as the RFC requires.
Precondition evaluate_preconditions(MethodClass method, const ConditionalFields& fields,
                                    const Validators& validators);

}  // namespace anyedge::http
