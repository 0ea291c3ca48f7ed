#include "origin-sync/base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace anyedge {

namespace fs = std::filesystem;

namespace {

Error errno_error(const std::string& what, const fs::path& p) {
    const int err = errno;
    return make_error(what + " " + p.string() + ": " + std::strerror(err),
                      err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kFailed);
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

}  // namespace

Result<std::string> read_file(const fs::path& path, uint64_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return errno_error("cannot open", path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return errno_error("cannot stat", path);
    if (!S_ISREG(st.st_mode)) return make_error(path.string() + " is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
        return make_error(path.string() + " is larger than " + std::to_string(max_bytes) +
                          " bytes");
    }
    std::string out;
    out.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("cannot read", path);
        if (n == 0) break;  // file shrank under us: return what is there
        done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
}

Status fsync_dir(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return errno_error("cannot open directory", dir);
    if (::fsync(fd.get()) != 0) return errno_error("cannot fsync", dir);
    return ok_status();
}

Status atomic_write_file(const fs::path& path, std::string_view bytes, mode_t mode) {
    static std::atomic<uint64_t> counter{0};
    fs::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());

    // Unique per process and call, so concurrent writers never share a temporary file.
    fs::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) return errno_error("cannot create", tmp);
    auto cleanup_fail = [&](Error e) {
        ::unlink(tmp.c_str());
        return e;
    };
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cleanup_fail(errno_error("cannot write", tmp));
        done += static_cast<size_t>(n);
    }
    // open(2) applies the umask; set the exact mode requested.
    if (::fchmod(fd.get(), mode) != 0) return cleanup_fail(errno_error("cannot chmod", tmp));
    if (::fsync(fd.get()) != 0) return cleanup_fail(errno_error("cannot fsync", tmp));
    if (::close(fd.release()) != 0) return cleanup_fail(errno_error("cannot close", tmp));
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return cleanup_fail(errno_error("cannot rename onto", path));
    }
    return fsync_dir(dir);
}

Result<std::string> read_token_file(const fs::path& path) {
    auto t = read_file(path, 4096);
    if (!t) return t.forward_error("token file: ");
    std::string token = t->substr(0, t->find('\n'));
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
        token.pop_back();
    }
    if (token.empty()) return make_error("token file " + path.string() + " is empty");
    return token;
}

}  // namespace anyedge
