#include "origin-sync/content/manifest.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "origin-sync/base/json_object.h"

namespace anyedge {

namespace {

using json = nlohmann::json;

std::string get_hash(JsonObject& o, const std::string& key) {
    std::string s = o.str(key);
    if (!is_sha256_hex(s)) o.fail(key, "expected 64 lowercase hex characters");
    return s;
}

// Values that end up in response headers: printable ASCII only (RFC 9110 section 5.5 allows
// obs-text, but nothing we generate needs it and CR/LF would allow header injection).
std::string get_header_value(JsonObject& o, const std::string& key) {
    std::string s = o.str(key);
    if (s.empty()) o.fail(key, "must not be empty");
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f) o.fail(key, "contains a non-printable character");
    }
    return s;
}

FileEntry parse_file(JsonObject& o) {
    FileEntry f;
    f.sha256 = get_hash(o, "sha256");
    f.size = o.unsigned_integer("size");
    f.type = get_header_value(o, "type");
    f.cache_control = get_header_value(o, "cache-control");
    f.modified = o.integer("modified");
    if (o.has("encodings")) {
        JsonObject enc = o.object("encodings");
        for (const std::string& name : enc.keys()) {
            if (std::find(std::begin(kEncodings), std::end(kEncodings), name) ==
                std::end(kEncodings)) {
                enc.fail(name, "unsupported encoding");
            }
            f.encodings[name] = get_hash(enc, name);
        }
    }
    o.finish();
    return f;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid (RFC 3629).
        static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

bool is_sha256_hex(std::string_view s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

Status validate_site_path(std::string_view path) {
    if (path.empty()) return make_error("empty path");
    if (path.size() > 1024) return make_error("path longer than 1024 bytes");
    if (path.front() == '/') return make_error("leading '/'");
    if (path.back() == '/') return make_error("trailing '/'");
    for (unsigned char c : path) {
        if (c == '\\') return make_error("backslash in path");
        if (c == 0) return make_error("NUL byte in path");
        if (c < 0x20 || c == 0x7f) return make_error("control character in path");
        // A browser never sends these as part of the path: the file could not be requested.
        if (c == '?' || c == '#') return make_error("'?' or '#' in path");
    }
    if (!is_valid_utf8(path)) return make_error("path is not valid UTF-8");
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        std::string_view seg = path.substr(start, end - start);
        if (seg.empty()) return make_error("empty segment (\"//\")");
        if (seg == "." || seg == "..") return make_error("\".\" or \"..\" segment");
        start = end + 1;
    }
    return ok_status();
}

Result<Manifest> parse_manifest(std::string_view text) {
    return read_json_object(text, "manifest", [](JsonObject& o) {
        Manifest m;
        m.generation = o.unsigned_integer("generation");
        m.parent = o.unsigned_integer("parent");
        m.created = o.integer("created");
        if (m.generation == 0) o.fail("generation", "must be at least 1");
        if (m.parent >= m.generation) o.fail("parent", "must be lower than generation");
        JsonObject files = o.object("files");
        for (const std::string& path : files.keys()) {
            const std::string key = "[\"" + path + "\"]";
            if (Status s = validate_site_path(path); !s) files.fail(key, s.error());
            JsonObject entry(files.at(path), files.where(key));
            m.files.emplace(path, parse_file(entry));
        }
        files.finish();
        o.finish();
        // A file and a directory of the same name cannot both exist on a file system, and the
        // edge maps "dir/" to "dir/index.html": reject "a" next to "a/b".
        for (auto it = m.files.begin(); it != m.files.end(); ++it) {
            auto next = m.files.lower_bound(it->first + "/");
            if (next != m.files.end() && next->first.starts_with(it->first + "/")) {
                files.fail("[\"" + it->first + "\"]",
                           "is also a directory (\"" + next->first + "\")");
            }
        }
        return m;
    });
}

std::string serialize_manifest(const Manifest& m) {
    json files = json::object();
    for (const auto& [path, f] : m.files) {
        json e = {{"sha256", f.sha256},
                  {"size", f.size},
                  {"type", f.type},
                  {"cache-control", f.cache_control},
                  {"modified", f.modified}};
        if (!f.encodings.empty()) e["encodings"] = f.encodings;
        files[path] = std::move(e);
    }
    json doc = {{"generation", m.generation},
                {"parent", m.parent},
                {"created", m.created},
                {"files", std::move(files)}};
    return doc.dump();
}

Result<CurrentPointer> parse_current(std::string_view text) {
    return read_json_object(text, "current", [](JsonObject& o) {
        CurrentPointer c;
        c.generation = o.unsigned_integer("generation");
        c.manifest_sha256 = get_hash(o, "manifest_sha256");
        c.issued = o.integer("issued");
        c.expires = o.integer("expires");
        if (c.generation == 0) o.fail("generation", "must be at least 1");
        if (c.expires < c.issued) o.fail("expires", "earlier than issued");
        o.finish();
        return c;
    });
}

std::string serialize_current(const CurrentPointer& c) {
    json doc = {{"generation", c.generation},
                {"manifest_sha256", c.manifest_sha256},
                {"issued", c.issued},
                {"expires", c.expires}};
    return doc.dump();
}

}  // namespace anyedge
