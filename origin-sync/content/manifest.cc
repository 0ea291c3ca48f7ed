#include "origin-sync/content/manifest.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace anyedge {

namespace {

using json = nlohmann::json;

// Thrown only inside this file and turned into a Result in parse_*().
struct ParseError {
    std::string message;
};

[[noreturn]] void fail(std::string message) { throw ParseError{std::move(message)}; }

void check_keys(const json& obj, const std::string& where,
                std::initializer_list<const char*> allowed,
                std::initializer_list<const char*> required) {
    if (!obj.is_object()) fail(where + ": expected an object");
    for (const auto& item : obj.items()) {
        const std::string& key = item.key();
        if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
            fail(where + ": unknown field \"" + key + "\"");
        }
    }
    for (const char* r : required) {
        if (!obj.contains(r)) fail(where + ": missing field \"" + r + "\"");
    }
}

uint64_t get_u64(const json& obj, const std::string& where, const char* key) {
    const json& v = obj.at(key);
    if (!v.is_number_unsigned()) {
        fail(where + "." + key + ": expected a non-negative integer");
    }
    return v.get<uint64_t>();
}

int64_t get_i64(const json& obj, const std::string& where, const char* key) {
    const json& v = obj.at(key);
    if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            fail(where + "." + key + ": out of range");
        }
        return static_cast<int64_t>(v.get<uint64_t>());
    }
    if (!v.is_number_integer()) fail(where + "." + key + ": expected an integer");
    return v.get<int64_t>();
}

std::string get_string(const json& obj, const std::string& where, const char* key) {
    const json& v = obj.at(key);
    if (!v.is_string()) fail(where + "." + key + ": expected a string");
    return v.get<std::string>();
}

std::string get_hash(const json& obj, const std::string& where, const char* key) {
    std::string s = get_string(obj, where, key);
    if (!is_sha256_hex(s)) fail(where + "." + key + ": expected 64 lowercase hex characters");
    return s;
}

// Values that end up in response headers: printable ASCII only (RFC 9110 section 5.5 allows
// obs-text, but nothing we generate needs it and CR/LF would allow header injection).
std::string get_header_value(const json& obj, const std::string& where, const char* key) {
    std::string s = get_string(obj, where, key);
    if (s.empty()) fail(where + "." + key + ": must not be empty");
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f) fail(where + "." + key + ": contains a non-printable character");
    }
    return s;
}

template <typename F>
auto guarded(std::string_view text, F&& f) -> Result<decltype(f(std::declval<const json&>()))> {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return make_error("not valid JSON");
    try {
        return f(doc);
    } catch (const ParseError& e) {
        return make_error(e.message);
    } catch (const std::exception& e) {
        return make_error(std::string("malformed: ") + e.what());
    }
}

FileEntry parse_file(const json& obj, const std::string& where) {
    check_keys(obj, where, {"sha256", "size", "type", "encodings", "cache-control", "modified"},
               {"sha256", "size", "type", "cache-control", "modified"});
    FileEntry f;
    f.sha256 = get_hash(obj, where, "sha256");
    f.size = get_u64(obj, where, "size");
    f.type = get_header_value(obj, where, "type");
    f.cache_control = get_header_value(obj, where, "cache-control");
    f.modified = get_i64(obj, where, "modified");
    if (obj.contains("encodings")) {
        const json& enc = obj.at("encodings");
        std::string ew = where + ".encodings";
        if (!enc.is_object()) fail(ew + ": expected an object");
        for (const auto& [name, _] : enc.items()) {
            if (std::find(std::begin(kEncodings), std::end(kEncodings), name) ==
                std::end(kEncodings)) {
                fail(ew + ": unsupported encoding \"" + name + "\"");
            }
            f.encodings[name] = get_hash(enc, ew, name.c_str());
        }
    }
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
    return guarded(text, [](const json& doc) {
        check_keys(doc, "manifest", {"generation", "parent", "created", "files"},
                   {"generation", "parent", "created", "files"});
        Manifest m;
        m.generation = get_u64(doc, "manifest", "generation");
        m.parent = get_u64(doc, "manifest", "parent");
        m.created = get_i64(doc, "manifest", "created");
        if (m.generation == 0) fail("manifest.generation: must be at least 1");
        if (m.parent >= m.generation) fail("manifest.parent: must be lower than generation");
        const json& files = doc.at("files");
        if (!files.is_object()) fail("manifest.files: expected an object");
        for (const auto& [path, entry] : files.items()) {
            std::string where = "manifest.files[\"" + path + "\"]";
            if (Status s = validate_site_path(path); !s) fail(where + ": " + s.error());
            m.files.emplace(path, parse_file(entry, where));
        }
        // A file and a directory of the same name cannot both exist on a file system, and the
        // edge maps "dir/" to "dir/index.html": reject "a" next to "a/b".
        for (auto it = m.files.begin(); it != m.files.end(); ++it) {
            auto next = m.files.lower_bound(it->first + "/");
            if (next != m.files.end() && next->first.starts_with(it->first + "/")) {
                fail("manifest.files[\"" + it->first + "\"]: is also a directory (\"" +
                     next->first + "\")");
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
    return guarded(text, [](const json& doc) {
        check_keys(doc, "current", {"generation", "manifest_sha256", "issued", "expires"},
                   {"generation", "manifest_sha256", "issued", "expires"});
        CurrentPointer c;
        c.generation = get_u64(doc, "current", "generation");
        c.manifest_sha256 = get_hash(doc, "current", "manifest_sha256");
        c.issued = get_i64(doc, "current", "issued");
        c.expires = get_i64(doc, "current", "expires");
        if (c.generation == 0) fail("current.generation: must be at least 1");
        if (c.expires < c.issued) fail("current.expires: earlier than issued");
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
