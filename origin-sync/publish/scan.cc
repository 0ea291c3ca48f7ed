#include "origin-sync/publish/scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "origin-sync/content/manifest.h"

namespace anyedge::publish {

namespace fs = std::filesystem;

namespace {

bool inside(const fs::path& root, const fs::path& p) {
    auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
    return r == root.end();
}

}  // namespace

Result<std::vector<SiteFile>> scan_site(const fs::path& dir) {
    std::error_code ec;
    fs::path root = fs::canonical(dir, ec);
    if (ec) return make_error("site directory " + dir.string() + ": " + ec.message());
    if (!fs::is_directory(root, ec)) return make_error(dir.string() + " is not a directory");
    if (::access(root.c_str(), R_OK | X_OK) != 0) {
        return make_error("site directory " + dir.string() +
                          " is not readable: " + std::strerror(errno));
    }

    std::vector<SiteFile> files;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) return make_error("cannot list " + dir.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) return make_error("cannot list " + dir.string() + ": " + ec.message());
        const fs::path& p = it->path();
        // Lexical: fs::relative() would resolve a symlink and name its target instead.
        std::string rel = p.lexically_relative(root).generic_string();
        struct stat lst;
        if (::lstat(p.c_str(), &lst) != 0) {
            return make_error(rel + ": " + std::strerror(errno));
        }
        fs::path source = p;
        if (S_ISLNK(lst.st_mode)) {
            fs::path target = fs::canonical(p, ec);
            if (ec) return make_error(rel + ": dangling symlink");
            // A link may point anywhere in the file system; publishing its target could leak
            // files the author never meant to put online.
            if (!inside(root, target)) {
                return make_error(rel + ": symlink leads outside the site directory (to " +
                                  target.string() + ")");
            }
            if (fs::is_directory(target, ec)) {
                return make_error(rel + ": symlink to a directory is not supported");
            }
            source = target;
        } else if (S_ISDIR(lst.st_mode)) {
            if (::access(p.c_str(), R_OK | X_OK) != 0) {
                return make_error(rel + ": directory is not readable");
            }
            continue;
        }
        struct stat st;
        if (::stat(source.c_str(), &st) != 0) return make_error(rel + ": " + std::strerror(errno));
        if (!S_ISREG(st.st_mode)) return make_error(rel + ": not a regular file");
        if (Status s = validate_site_path(rel); !s) {
            return make_error(rel + ": the edge could not serve this path (" + s.error() + ")");
        }
        int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return make_error(rel + ": cannot read: " + std::strerror(errno));
        ::close(fd);
        files.push_back(SiteFile{rel, source, static_cast<uint64_t>(st.st_size),
                                 static_cast<int64_t>(st.st_mtim.tv_sec)});
    }
    if (files.empty()) return make_error("site directory " + dir.string() + " has no files");
    std::sort(files.begin(), files.end(),
              [](const SiteFile& a, const SiteFile& b) { return a.path < b.path; });
    return files;
}

}  // namespace anyedge::publish
