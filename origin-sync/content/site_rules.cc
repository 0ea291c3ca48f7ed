#include "origin-sync/content/site_rules.h"

namespace anyedge {

std::string resolve_index(std::string_view url_path) {
    std::string out(url_path);
    if (out.empty() || out.back() == '/') out += "index.html";
    return out;
}

std::string manifest_key_for(std::string_view target) {
    target = target.substr(0, target.find('?'));
    if (target.starts_with('/')) target.remove_prefix(1);
    return resolve_index(target);
}

std::string etag_for(std::string_view sha256_hex) {
    std::string out;
    out.reserve(sha256_hex.size() + 2);
    out += '"';
    out += sha256_hex;
    out += '"';
    return out;
}

std::string sha256_of_etag(std::string_view e) {
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    if (e.size() < 3 || e.front() != '"' || e.back() != '"') return "";
    return std::string(e.substr(1, e.size() - 2));
}

}  // namespace anyedge
