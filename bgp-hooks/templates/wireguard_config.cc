#include "bgp-hooks/templates/wireguard_config.h"

namespace anyedge::hooks {

Result<std::vector<WireguardFile>> render_wireguard_configs(const NodeConfig& c) {
    const ForwardSettings& f = c.forwarding;
    if (f.peers.empty()) return make_error("forwarding.peers: no peer to make a tunnel to");
    if (f.tunnel.private_key_file.empty()) {
        return make_error("forwarding.tunnel.private_key_file: needed for the tunnels");
    }
    std::vector<WireguardFile> out;
    for (size_t i = 0; i < f.peers.size(); ++i) {
        const ForwardPeer& p = f.peers[i];
        const std::string where = "forwarding.peers[" + std::to_string(i) + "].";
        if (p.endpoint.empty()) return make_error(where + "endpoint: needed for its tunnel");
        if (p.public_key.empty()) return make_error(where + "public_key: needed for its tunnel");
        if (p.listen_port == 0) return make_error(where + "listen_port: needed for its tunnel");
        std::string t;
        t += "# cdn-hooks render-wireguard: the stray-forwarding tunnel from " + c.node + " to " +
             p.name + ".\n";
        t += "# Forwarded packets keep the client's source address, so AllowedIPs is every\n";
        t += "# address; Table = off keeps wg-quick from routing anything into the tunnel but\n";
        t += "# the peer's tunnel address (bgp-hooks/README.md, stray forwarding).\n";
        t += "[Interface]\n";
        t += "ListenPort = " + std::to_string(p.listen_port) + "\n";
        t += "MTU = 1500\n";  // a forwarded segment is as large as the client sent it
        t += "Table = off\n";
        t += "PostUp = wg set %i private-key " + f.tunnel.private_key_file + "\n";
        if (!f.tunnel.address.empty() && !p.address.empty()) {
            const bool v6 = f.tunnel.address.find(':') != std::string::npos;
            const std::string len = v6 ? "/128" : "/32";
            t += "PostUp = ip address add " + f.tunnel.address + len + " peer " + p.address + len +
                 " dev %i\n";
        }
        t += "PostUp = sysctl -qw net.ipv4.conf.%i.rp_filter=0\n";
        t += "\n[Peer]\n";
        t += "PublicKey = " + p.public_key + "\n";
        t += "Endpoint = " + p.endpoint + "\n";
        t += "AllowedIPs = 0.0.0.0/0, ::/0\n";
        out.push_back({p.interface, std::move(t)});
    }
    return out;
}

}  // namespace anyedge::hooks
