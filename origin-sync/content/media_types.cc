#include "origin-sync/content/media_types.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace anyedge {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string mime_type(std::string_view path) {
    static const std::map<std::string, std::string, std::less<>> kTypes = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"xml", "application/xml"},
        {"atom", "application/atom+xml"},
        {"rss", "application/rss+xml"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mp3", "audio/mpeg"},
        {"zip", "application/zip"},
    };
    std::string_view name = basename(path);
    size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return "application/octet-stream";
    auto it = kTypes.find(lower(name.substr(dot + 1)));
    return it == kTypes.end() ? "application/octet-stream" : it->second;
}

bool is_compressible(std::string_view mime) {
    std::string_view base = mime.substr(0, mime.find(';'));
    if (base.starts_with("text/")) return true;
    static constexpr std::string_view kTypes[] = {"application/json",
                                                  "application/manifest+json",
                                                  "application/xml",
                                                  "application/atom+xml",
                                                  "application/rss+xml",
                                                  "image/svg+xml",
                                                  "image/x-icon",
                                                  "application/wasm",
                                                  "font/ttf",
                                                  "font/otf"};
    return std::find(std::begin(kTypes), std::end(kTypes), base) != std::end(kTypes);
}

bool is_fingerprinted(std::string_view path) {
    std::string_view name = basename(path);
    size_t start = 0;
    while (start < name.size()) {
        size_t end = name.find_first_of(".-_", start);
        if (end == std::string_view::npos) end = name.size();
        std::string_view part = name.substr(start, end - start);
        bool hex = part.size() >= 8 && std::all_of(part.begin(), part.end(), [](char c) {
                       return std::isxdigit(static_cast<unsigned char>(c));
                   });
        bool digit = std::any_of(part.begin(), part.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        });
        bool letter = std::any_of(part.begin(), part.end(), [](char c) {
            return std::isalpha(static_cast<unsigned char>(c));
        });
        if (hex && digit && letter) return true;
        start = end + 1;
    }
    return false;
}

std::string cache_control_for(std::string_view path, std::string_view mime) {
    if (is_fingerprinted(path)) return "public, max-age=31536000, immutable";
    if (mime.starts_with("text/html")) return "public, max-age=60";
    return "public, max-age=3600";
}

}  // namespace anyedge
