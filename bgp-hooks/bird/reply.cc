#include "bgp-hooks/bird/reply.h"

#include <utility>

namespace anyedge::bird {

CodeClass classify(int code) {
    if (code < 0 || code > 9999) return CodeClass::other;
    switch (code / 1000) {
        case 0:
            return CodeClass::ok;
        case 1:
        case 2:
            return CodeClass::table;
        case 8:
            return CodeClass::runtime_error;
        case 9:
            return CodeClass::parse_error;
        default:
            return CodeClass::other;
    }
}

Result<ReplyLine> parse_line(std::string_view line, int previous_code) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == ' ') {
        if (previous_code < 0) return make_error("continuation line without a preceding line");
        return ReplyLine{previous_code, std::string(line.substr(1)), false};
    }
    if (line.size() < 5) return make_error("reply line too short: '" + std::string(line) + "'");
    int code = 0;
    for (int i = 0; i < 4; ++i) {
        char c = line[i];
        if (c < '0' || c > '9') return make_error("reply line without a 4-digit code");
        code = code * 10 + (c - '0');
    }
    char sep = line[4];
    if (sep != '-' && sep != ' ') return make_error("reply line with a bad separator");
    return ReplyLine{code, std::string(line.substr(5)), sep == ' '};
}

bool Reply::error() const {
    CodeClass c = classify(code());
    return c == CodeClass::runtime_error || c == CodeClass::parse_error || c == CodeClass::other;
}

std::string Reply::text() const {
    std::string out;
    for (const auto& l : lines) {
        if (!out.empty()) out += '\n';
        out += l.text;
    }
    return out;
}

Status ReplyAssembler::feed(std::string_view bytes) {
    if (failed_) return make_error("reply stream already failed");
    partial_.append(bytes);
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(partial_.data() + start, nl - start);
        int prev = current_.lines.empty() ? -1 : current_.lines.back().code;
        auto parsed = parse_line(line, prev);
        if (!parsed) {
            failed_ = true;
            return make_error(parsed.error());
        }
        bool final = parsed->final;
        current_.lines.push_back(std::move(*parsed));
        if (final) {
            ready_.push_back(std::move(current_));
            current_ = Reply{};
        }
    }
    partial_.erase(0, start);
    return ok_status();
}

std::optional<Reply> ReplyAssembler::next() {
    if (ready_.empty()) return std::nullopt;
    Reply r = std::move(ready_.front());
    ready_.erase(ready_.begin());
    return r;
}

}  // namespace anyedge::bird
