#include "origin-sync/base/log_line.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace anyedge {

namespace {
std::string& log_name() {
    static std::string name = "anyedge";
    return name;
}
}  // namespace

void set_log_name(std::string name) { log_name() = std::move(name); }

void log_line(std::string_view message) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &t);
    char millis[16];
    std::snprintf(millis, sizeof millis, ".%03dZ ", static_cast<int>(ts.tv_nsec / 1000000));
    std::string line = std::string(stamp) + millis + log_name() + ": ";
    line.append(message);
    line += '\n';
    // One write(2): lines from several threads never interleave.
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace anyedge
