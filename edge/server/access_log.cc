#include "edge/server/access_log.h"

namespace anyedge::server {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c >= 0x7f) {
            // Non-ASCII bytes are escaped too: the target is raw bytes, not known to be UTF-8.
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

namespace {
std::string_view method_text(const http::Request& r) { return r.method_name; }
}  // namespace

void AccessLog::record(int64_t unix_ms, std::string_view peer, bool tls,
                       const http::Request& request, const ResponseInfo& info) {
    line_.clear();
    line_.append("{\"ts\":").append(std::to_string(unix_ms));
    line_.append(",\"peer\":");
    append_json_string(line_, peer);
    line_.append(",\"tls\":").append(tls ? "true" : "false");
    line_.append(",\"method\":");
    append_json_string(line_, method_text(request));
    line_.append(",\"target\":");
    append_json_string(line_, request.target);
    line_.append(",\"version\":\"")
        .append(request.version >= 30   ? "3"
                : request.version >= 20 ? "2"
                : request.version >= 11 ? "1.1"
                                        : "1.0")
        .append("\"");
    line_.append(",\"status\":").append(std::to_string(info.status));
    line_.append(",\"bytes\":").append(std::to_string(info.body_bytes));
    line_.append(",\"keep_alive\":").append(info.keep_alive ? "true" : "false");
    line_.append("}\n");
    append_line(line_);
}

void AccessLog::record_error(int64_t unix_ms, std::string_view peer, bool tls, int status,
                             std::string_view reason) {
    line_.clear();
    line_.append("{\"ts\":").append(std::to_string(unix_ms));
    line_.append(",\"peer\":");
    append_json_string(line_, peer);
    line_.append(",\"tls\":").append(tls ? "true" : "false");
    line_.append(",\"status\":").append(std::to_string(status));
    line_.append(",\"error\":");
    append_json_string(line_, reason);
    line_.append("}\n");
    append_line(line_);
}

void AccessLog::append_line(std::string_view line) {
    if (pending_.size() + line.size() > max_pending_) {
        ++dropped_;  // the disk is not keeping up: lose log lines, never serving time
        return;
    }
    pending_.append(line);
}

std::string_view AccessLog::start_write() {
    if (in_flight_) return {};
    if (written_ >= writing_.size()) {
        if (pending_.empty()) return {};
        writing_.swap(pending_);
        pending_.clear();
        written_ = 0;
    }
    in_flight_ = true;
    return std::string_view(writing_).substr(written_);
}

void AccessLog::write_done(long written) {
    in_flight_ = false;
    if (written <= 0) {
        // A failing disk: drop this batch (counted) rather than retry forever.
        dropped_ += 1;
        written_ = writing_.size();
    } else {
        written_ += static_cast<size_t>(written);
    }
    if (written_ >= writing_.size()) {
        writing_.clear();
        written_ = 0;
    }
}

}  // namespace anyedge::server
