#include "bgp-hooks/policy/backend.h"

#include <charconv>
#include <utility>

#include "origin-sync/base/file_io.h"

namespace anyedge::policy {

BirdBackend::BirdBackend(std::string state_file, std::string socket_path,
                         std::chrono::milliseconds timeout, LogFn log)
    : state_file_(std::move(state_file)),
      client_(std::move(socket_path), timeout),
      log_(std::move(log)) {}

Status BirdBackend::apply(RouteState s, std::string_view reason) {
    if (desired_ != s || !file_written_) {
        desired_ = s;
        reason_ = std::string(reason);
        in_sync_ = false;
        // The file first: even if BIRD is down now, it reads the file when it starts.
        file_written_ = false;
        if (auto st = atomic_write_file(state_file_, render_state_file(s, reason_)); !st) {
            return st;
        }
        file_written_ = true;
    }
    return push();
}

Status BirdBackend::push() {
    if (auto r = client_.configure_check(); !r) {
        in_sync_ = false;
        return make_error(r.error());
    }
    if (auto r = client_.configure(); !r) {
        in_sync_ = false;
        return make_error(r.error());
    }
    in_sync_ = true;
    synced_connection_ = client_.connection_count();
    return ok_status();
}

Status BirdBackend::maintain() {
    if (!desired_) return ok_status();
    bool restarted = !client_.alive() || client_.connection_count() != synced_connection_;
    if (in_sync_ && !restarted) return ok_status();
    if (auto st = client_.connect(); !st) {
        in_sync_ = false;
        return st;
    }
    if (in_sync_ && client_.connection_count() == synced_connection_) return ok_status();
    bool was_restart = in_sync_;
    // The file may have been replaced or lost with the machine's tmpfs: write it again.
    if (auto st = atomic_write_file(state_file_, render_state_file(*desired_, reason_)); !st) {
        in_sync_ = false;
        return st;
    }
    auto st = push();
    if (st && log_) {
        log_(std::string(was_restart ? "BIRD restarted" : "BIRD reachable again") +
             ": re-applied route state " + to_string(*desired_));
    }
    return st;
}

bool valid_community(std::string_view c) {
    auto colon = c.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == c.size()) return false;
    for (auto part : {c.substr(0, colon), c.substr(colon + 1)}) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (ec != std::errc() || p != part.data() + part.size() || v > 65535) return false;
    }
    return true;
}

ExabgpBackend::ExabgpBackend(std::ostream& out, std::vector<std::string> prefixes,
                             uint32_t local_as, DepreferConfig deprefer)
    : out_(out),
      prefixes_(std::move(prefixes)),
      local_as_(local_as),
      deprefer_(std::move(deprefer)) {}

std::vector<std::string> ExabgpBackend::lines(RouteState s) const {
    std::vector<std::string> out;
    for (const auto& p : prefixes_) {
        std::string line;
        switch (s) {
            case RouteState::withdraw:
                line = "withdraw route " + p + " next-hop self";
                break;
            case RouteState::announce:
                line = "announce route " + p + " next-hop self";
                break;
            case RouteState::graceful_shutdown:
                line = "announce route " + p + " next-hop self community [65535:0]";
                break;
            case RouteState::deprefer: {
                line = "announce route " + p + " next-hop self";
                if (deprefer_.prepend > 0) {
                    // ExaBGP sends this AS_PATH as given; it adds its own AS for eBGP.
                    line += " as-path [";
                    for (int i = 0; i < deprefer_.prepend; ++i) {
                        line += (i ? " " : "") + std::to_string(local_as_);
                    }
                    line += "]";
                }
                if (!deprefer_.communities.empty()) {
                    line += " community [";
                    for (size_t i = 0; i < deprefer_.communities.size(); ++i) {
                        line += (i ? " " : "") + deprefer_.communities[i];
                    }
                    line += "]";
                }
                break;
            }
        }
        out.push_back(std::move(line));
    }
    return out;
}

Status ExabgpBackend::apply(RouteState s, std::string_view) {
    if (last_ == s) return ok_status();
    for (const auto& l : lines(s)) out_ << l << '\n';
    out_.flush();
    if (!out_) return make_error("cannot write to ExaBGP (stdout closed)");
    last_ = s;
    return ok_status();
}

}  // namespace anyedge::policy
