#include "origin-sync/publish/origin.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "origin-sync/content/store.h"

namespace anyedge::publish {

LocalOrigin::~LocalOrigin() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status LocalOrigin::lock() {
    std::error_code ec;
    std::filesystem::create_directories(root_, ec);
    if (ec) return make_error("cannot create origin " + root_.string() + ": " + ec.message());
    auto p = root_ / ".publish.lock";
    lock_fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) return make_error("cannot open " + p.string() + ": " + std::strerror(errno));
    // flock(2): released automatically if the publisher dies.
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        return make_error("another publish to " + root_.string() + " is running");
    }
    return ok_status();
}

Result<std::optional<std::string>> LocalOrigin::get(const std::string& rel) {
    auto p = root_ / rel;
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return std::optional<std::string>{};
    auto bytes = read_file(p);
    if (!bytes) return bytes.forward_error();
    return std::optional<std::string>(std::move(*bytes));
}

Result<bool> LocalOrigin::exists(const std::string& rel) {
    std::error_code ec;
    bool e = std::filesystem::is_regular_file(root_ / rel, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
        return make_error("cannot stat " + (root_ / rel).string() + ": " + ec.message());
    }
    return e;
}

Status LocalOrigin::put(const std::string& rel, std::string_view bytes) {
    return atomic_write_file(root_ / rel, bytes, 0644);
}

std::vector<uint64_t> LocalOrigin::list_generations() { return anyedge::list_generations(root_); }

}  // namespace anyedge::publish
