#include "edge/cache/site_loader.h"

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "origin-sync/content/compress.h"
#include "origin-sync/content/media_types.h"
#include "origin-sync/content/site_rules.h"

namespace anyedge::cache {
namespace fs = std::filesystem;

namespace {

Result<Bytes> read_bytes(const fs::path& file, size_t size, size_t mmap_threshold) {
    if (size >= mmap_threshold) {
        auto m = MappedFile::open(file.string());
        if (!m) return make_error(m.error());
        return Bytes{std::move(*m)};
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error("cannot read " + file.string());
    std::string s(size, '\0');
    in.read(s.data(), static_cast<std::streamsize>(size));
    if (static_cast<size_t>(in.gcount()) != size) return make_error("short read " + file.string());
    return Bytes{std::move(s)};
}

bool inside(const fs::path& root, const fs::path& p) {
    auto r = root.begin();
    auto q = p.begin();
    for (; r != root.end(); ++r, ++q) {
        if (q == p.end() || *r != *q) return false;
    }
    return true;
}

// Copies the representations `previous` made at load for the same bytes under the same path;
// false when there are none to reuse.
bool reuse_compressed(FileSpec& spec, const Snapshot& previous) {
    const Lookup old = previous.find(spec.path);
    if (old.kind != LookupKind::kFile || old.entry->path != spec.path ||
        !old.entry->compressed_at_load || old.entry->content_type != spec.content_type ||
        old.entry->identity.body != view_of(spec.bytes)) {
        return false;
    }
    for (const Representation& r : old.entry->encoded) {
        spec.encodings.emplace_back(r.encoding, Bytes{std::string(r.body)});
        spec.encoding_sha256_hex.push_back(sha256_of_etag(r.etag));
    }
    spec.sha256_hex = sha256_of_etag(old.entry->identity.etag);
    return true;
}

// The br, zstd and gzip representations of `spec`, as a publish makes them but at the fast setting
// (this runs at every load and reload), each kept only when smaller than the original.
Status add_compressed(FileSpec& spec, const Snapshot* previous) {
    const std::string_view bytes = view_of(spec.bytes);
    if (bytes.empty() || !is_compressible(spec.content_type)) return ok_status();
    spec.compressed_at_load = true;
    if (previous != nullptr && reuse_compressed(spec, *previous)) return ok_status();
    auto br = brotli_compress(bytes, Effort::kFast);
    if (!br) return make_error(spec.path + ": " + br.error());
    auto zst = zstd_compress(bytes, Effort::kFast);
    if (!zst) return make_error(spec.path + ": " + zst.error());
    auto gz = gzip_compress(bytes, Effort::kFast);
    if (!gz) return make_error(spec.path + ": " + gz.error());
    if (br->size() < bytes.size()) spec.encodings.emplace_back("br", Bytes{std::move(*br)});
    if (zst->size() < bytes.size()) spec.encodings.emplace_back("zstd", Bytes{std::move(*zst)});
    if (gz->size() < bytes.size()) spec.encodings.emplace_back("gzip", Bytes{std::move(*gz)});
    return ok_status();
}

struct Found {
    fs::path file;  // resolved, inside root
    size_t size = 0;
    int64_t mtime = 0;
};

}  // namespace

Result<std::vector<FileSpec>> load_site_dir(const fs::path& dir, const SiteLoadOptions& options) {
    const size_t mmap_threshold = options.mmap_threshold;
    std::error_code ec;
    const fs::path root = fs::canonical(dir, ec);
    if (ec) return make_error("site folder " + dir.string() + ": " + ec.message());
    if (!fs::is_directory(root))
        return make_error("site folder " + dir.string() + " is not a folder");

    std::map<std::string, Found> found;  // URL path -> file
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
    if (ec) return make_error("cannot list " + root.string() + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) return make_error("cannot list " + root.string() + ": " + ec.message());
        const fs::path& p = it->path();
        const std::string name = p.filename().string();
        if (!name.empty() && name.front() == '.') {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        // Resolve symlinks and refuse anything whose target leaves the site (RFC-less but
        // essential: a link to /etc/passwd must never become servable).
        const fs::path real = fs::canonical(p, ec);
        if (ec || !inside(root, real)) {
            ec.clear();
            continue;
        }
        struct stat st {};
        if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        std::string url = "/" + p.lexically_relative(root).generic_string();
        found[url] =
            Found{real, static_cast<size_t>(st.st_size), static_cast<int64_t>(st.st_mtime)};
    }

    std::vector<FileSpec> specs;
    for (const auto& [url, f] : found) {
        // A precompressed sibling (x.br, x.zst, x.gz) is a variant of x, not a file of its own.
        const size_t suffix = url.ends_with(".br") || url.ends_with(".gz") ? 3
                              : url.ends_with(".zst")                      ? 4
                                                                           : 0;
        if (suffix != 0 && found.count(url.substr(0, url.size() - suffix))) continue;
        FileSpec spec;
        spec.path = url;
        spec.content_type = mime_type(url);
        spec.last_modified = f.mtime;
        auto bytes = read_bytes(f.file, f.size, mmap_threshold);
        if (!bytes) return make_error(bytes.error());
        spec.bytes = std::move(*bytes);
        for (const auto& [suffix, coding] :
             {std::pair{".br", "br"}, std::pair{".zst", "zstd"}, std::pair{".gz", "gzip"}}) {
            auto v = found.find(url + suffix);
            // A variant is only worth serving when it is smaller than the original.
            if (v == found.end() || v->second.size >= f.size) continue;
            auto vb = read_bytes(v->second.file, v->second.size, mmap_threshold);
            if (!vb) return make_error(vb.error());
            spec.encodings.emplace_back(coding, std::move(*vb));
        }
        // Siblings are the operator's choice (even if one is missing or was not smaller).
        const bool has_sibling =
            found.count(url + ".br") || found.count(url + ".zst") || found.count(url + ".gz");
        if (options.compress && !has_sibling) {
            if (auto st = add_compressed(spec, options.previous); !st) {
                return make_error(st.error());
            }
        }
        specs.push_back(std::move(spec));
    }
    return specs;
}

}  // namespace anyedge::cache
