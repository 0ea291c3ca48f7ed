#include "bgp-hooks/policy/route_state.h"

namespace anyedge::policy {

const char* to_string(RouteState s) {
    switch (s) {
        case RouteState::announce:
            return "announce";
        case RouteState::deprefer:
            return "deprefer";
        case RouteState::graceful_shutdown:
            return "graceful-shutdown";
        case RouteState::withdraw:
            return "withdraw";
    }
    return "?";
}

std::optional<RouteState> route_state_from_string(std::string_view s) {
    for (auto r : {RouteState::announce, RouteState::deprefer, RouteState::graceful_shutdown,
                   RouteState::withdraw}) {
        if (s == to_string(r)) return r;
    }
    return std::nullopt;
}

std::string render_state_file(RouteState s, std::string_view reason) {
    std::string why;
    for (char c : reason) why += (c == '\n' || c == '\r') ? ' ' : c;
    std::string out;
    out += "# Written by cdn-hooks; do not edit (it is rewritten on every state change).\n";
    out += "# 0 announce, 1 de-prefer, 2 GRACEFUL_SHUTDOWN 65535:0, 3 withdraw\n";
    out += "# state: " + std::string(to_string(s)) + "\n";
    if (!why.empty()) out += "# reason: " + why + "\n";
    out += "define DRAIN = " + std::to_string(static_cast<int>(s)) + ";\n";
    return out;
}

std::optional<RouteState> parse_state_file(std::string_view text) {
    constexpr std::string_view key = "define DRAIN = ";
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        if (line.substr(0, key.size()) != key) continue;
        std::string_view rest = line.substr(key.size());
        if (rest.size() < 2 || rest[1] != ';' || rest[0] < '0' || rest[0] > '3')
            return std::nullopt;
        return static_cast<RouteState>(rest[0] - '0');
    }
    return std::nullopt;
}

}  // namespace anyedge::policy
