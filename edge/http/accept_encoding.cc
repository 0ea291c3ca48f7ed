#include "edge/http/accept_encoding.h"

#include <cstddef>

#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )   (RFC 9110 §12.4.2)
// Returns thousandths, or -1 if malformed.
int parse_qvalue(std::string_view s) {
    if (s.empty() || (s[0] != '0' && s[0] != '1')) {
        return -1;
    }
    const bool one = s[0] == '1';
    if (s.size() == 1) {
        return one ? 1000 : 0;
    }
    if (s[1] != '.' || s.size() > 5) {
        return -1;
    }
    int frac = 0;
    int scale = 100;
    for (std::size_t i = 2; i < s.size(); ++i) {
        const char c = s[i];
        if (c < '0' || c > '9' || (one && c != '0')) {
            return -1;
        }
        frac += (c - '0') * scale;
        scale /= 10;
    }
    return one ? 1000 : frac;
}

// weight = OWS ";" OWS "q=" qvalue; the text after the coding name, possibly empty.
int parse_weight(std::string_view rest) {
    rest = trim_ows(rest);
    if (rest.empty()) {
        return 1000;
    }
    if (rest[0] != ';') {
        return -1;
    }
    rest = trim_ows(rest.substr(1));
    if (rest.size() < 2 || ascii_lower(rest[0]) != 'q' || rest[1] != '=') {
        return -1;
    }
    return parse_qvalue(rest.substr(2));
}

}  // namespace

std::string_view content_coding_token(ContentCoding coding) {
    switch (coding) {
        case ContentCoding::br:
            return "br";
        case ContentCoding::gzip:
            return "gzip";
        case ContentCoding::zstd:
            return "zstd";
        case ContentCoding::identity:
            break;
    }
    return "";
}

std::optional<ContentCoding> content_coding_of(std::string_view token) {
    if (token == "br") return ContentCoding::br;
    if (token == "zstd") return ContentCoding::zstd;
    if (token == "gzip") return ContentCoding::gzip;
    return std::nullopt;
}

CodingWeights parse_accept_encoding(std::string_view field_value) {
    int br = -1, zstd = -1, gzip = -1, identity = -1, star = -1;  // -1: not listed
    std::size_t pos = 0;
    while (pos <= field_value.size()) {
        std::size_t comma = field_value.find(',', pos);
        if (comma == std::string_view::npos) {
            comma = field_value.size();
        }
        const std::string_view member = trim_ows(field_value.substr(pos, comma - pos));
        pos = comma + 1;
        if (member.empty()) {
            continue;
        }
        std::size_t name_end = 0;
        while (name_end < member.size() && member[name_end] != ';' && !is_ows(member[name_end])) {
            ++name_end;
        }
        const std::string_view name = member.substr(0, name_end);
        const int weight = parse_weight(member.substr(name_end));
        if (weight < 0) {
            continue;
        }
        int* slot = nullptr;
        if (iequals(name, "br")) {
            slot = &br;
        } else if (iequals(name, "zstd")) {
            slot = &zstd;
        } else if (iequals(name, "gzip") || iequals(name, "x-gzip")) {
            slot = &gzip;
        } else if (iequals(name, "identity")) {
            slot = &identity;
        } else if (name == "*") {
            slot = &star;
        }
        if (slot != nullptr && *slot < 0) {
            *slot = weight;
        }
    }
    CodingWeights w;
    const int fallback = star < 0 ? 0 : star;
    w.br = br < 0 ? fallback : br;
    w.zstd = zstd < 0 ? fallback : zstd;
    w.gzip = gzip < 0 ? fallback : gzip;
    if (identity >= 0) {
        w.identity = identity;
        w.identity_implicit = false;
    } else if (star >= 0) {
        // "*;q=0 without a more specific entry for identity" excludes it (§12.5.3).
        w.identity = star;
        w.identity_implicit = false;
    }
    return w;
}

std::optional<ContentCoding> choose_content_coding(std::string_view accept_encoding,
                                                   CodingSet available) {
    if (trim_ows(accept_encoding).empty()) {
        if (available.contains(ContentCoding::identity)) {
            return ContentCoding::identity;
        }
        return std::nullopt;
    }
    const CodingWeights w = parse_accept_encoding(accept_encoding);
    std::optional<ContentCoding> best;
    int best_weight = 0;
    // Candidates in tie-break order: a later one wins with a higher weight, or with the same
    // weight and a smaller variant.
    const struct {
        ContentCoding coding;
        int weight;
    } candidates[] = {
        {ContentCoding::br, w.br},
        {ContentCoding::zstd, w.zstd},
        {ContentCoding::gzip, w.gzip},
        {ContentCoding::identity, w.identity_implicit ? 0 : w.identity},
    };
    for (const auto& c : candidates) {
        if (!available.contains(c.coding) || c.weight <= 0) {
            continue;
        }
        if (!best || c.weight > best_weight ||
            (c.weight == best_weight && available.size(c.coding) < available.size(*best))) {
            best = c.coding;
            best_weight = c.weight;
        }
    }
    if (!best && w.identity_implicit && available.contains(ContentCoding::identity)) {
        best = ContentCoding::identity;
    }
    return best;
}

}  // namespace anyedge::http
