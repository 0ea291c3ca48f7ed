// The node's cdn-hooks configuration (one JSON file), parsed and validated up front.
//
// Every error names the offending key by its full path ("checks.interval_ms: ..."), and
// unknown keys are errors too (a typo must not silently fall back to a default). The example
// with every key is bgp-hooks/templates/node.example.json; README.md explains each field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bgp-hooks/policy/backend.h"
#include "bgp-hooks/policy/state_machine.h"
#include "origin-sync/base/result.h"

namespace anyedge::hooks {

struct Upstream {
    std::string name;      // BIRD protocol name
    std::string neighbor;  // IPv4 or IPv6 address; decides the session's address family
    uint32_t as = 0;
    std::string source;     // optional local address
    std::string interface;  // optional, required for IPv6 link-local neighbors
    bool ipv6 = false;
};

struct BirdSettings {
    std::string socket = "/run/bird/bird.ctl";
    std::string state_file = "/var/lib/anyedge/bird-route-state.conf";
    std::string log = "syslog";  // "syslog", "stderr", or a file path
    std::string router_id;
    uint32_t local_as = 0;
    std::vector<Upstream> upstreams;
    int hold_time_s = 3;
    int keepalive_time_s = 1;
    bool bfd = true;
    int bfd_interval_ms = 100;
    int bfd_multiplier = 3;
    std::optional<uint32_t> med;
    int timeout_ms = 3000;
};

struct EdgeSettings {
    std::string admin;       // "127.0.0.1:PORT" or "unix:PATH"
    std::string token_file;  // optional bearer token for POSTs over TCP
    std::string pid_file;    // optional: watched with pidfd_open for instant death detection
    int pid = 0;             // optional: a fixed pid instead of a pid file
};

struct CanarySettings {
    bool enabled = false;
    std::string address;  // "203.0.113.10:80" or "[2001:db8:a::10]:80"
    std::string host;     // Host header
    std::string path = "/";
    std::string expected_etag;  // fixed, quoted or bare hex; else from manifest_dir
    // The node's state dir (what cdn-edge --state serves): the expected ETag comes from its live
    // manifest (`current`), or from generations/<n>.json when the edge reports generation n.
    std::string manifest_dir;
    bool tls = false;         // HTTPS to `address` (the edge's TLS listener)
    std::string ca_file;      // PEM CA bundle that signed the edge's certificate; empty: system
    std::string server_name;  // SNI and the name the certificate must carry; default: host
};

struct FreshnessSettings {
    int grace_s = 600;               // node generation may lag the origin's this long
    std::string origin_current_url;  // http URL of the origin's `current` (JSON with generation)
    int max_generation_age_s = 0;    // 0 = off; else stale when the edge's generation is older
    int origin_poll_ms = 5000;
};

// Stray-packet forwarding (bgp-hooks/forward/): on when the block is present, unless
// "enabled": false.
struct ForwardPeer {
    std::string name;       // the peer node's name, for status and metrics
    std::string interface;  // the tunnel interface that reaches it (one per peer)
    // The WireGuard tunnel to it (`cdn-hooks render-wireguard`); optional when the tunnels
    // are set up some other way.
    std::string endpoint;      // the peer's unicast ADDR:PORT for this tunnel
    std::string public_key;    // its WireGuard public key (base64)
    uint16_t listen_port = 0;  // this node's port for this tunnel
    std::string address;       // the peer's tunnel address (its QUIC forward address lives there)
};

// This node's side of the tunnels.
struct TunnelSettings {
    std::string private_key_file;  // WireGuard private key (wg genkey), read by `wg` only
    std::string address;           // this node's tunnel address, on every tunnel interface
};

struct ForwardSettings {
    bool enabled = false;
    std::vector<std::string> interfaces;  // anycast-facing: where strays arrive
    std::vector<ForwardPeer> peers;
    TunnelSettings tunnel;
    // Ask the kernel to time every BPF program while cdn-hooks runs (BPF_ENABLE_STATS, which
    // is kernel-wide and costs two clock reads per run): the status then says what the filter
    // costs per packet. For measurements, off in production.
    bool measure_cost = false;
};

struct NodeConfig {
    std::string node;
    std::string backend = "bird";  // "bird" or "exabgp"
    std::vector<std::string> anycast_v4;
    std::vector<std::string> anycast_v6;
    BirdSettings bird;
    policy::DepreferConfig deprefer;
    EdgeSettings edge;
    int interval_ms = 200;
    int timeout_ms = 150;
    CanarySettings canary;
    FreshnessSettings freshness;
    policy::PolicyConfig policy;
    std::string drain_file;        // exists = drain this node (also works while the edge is down)
    bool withdraw_on_exit = true;  // SIGTERM/SIGINT: withdraw before exiting
    std::string status_file;       // optional JSON status written every state change
    ForwardSettings forwarding;
};

Result<NodeConfig> parse_node_config(const std::string& json_text);
Result<NodeConfig> load_node_config(const std::string& path);

}  // namespace anyedge::hooks
