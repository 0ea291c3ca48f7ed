#include "edge/server/forward_peers.h"

#include <charconv>

#include "edge/server/listener.h"

namespace anyedge::server {

Result<quic::PeerAddresses> parse_forward_peers(const std::vector<std::string>& entries,
                                                uint16_t self) {
    quic::PeerAddresses peers;
    for (const std::string& e : entries) {
        const auto eq = e.find('=');
        unsigned id = 0;
        const char* end = e.data() + (eq == std::string::npos ? 0 : eq);
        auto [p, ec] = std::from_chars(e.data(), end, id);
        if (eq == std::string::npos || eq == 0 || ec != std::errc() || p != end || id > 0xffff) {
            return make_error("quic_forward_peers: '" + e + "' is not NODE_ID=ADDR:PORT");
        }
        if (id == self) return make_error("quic_forward_peers: '" + e + "' names this node");
        auto addr = parse_listen_address(e.substr(eq + 1));
        if (!addr || addr->port == 0) {
            return make_error("quic_forward_peers: '" + e +
                              "': " + (addr ? std::string("port 0") : addr.error()));
        }
        quic::Address a;
        a.addr = addr->addr;
        a.len = addr->addr_len;
        if (!peers.emplace(uint16_t(id), a).second) {
            return make_error("quic_forward_peers: node " + std::to_string(id) + " twice");
        }
    }
    return peers;
}

}  // namespace anyedge::server
