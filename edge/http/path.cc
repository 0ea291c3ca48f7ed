#include "edge/http/path.h"

#include <vector>

#include "edge/http/tokens.h"

namespace anyedge::http {
namespace {

PathResult fail(PathError e) {
    PathResult r;
    r.error = e;
    return r;
}

// Strips "scheme://authority" from an absolute-form target (RFC 9112 §3.2.2: servers must
// accept it); the Host header check happens elsewhere.
bool strip_absolute_form(std::string_view& t) {
    for (std::string_view scheme : {"http://", "https://"}) {
        if (t.size() >= scheme.size()) {
            bool match = true;
            for (size_t i = 0; i < scheme.size(); ++i) {
                char c = t[i];
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
                if (c != scheme[i]) {
                    match = false;
                    break;
                }
            }
            if (match) {
                t.remove_prefix(scheme.size());
                const auto slash = t.find_first_of("/?");
                if (slash == std::string_view::npos) {
                    t = "/";
                } else if (t[slash] == '?') {
                    t = t.substr(slash);
                    return false;  // "http://host?q" has no path: treat as bad target
                } else {
                    t.remove_prefix(slash);
                }
                return true;
            }
        }
    }
    return true;
}

// The common case needs no work: no escapes, no empty or dot segments, nothing but visible
// ASCII. Such a path is already what the full rule below would make of it (the same segments,
// the same trailing slash), so it is taken as it is, without splitting it.
bool already_normal(std::string_view path) {
    char prev = 0;
    for (const char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '%' || c == '\\') return false;
        if (prev == '/' && (c == '/' || c == '.')) return false;
        prev = c;
    }
    return true;
}

}  // namespace

PathResult normalize_target(std::string_view target) {
    if (!strip_absolute_form(target)) return fail(PathError::kBadTarget);
    if (target.empty() || target.front() != '/') return fail(PathError::kBadTarget);

    std::string_view raw_path = target;
    PathResult result;
    const auto q = target.find('?');
    if (q != std::string_view::npos) {
        raw_path = target.substr(0, q);
        result.target.query = std::string(target.substr(q + 1));
        result.target.has_query = true;
    }
    // Fragments are never sent by clients (RFC 9110 §7.1); a '#' here is an attack or a bug.
    if (target.find('#') != std::string_view::npos) return fail(PathError::kForbiddenByte);
    if (already_normal(raw_path)) {
        result.target.path = std::string(raw_path);
        result.ok = true;
        return result;
    }

    // Decode into segments, then resolve dot-segments per RFC 3986 §5.2.4 on whole segments.
    std::vector<std::string> segments;
    std::string current;
    bool in_segment = false;
    bool last_was_dot = false;
    auto end_segment = [&]() -> bool {
        if (!in_segment) return true;
        in_segment = false;
        last_was_dot = current == "." || current == "..";
        if (current == ".") {
        } else if (current == "..") {
            if (segments.empty()) return false;
            segments.pop_back();
        } else if (!current.empty()) {
            segments.push_back(std::move(current));
        }
        current.clear();
        return true;
    };

    for (size_t i = 0; i < raw_path.size(); ++i) {
        char c = raw_path[i];
        if (c == '/') {
            if (!end_segment()) return fail(PathError::kAboveRoot);
            continue;
        }
        in_segment = true;
        if (c == '%') {
            if (i + 2 >= raw_path.size()) return fail(PathError::kBadEscape);
            const int hi = hex_value(raw_path[i + 1]);
            const int lo = hex_value(raw_path[i + 2]);
            if (hi < 0 || lo < 0) return fail(PathError::kBadEscape);
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
            if (c == '/') return fail(PathError::kEncodedSlash);
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '\\') return fail(PathError::kForbiddenByte);
        current.push_back(c);
    }
    const bool trailing_slash = !in_segment;
    if (!end_segment()) return fail(PathError::kAboveRoot);

    std::string& path = result.target.path;
    for (const auto& s : segments) {
        path.push_back('/');
        path += s;
    }
    // "/a/." and "/a/.." name directories: keep the trailing slash RFC 3986 would leave.
    if (path.empty() || trailing_slash || last_was_dot) {
        if (path.empty() || path.back() != '/') path.push_back('/');
    }
    result.ok = true;
    return result;
}

std::string_view describe(PathError error) {
    switch (error) {
        case PathError::kBadTarget:
            return "malformed request target";
        case PathError::kBadEscape:
            return "invalid percent-escape in path";
        case PathError::kForbiddenByte:
            return "forbidden byte in path";
        case PathError::kEncodedSlash:
            return "encoded slash in path";
        case PathError::kAboveRoot:
            return "path climbs above the root";
    }
    return "bad path";
}

}  // namespace anyedge::http
