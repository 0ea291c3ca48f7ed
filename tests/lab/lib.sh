# shellcheck shell=bash
# The anycast lab: network namespaces joined only to each other by veth pairs and bridges.
#
#   c1 ── r1 ═══ r2 ── c2           r1 AS 65001, r2 AS 65002, eBGP between them
#         │       │                 edges: AS 65100, eBGP to their router, MED e1 10, e2 20, e3 10
#        sw1     sw2                sw1, sw2: "switches" (a bridge in a namespace), so that a dead
#       ╱   ╲     │                 edge link leaves the router's carrier up (power-off scenario)
#     e1    e2   e3
#         r1 ── origin
#
# c1 prefers e1 (local-pref 200 for customer routes, then the lower MED); c2 prefers e3.
# Addresses: documentation prefixes only. Anycast 203.0.113.10/32 and 2001:db8:a::10/128 on lo
# of every edge, announced by BIRD 2 with the config `cdn-hooks render-bird` produces.
#
# Sourced by lab.sh and by the scenario scripts. Every process is recorded in $LAB_DIR/pids and
# stopped by its PID; every namespace carries the lab's unique prefix and is deleted by lab_down.
# Globals: LAB_BUILD (build dir with the binaries), LAB_DIR (run dir), LAB_PREFIX (ns prefix).

LAB_V4=203.0.113.10
LAB_V6=2001:db8:a::10
LAB_EDGES=(e1 e2 e3)
LAB_CLIENTS=(c1 c2)
LAB_HOST=blog.example

# Per-edge facts: router, LAN, addresses, MED, admin port.
declare -A LAB_EDGE_ROUTER=([e1]=r1 [e2]=r1 [e3]=r2)
declare -A LAB_EDGE_SWITCH=([e1]=sw1 [e2]=sw1 [e3]=sw2)
declare -A LAB_EDGE_V4=([e1]=192.0.2.18 [e2]=192.0.2.19 [e3]=192.0.2.34)
declare -A LAB_EDGE_V6=([e1]=2001:db8:0:11::18 [e2]=2001:db8:0:11::19 [e3]=2001:db8:0:12::34)
declare -A LAB_EDGE_MED=([e1]=10 [e2]=20 [e3]=10)
declare -A LAB_ROUTER_AS=([r1]=65001 [r2]=65002)
declare -A LAB_ROUTER_LAN4=([r1]=192.0.2.17 [r2]=192.0.2.33)
declare -A LAB_ROUTER_LAN6=([r1]=2001:db8:0:11::1 [r2]=2001:db8:0:12::1)
LAB_EDGE_AS=65100
LAB_ADMIN_PORT=9901
LAB_STOP_GRACE_CS=30  # SIGTERM grace before SIGKILL, in 10 ms steps
LAB_ORIGIN_V4=192.0.2.50
LAB_ORIGIN_PORT=8080

lab_log() { printf '%s lab: %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
lab_die() { lab_log "FATAL: $*"; exit 1; }

# Milliseconds since the epoch, without a fork.
lab_now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

lab_ns() { echo "${LAB_PREFIX}$1"; }
# Run a command inside a lab namespace.
lab_exec() { local ns=$1; shift; ip netns exec "$(lab_ns "$ns")" "$@"; }

# Can this machine make namespaces? 0 yes; else prints why.
lab_can_netns() {
    if [[ $(id -u) != 0 ]]; then echo "not root"; return 1; fi
    local probe="aeprobe$$"
    if ! ip netns add "$probe" 2>/dev/null; then echo "ip netns add failed (no CAP_SYS_ADMIN?)"; return 1; fi
    ip netns del "$probe"
    command -v bird >/dev/null || { echo "bird not installed (apt-get install bird2)"; return 1; }
    command -v curl >/dev/null || { echo "curl not installed"; return 1; }
    return 0
}

# For scenario scripts: exit 77 (ctest skip) when the lab cannot run, unless required.
lab_require_or_skip() {
    local why
    if ! why=$(lab_can_netns); then
        if [[ ${ANYEDGE_REQUIRE_NETNS:-0} == 1 ]]; then
            echo "LAB FAILED: cannot create network namespaces: $why (ANYEDGE_REQUIRE_NETNS=1)" >&2
            exit 1
        fi
        echo "******** LAB SKIPPED: cannot create network namespaces: $why ********" >&2
        exit 77
    fi
}

# ---------------------------------------------------------------- processes

# lab_spawn NAME NS LOG CMD...: start CMD in namespace NS in the background, record its PID.
lab_spawn() {
    local name=$1 ns=$2 logf=$3; shift 3
    ip netns exec "$(lab_ns "$ns")" "$@" </dev/null >>"$logf" 2>&1 &
    local pid=$!
    echo "$name $pid" >>"$LAB_DIR/pids"
    LAB_LAST_PID=$pid
}

lab_pid_of() {  # the latest PID recorded under NAME
    awk -v n="$1" '$1 == n { p = $2 } END { if (p) print p }' "$LAB_DIR/pids" 2>/dev/null
}

lab_alive() {  # a zombie counts as dead
    local pid=$1 st
    [[ -r /proc/$pid/stat ]] || return 1
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# lab_stop_pids SIGNAL PID...: signal, then wait (bounded, LAB_STOP_GRACE_CS) and SIGKILL what is left.
lab_stop_pids() {
    local sig=$1; shift
    local pid left i
    for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null || true; done
    for ((i = 0; i < ${LAB_STOP_GRACE_CS:-50}; i++)); do
        left=0
        for pid in "$@"; do lab_alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.01
    done
    for pid in "$@"; do
        if lab_alive "$pid"; then
            [[ $sig != KILL ]] && lab_log "pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) still running ${LAB_STOP_GRACE_CS}0 ms after SIG$sig: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    return 0
}

# ---------------------------------------------------------------- topology

lab_link() {  # lab_link NS_A IF_A NS_B IF_B
    ip -n "$(lab_ns "$1")" link add "$2" type veth peer name "$4" netns "$(lab_ns "$3")"
    ip -n "$(lab_ns "$1")" link set "$2" up
    ip -n "$(lab_ns "$3")" link set "$4" up
}

lab_addr() {  # lab_addr NS IF V4/LEN V6/LEN
    ip -n "$(lab_ns "$1")" addr add "$3" dev "$2"
    ip -n "$(lab_ns "$1")" -6 addr add "$4" dev "$2" nodad
}

lab_make_switch() {  # lab_make_switch SW: a namespace with bridge br0
    ip -n "$(lab_ns "$1")" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$(lab_ns "$1")" link set br0 up
}

lab_switch_port() {  # lab_switch_port SW NS IF: veth NS:IF <-> SW:p-NS, enslaved to br0
    lab_link "$2" "$3" "$1" "p-$2"
    ip -n "$(lab_ns "$1")" link set "p-$2" master br0
}

lab_topology() {
    local n
    for n in r1 r2 sw1 sw2 e1 e2 e3 c1 c2 origin; do
        ip netns add "$(lab_ns "$n")"
        echo "$(lab_ns "$n")" >>"$LAB_DIR/namespaces"
        lab_exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.accept_ra=0
        ip -n "$(lab_ns "$n")" link set lo up
    done
    for n in r1 r2; do
        lab_exec "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
    lab_make_switch sw1
    lab_make_switch sw2

    # r1 <-> r2
    lab_link r1 to-r2 r2 to-r1
    lab_addr r1 to-r2 192.0.2.1/30 2001:db8:0:1::1/64
    lab_addr r2 to-r1 192.0.2.2/30 2001:db8:0:1::2/64
    # LANs behind the switches
    lab_switch_port sw1 r1 lan
    lab_addr r1 lan 192.0.2.17/28 2001:db8:0:11::1/64
    lab_switch_port sw2 r2 lan
    lab_addr r2 lan 192.0.2.33/28 2001:db8:0:12::1/64
    local e r
    for e in "${LAB_EDGES[@]}"; do
        r=${LAB_EDGE_ROUTER[$e]}
        lab_switch_port "${LAB_EDGE_SWITCH[$e]}" "$e" uplink
        local len4=28
        lab_addr "$e" uplink "${LAB_EDGE_V4[$e]}/$len4" "${LAB_EDGE_V6[$e]}/64"
        ip -n "$(lab_ns "$e")" route add default via "${LAB_ROUTER_LAN4[$r]}"
        ip -n "$(lab_ns "$e")" -6 route add default via "${LAB_ROUTER_LAN6[$r]}"
        ip -n "$(lab_ns "$e")" addr add "$LAB_V4/32" dev lo
        ip -n "$(lab_ns "$e")" -6 addr add "$LAB_V6/128" dev lo nodad
    done
    # origin behind r1
    lab_link r1 to-origin origin uplink
    lab_addr r1 to-origin 192.0.2.49/30 2001:db8:0:20::1/64
    lab_addr origin uplink 192.0.2.50/30 2001:db8:0:20::50/64
    ip -n "$(lab_ns origin)" route add default via 192.0.2.49
    ip -n "$(lab_ns origin)" -6 route add default via 2001:db8:0:20::1
    # clients
    lab_link r1 to-c1 c1 uplink
    lab_addr r1 to-c1 198.51.100.1/25 2001:db8:0:31::1/64
    lab_addr c1 uplink 198.51.100.2/25 2001:db8:0:31::2/64
    ip -n "$(lab_ns c1)" route add default via 198.51.100.1
    ip -n "$(lab_ns c1)" -6 route add default via 2001:db8:0:31::1
    lab_link r2 to-c2 c2 uplink
    lab_addr r2 to-c2 198.51.100.129/25 2001:db8:0:32::1/64
    lab_addr c2 uplink 198.51.100.130/25 2001:db8:0:32::2/64
    ip -n "$(lab_ns c2)" route add default via 198.51.100.129
    ip -n "$(lab_ns c2)" -6 route add default via 2001:db8:0:32::1
    # Unicast reachability between the routers' sides: static routes (BGP carries only anycast).
    local p
    for p in 192.0.2.32/28 198.51.100.128/25; do
        ip -n "$(lab_ns r1)" route add "$p" via 192.0.2.2
    done
    for p in 2001:db8:0:12::/64 2001:db8:0:32::/64; do
        ip -n "$(lab_ns r1)" -6 route add "$p" via 2001:db8:0:1::2
    done
    for p in 192.0.2.16/28 192.0.2.48/30 198.51.100.0/25; do
        ip -n "$(lab_ns r2)" route add "$p" via 192.0.2.1
    done
    for p in 2001:db8:0:11::/64 2001:db8:0:20::/64 2001:db8:0:31::/64; do
        ip -n "$(lab_ns r2)" -6 route add "$p" via 2001:db8:0:1::1
    done
}

# ---------------------------------------------------------------- BIRD

# The node config cdn-hooks reads (and renders the edge's BIRD config from).
lab_hooks_config() {  # lab_hooks_config EDGE > file
    local e=$1 r=${LAB_EDGE_ROUTER[$1]} d="$LAB_DIR/$1"
    local canary_etag=${LAB_CANARY_ETAG:-}
    python3 - "$e" "$d" "$r" <<EOF
import json, sys, os
e, d, r = sys.argv[1:4]
cfg = {
  "node": e,
  "backend": "bird",
  "anycast": {"ipv4": ["$LAB_V4/32"], "ipv6": ["$LAB_V6/128"]},
  "bird": {
    "socket": d + "/bird.ctl",
    "state_file": d + "/bird-route-state.conf",
    "log": d + "/bird.log",
    "router_id": "${LAB_EDGE_V4[$e]}",
    "local_as": $LAB_EDGE_AS,
    "hold_time_s": 3, "keepalive_time_s": 1,
    "bfd": True, "bfd_interval_ms": 100, "bfd_multiplier": 3,
    "med": ${LAB_EDGE_MED[$e]},
    "upstreams": [
      {"name": "up_v4", "neighbor": "${LAB_ROUTER_LAN4[$r]}", "as": ${LAB_ROUTER_AS[$r]},
       "source": "${LAB_EDGE_V4[$e]}"},
      {"name": "up_v6", "neighbor": "${LAB_ROUTER_LAN6[$r]}", "as": ${LAB_ROUTER_AS[$r]},
       "source": "${LAB_EDGE_V6[$e]}"},
    ],
  },
  "deprefer": {"prepend": 3, "communities": ["$LAB_EDGE_AS:100"]},
  "edge": {"admin": "${LAB_EDGE_V4[$e]}:$LAB_ADMIN_PORT", "pid_file": d + "/cdn-edge.pid",
           "token_file": "$LAB_ADMIN_TOKEN"},
  "checks": {"interval_ms": 100, "timeout_ms": 150},
  "policy": {"fail_threshold": 2, "success_threshold": 2, "hold_down_ms": 1000,
             "drain_tag_ms": 500, "drain_timeout_ms": 20000},
  "drain_file": d + "/drain",
  "status_file": d + "/cdn-hooks.json",
  "withdraw_on_exit": True,
}
if "${LAB_FORWARD:-}":
    cfg["forwarding"] = {"interfaces": ["uplink"], "measure_cost": True,
                         "tunnel": {"private_key_file": d + "/wg.key",
                                    "address": "$(lab_tunnel_v4 "$e")"},
                         "peers": json.loads('$(lab_tunnel_peers "$e")')}
if "$canary_etag":
    cfg["checks"]["canary"] = {"address": "$LAB_V4:80", "host": "$LAB_HOST", "path": "/index.html",
                               "expected_etag": "$canary_etag"}
state = "${LAB_STATE_MODE:-}"
if state:
    cfg["checks"]["canary"] = {"address": "$LAB_V4:80", "host": "$LAB_HOST", "path": "/index.html",
                               "manifest_dir": d + "/state"}
    fresh = {"grace_s": ${LAB_GRACE_S:-3},
             "origin_current_url": "http://$LAB_ORIGIN_V4:$LAB_ORIGIN_PORT/current",
             "origin_poll_ms": 500}
    cfg["checks"]["freshness"] = fresh
print(json.dumps(cfg, indent=2))
EOF
}

lab_router_bird_config() {  # lab_router_bird_config ROUTER > file
    local r=$1 peer peer_v4 peer_v6 e
    if [[ $r == r1 ]]; then peer=r2 peer_v4=192.0.2.2 peer_v6=2001:db8:0:1::2
    else peer=r1 peer_v4=192.0.2.1 peer_v6=2001:db8:0:1::1; fi
    cat <<EOF
# Upstream router $r (AS ${LAB_ROUTER_AS[$r]}) of the anyedge lab.
log "$LAB_DIR/$r/bird.log" all;
router id $([[ $r == r1 ]] && echo 192.0.2.1 || echo 192.0.2.2);

protocol device { scan time 10; }
protocol kernel k4 { ipv4 { import none; export where source = RTS_BGP; }; }
protocol kernel k6 { ipv6 { import none; export where source = RTS_BGP; }; }
protocol bfd {
    interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}

EOF
    # The shipped upstream snippet: the from_anycast_edge import filter.
    "$LAB_BUILD/bgp-hooks/cdn-hooks" --config "$LAB_DIR/e1/hooks.json" render-bird --upstream
    cat <<EOF

filter from_peer {
    if net.type = NET_IP4 then { if net !~ [ $LAB_V4/32 ] then reject; }
    else { if net !~ [ $LAB_V6/128 ] then reject; }
    bgp_local_pref = 100;
    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
    accept;
}
filter to_peer {
    if net.type = NET_IP4 then { if net ~ [ $LAB_V4/32 ] then accept; }
    else { if net ~ [ $LAB_V6/128 ] then accept; }
    reject;
}

template bgp edge {
    local as ${LAB_ROUTER_AS[$r]};
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 5;
    graceful restart off;
    bfd on;
}
template bgp peer {
    local as ${LAB_ROUTER_AS[$r]};
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 5;
    graceful restart off;
}
protocol bgp peer_v4 from peer {
    neighbor $peer_v4 as ${LAB_ROUTER_AS[$peer]};
    ipv4 { import filter from_peer; export filter to_peer; };
}
protocol bgp peer_v6 from peer {
    neighbor $peer_v6 as ${LAB_ROUTER_AS[$peer]};
    ipv6 { import filter from_peer; export filter to_peer; };
}
EOF
    for e in "${LAB_EDGES[@]}"; do
        [[ ${LAB_EDGE_ROUTER[$e]} == "$r" ]] || continue
        cat <<EOF
protocol bgp ${e}_v4 from edge {
    neighbor ${LAB_EDGE_V4[$e]} as $LAB_EDGE_AS;
    ipv4 { import filter from_anycast_edge; export none; };
}
protocol bgp ${e}_v6 from edge {
    neighbor ${LAB_EDGE_V6[$e]} as $LAB_EDGE_AS;
    ipv6 { import filter from_anycast_edge; export none; };
}
EOF
    done
}

lab_birdc() {  # lab_birdc NS CMD...: BIRD's CLI on that namespace's socket
    local ns=$1; shift
    birdc -s "$LAB_DIR/$ns/bird.ctl" "$@"
}

lab_start_bird() {  # lab_start_bird NS
    local ns=$1
    bird -p -c "$LAB_DIR/$ns/bird.conf" || lab_die "bird -p rejected $LAB_DIR/$ns/bird.conf"
    lab_spawn "bird-$ns" "$ns" "$LAB_DIR/$ns/bird.out" \
        bird -f -c "$LAB_DIR/$ns/bird.conf" -s "$LAB_DIR/$ns/bird.ctl" -P "$LAB_DIR/$ns/bird.pid"
}

# ---------------------------------------------------------------- tunnels between edges

# Stray forwarding (LAB_FORWARD=1) sends packets between edges through WireGuard, one interface
# per peer, endpoints on the edges' unicast addresses. This kernel has no WireGuard module:
# Debian's wireguard-go (userspace, on TUN) takes the same `wg` configuration. Its control
# sockets (/var/run/wireguard/NAME.sock) are not per namespace, so interface names carry the
# lab's prefix: w<lab hex><node><peer>.
lab_tunnel_name() {  # lab_tunnel_name NODE PEER
    local hex=${LAB_PREFIX#ae}; hex=${hex%-}
    echo "w${hex}$1$2"
}
lab_tunnel_port() {  # lab_tunnel_port NODE PEER: NODE's listening port for PEER's tunnel
    echo $((51800 + 10 * ${1#e} + ${2#e}))
}
lab_tunnel_peers() {  # lab_tunnel_peers NODE: the node config's forwarding peers (JSON)
    local e=$1 p sep="" out="["
    for p in "${LAB_EDGES[@]}"; do
        [[ $p == "$e" ]] && continue
        out+="$sep{\"name\": \"$p\", \"interface\": \"$(lab_tunnel_name "$e" "$p")\","
        out+=" \"endpoint\": \"${LAB_EDGE_V4[$p]}:$(lab_tunnel_port "$p" "$e")\","
        out+=" \"public_key\": \"$(cat "$LAB_DIR/$p/wg.pub")\","
        out+=" \"listen_port\": $(lab_tunnel_port "$e" "$p"), \"address\": \"$(lab_tunnel_v4 "$p")\"}"
        sep=", "
    done
    echo "$out]"
}

# Each edge's address on its tunnels (203.0.113.10N): QUIC packets of another node's
# connections go to that node's cdn-edge there (--quic-forward-listen).
lab_tunnel_v4() { echo "203.0.113.10${1#e}"; }
LAB_QUIC_FORWARD_PORT=4434

# Keys first: every node's config names its peers' public keys.
lab_tunnel_keys() {
    command -v wireguard-go >/dev/null && command -v wg >/dev/null && command -v wg-quick >/dev/null ||
        lab_die "LAB_FORWARD needs wireguard-go, wg and wg-quick (apt-get install wireguard-go wireguard-tools)"
    local e
    for e in "${LAB_EDGES[@]}"; do
        [[ -f $LAB_DIR/$e/wg.key ]] || (umask 077; wg genkey >"$LAB_DIR/$e/wg.key")
        wg pubkey <"$LAB_DIR/$e/wg.key" >"$LAB_DIR/$e/wg.pub"
    done
}

# The tunnels as each node's config describes them: `cdn-hooks render-wireguard` writes one
# wg-quick file per peer; here wireguard-go makes the interface, `wg setconf` takes the file
# (`wg-quick strip`: what wg reads) and its PostUp lines run as wg-quick would run them.
lab_tunnels_up() {
    local e p name f
    for e in "${LAB_EDGES[@]}"; do
        # Forwarded packets come in from the tunnel with the client's source address.
        lab_exec "$e" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        # The tunnel ports lie in the ephemeral range, and wireguard-go binds a random port for
        # each interface until `wg setconf` gives it its own: one of them could take a port a
        # sibling tunnel is about to set ("address already in use"). Keep them out of it.
        lab_exec "$e" sysctl -qw "net.ipv4.ip_local_reserved_ports=$(lab_tunnel_port e0 e0)-$(lab_tunnel_port e9 e9)"
        for p in "${LAB_EDGES[@]}"; do
            [[ $p == "$e" ]] && continue
            name=$(lab_tunnel_name "$e" "$p")
            lab_spawn "wg-$name" "$e" "$LAB_DIR/$e/wg-$p.log" \
                env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$name"
        done
        mkdir -p "$LAB_DIR/$e/wg"
        "$LAB_BUILD/bgp-hooks/cdn-hooks" --config "$LAB_DIR/$e/hooks.json" render-wireguard \
            --out-dir "$LAB_DIR/$e/wg" || lab_die "cdn-hooks render-wireguard failed for $e"
    done
    for e in "${LAB_EDGES[@]}"; do
        for p in "${LAB_EDGES[@]}"; do
            [[ $p == "$e" ]] && continue
            local i; name=$(lab_tunnel_name "$e" "$p") f="$LAB_DIR/$e/wg/$name.conf"
            for ((i = 0; i < 100; i++)); do  # bounded: 5 s
                [[ -S /var/run/wireguard/$name.sock ]] && break
                sleep 0.05
            done
            lab_exec "$e" wg setconf "$name" <(wg-quick strip "$f") || lab_die "wg setconf $name failed"
            ip -n "$(lab_ns "$e")" link set "$name" mtu "$(awk '$1 == "MTU" { print $3 }' "$f")" up
            local cmd
            while read -r cmd; do
                lab_exec "$e" bash -c "${cmd//%i/$name}" || lab_die "$name: PostUp failed: $cmd"
            done < <(sed -n 's/^PostUp = //p' "$f")
        done
    done
}

# ---------------------------------------------------------------- edge processes

lab_edge_has_flag() { "$LAB_BUILD/edge/cdn-edge" --help 2>&1 | grep -q -- "$1"; }

lab_start_edge() {  # lab_start_edge EDGE
    local e=$1 d="$LAB_DIR/$1"
    local args=(--listen "$LAB_V4:80" --listen "[$LAB_V6]:80" --node-name "$e"
        --admin "${LAB_EDGE_V4[$e]}:$LAB_ADMIN_PORT" --admin-token-file "$LAB_ADMIN_TOKEN"
        --threads 1 --hooks-status "$d/cdn-hooks.json")
    if [[ -n ${LAB_STATE_MODE:-} ]]; then
        args+=(--state "$d/state")
    else
        args+=(--site "$LAB_DIR/site")
    fi
    if [[ -n ${LAB_TLS:-} ]]; then
        local cert="$LAB_DIR/pki/server.crt" key="$LAB_DIR/pki/server.key"
        if [[ -n ${LAB_ACME:-} ]]; then
            # Fleet certificates: each node's own files, which its cdn-sync replaces with the
            # issued certificate; until then the lab CA's certificate serves.
            mkdir -p "$d/tls"
            [[ -f $d/tls/cert.pem ]] || cp "$cert" "$d/tls/cert.pem"
            [[ -f $d/tls/key.pem ]] || install -m 0600 "$key" "$d/tls/key.pem"
            cert="$d/tls/cert.pem" key="$d/tls/key.pem"
            # The access log shows which node answered which challenge (and from whom).
            args+=(--acme-thumbprint "$LAB_ACME_THUMBPRINT" --access-log "$d/access.log")
        fi
        # HTTP/2 as a production edge would offer it: the browser scenario then loads over h2.
        args+=(--tls-listen "$LAB_V4:443" --tls-listen "[$LAB_V6]:443"
            --cert "$cert" --key "$key" --http2)
        # The fleet's QUIC connection-ID key and node IDs: a node reads every node's IDs, and
        # with forwarding sends another node's QUIC packets to it through the tunnel.
        [[ -f $LAB_DIR/quic-cid.key ]] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LAB_DIR/quic-cid.key"
        args+=(--quic-cid-key "$LAB_DIR/quic-cid.key" --node-id "${e#e}")
        if [[ -n ${LAB_FORWARD:-} ]]; then
            args+=(--quic-forward-listen "$(lab_tunnel_v4 "$e"):$LAB_QUIC_FORWARD_PORT")
            local p
            for p in "${LAB_EDGES[@]}"; do
                [[ $p == "$e" ]] || args+=(--quic-forward-peer "${p#e}=$(lab_tunnel_v4 "$p"):$LAB_QUIC_FORWARD_PORT")
            done
        fi
    fi
    lab_spawn "edge-$e" "$e" "$d/cdn-edge.log" "$LAB_BUILD/edge/cdn-edge" "${args[@]}"
    echo "$LAB_LAST_PID" >"$d/cdn-edge.pid.tmp" && mv "$d/cdn-edge.pid.tmp" "$d/cdn-edge.pid"
}

# Wait until the edge answers on its anycast address from inside its own namespace.
lab_wait_edge() {  # lab_wait_edge EDGE [timeout_s]
    local e=$1 deadline=$(( $(lab_now_ms) + ${2:-10} * 1000 ))
    while (( $(lab_now_ms) < deadline )); do
        if lab_exec "$e" curl -s -o /dev/null --max-time 0.5 -H "Host: $LAB_HOST" \
            "http://$LAB_V4/" 2>/dev/null; then return 0; fi
        lab_alive "$(lab_pid_of "edge-$e")" || { tail -5 "$LAB_DIR/$e/cdn-edge.log" >&2; return 1; }
        sleep 0.05
    done
    return 1
}

lab_admin_url() { echo "http://${LAB_EDGE_V4[$1]}:$LAB_ADMIN_PORT"; }
# lab_admin_post EDGE PATH: an admin POST with the lab's bearer token (from the origin namespace).
lab_admin_post() {
    lab_exec origin curl -sf -o /dev/null --max-time 2 -X POST \
        -H "Authorization: Bearer $(cat "$LAB_ADMIN_TOKEN")" "$(lab_admin_url "$1")$2"
}
lab_admin_works() {  # does the edge's admin API answer /healthz?
    lab_exec "$1" curl -sf -o /dev/null --max-time 0.5 "$(lab_admin_url "$1")/healthz"
}

# Announce: cdn-hooks decides (needs the edge's admin API), or, with LAB_HOOKS=static, the
# route state is set once by `cdn-hooks set-route` and nothing withdraws it on failure.
lab_start_hooks() {  # lab_start_hooks EDGE
    local e=$1 d="$LAB_DIR/$1"
    if [[ ${LAB_HOOKS_MODE} == loop ]]; then
        lab_spawn "hooks-$e" "$e" "$d/cdn-hooks.log" \
            "$LAB_BUILD/bgp-hooks/cdn-hooks" --config "$d/hooks.json"
    else
        lab_exec "$e" "$LAB_BUILD/bgp-hooks/cdn-hooks" --config "$d/hooks.json" \
            set-route announce >>"$d/cdn-hooks.log" 2>&1 ||
            lab_die "cdn-hooks set-route announce failed on $e"
    fi
}

# ---------------------------------------------------------------- content plane

LAB_ORIGIN_URL="http://$LAB_ORIGIN_V4:$LAB_ORIGIN_PORT"

# The origin: a plain static HTTP server (python3 http.server) over the tree cdnctl writes.
# The author's machine is the origin namespace too: cdnctl publishes into the local tree.
lab_origin_start() {
    local d="$LAB_DIR/origin"
    mkdir -p "$d/www"
    [[ -f $d/keys/private.pem ]] ||
        "$LAB_BUILD/origin-sync/cdnctl" keygen --out "$d/keys" >>"$d/cdnctl.log" 2>&1 ||
        lab_die "cdnctl keygen failed"
    lab_spawn origin-http origin "$d/http.log" \
        python3 -m http.server --bind "$LAB_ORIGIN_V4" --directory "$d/www" "$LAB_ORIGIN_PORT"
    local i
    for ((i = 0; i < 100; i++)); do
        lab_exec origin curl -s -o /dev/null --max-time 0.5 "$LAB_ORIGIN_URL/" && return 0
        sleep 0.05
    done
    lab_die "origin HTTP server did not start"
}

# lab_publish SITE_DIR [cdnctl publish flags...]: from the author's side.
lab_publish() {
    local site=$1; shift
    lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" publish "$site" --origin "$LAB_DIR/origin/www" \
        --key "$LAB_DIR/origin/keys/private.pem" "$@"
}

lab_sync_args() {  # the cdn-sync command line for EDGE
    local e=$1 d="$LAB_DIR/$1"
    echo "$LAB_BUILD/origin-sync/cdn-sync" --origin "$LAB_ORIGIN_URL" --state "$d/state" \
        --pubkey "$LAB_DIR/origin/keys/public.pem" --edge-admin "$(lab_admin_url "$e")" \
        --edge-token "$LAB_ADMIN_TOKEN" \
        --interval-ms 200 --timeout-ms 2000 --max-backoff-ms 1000
    if [[ -n ${LAB_ACME:-} ]]; then
        echo --node-name "$e" --node-key "$d/node.key" --cert-file "$d/tls/cert.pem" \
            --key-file "$d/tls/key.pem" --cert-interval-ms 300
    fi
}

lab_start_sync() {  # lab_start_sync EDGE
    local e=$1
    # shellcheck disable=SC2046
    lab_spawn "sync-$e" "$e" "$LAB_DIR/$e/cdn-sync.log" $(lab_sync_args "$e")
}

# lab_netns_hosts NS LINE...: /etc/hosts inside a lab namespace (`ip netns exec` bind-mounts
# /etc/netns/NS/hosts over /etc/hosts), so that names resolve there as the scenario says.
lab_netns_hosts() {
    local ns; ns=$(lab_ns "$1"); shift
    mkdir -p "/etc/netns/$ns"
    echo "$ns" >>"$LAB_DIR/netns-etc"
    { echo "127.0.0.1 localhost"; printf '%s\n' "$@"; } >"/etc/netns/$ns/hosts"
}

# ---------------------------------------------------------------- TLS (a lab CA)

lab_make_pki() {
    local p="$LAB_DIR/pki"
    [[ -f $p/server.crt ]] && return 0
    mkdir -p "$p"
    (
        cd "$p" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -keyout ca.key -out ca.crt -subj "/CN=anyedge lab CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
            -out server.csr -subj "/CN=$LAB_HOST"
        printf '%s\n' "subjectAltName=DNS:$LAB_HOST,IP:$LAB_V4,IP:$LAB_V6" \
            "basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth" >ext.cnf
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext.cnf -out server.crt
        # Chromium on Linux trusts only its NSS store (certutil is not installed): pin the
        # server key's SPKI instead (--ignore-certificate-errors-spki-list).
        openssl x509 -in server.crt -pubkey -noout | openssl pkey -pubin -outform der |
            openssl dgst -sha256 -binary | base64 >server.spki
    ) >"$p/openssl.log" 2>&1 || lab_die "openssl: making the lab CA failed (see $p/openssl.log)"
}

# ---------------------------------------------------------------- feature probes

# lab_edge_feature state|tls|admin: does today's cdn-edge do it? Runs it for a moment in a
# scratch namespace of the lab (deleted with the lab). 0 yes, 1 no.
lab_edge_feature() {
    local f=$1 ns="probe" d="$LAB_DIR/probe-$1"
    mkdir -p "$d"
    if ! ip netns list | grep -qw "$(lab_ns $ns)"; then
        ip netns add "$(lab_ns $ns)" && echo "$(lab_ns $ns)" >>"$LAB_DIR/namespaces"
        ip -n "$(lab_ns $ns)" link set lo up
    fi
    local args=(--listen 127.0.0.1:18080 --node-name probe --threads 1 --admin 127.0.0.1:18081)
    local url="http://127.0.0.1:18080/" curlx=()
    case $f in
    state)
        mkdir -p "$d/state"
        [[ -f $d/keys/private.pem ]] || "$LAB_BUILD/origin-sync/cdnctl" keygen --out "$d/keys" >/dev/null 2>&1
        "$LAB_BUILD/origin-sync/cdnctl" publish "$LAB_DIR/site" --origin "$d/state" \
            --key "$d/keys/private.pem" >"$d/publish.log" 2>&1 || return 1
        args+=(--state "$d/state") ;;
    tls)
        lab_make_pki
        args+=(--site "$LAB_DIR/site" --tls-listen 127.0.0.1:18443 --cert "$LAB_DIR/pki/server.crt"
            --key "$LAB_DIR/pki/server.key")
        url="https://127.0.0.1:18443/" curlx=(--cacert "$LAB_DIR/pki/ca.crt" --resolve "$LAB_HOST:18443:127.0.0.1")
        url="https://$LAB_HOST:18443/" ;;
    admin)
        args+=(--site "$LAB_DIR/site")
        url="http://127.0.0.1:18081/healthz" ;;
    esac
    lab_spawn "probe-edge-$f" "$ns" "$d/cdn-edge.log" "$LAB_BUILD/edge/cdn-edge" "${args[@]}"
    local pid=$LAB_LAST_PID ok=1 i
    for ((i = 0; i < 60; i++)); do
        lab_alive "$pid" || break
        if lab_exec "$ns" curl -sf -o /dev/null --max-time 0.5 "${curlx[@]}" "$url" 2>/dev/null; then
            ok=0; break
        fi
        sleep 0.05
    done
    lab_stop_pids TERM "$pid"
    return $ok
}

# ---------------------------------------------------------------- up / down

lab_write_env() {
    cat >"$LAB_DIR/lab.env" <<EOF
LAB_PREFIX=$LAB_PREFIX
LAB_BUILD=$LAB_BUILD
LAB_HOOKS_MODE=$LAB_HOOKS_MODE
LAB_STATE_MODE=${LAB_STATE_MODE:-}
LAB_TLS=${LAB_TLS:-}
LAB_ADMIN_TOKEN=${LAB_ADMIN_TOKEN:-}
LAB_ACME=${LAB_ACME:-}
LAB_ACME_THUMBPRINT=${LAB_ACME_THUMBPRINT:-}
LAB_FORWARD=${LAB_FORWARD:-}
EOF
}

# Established BGP sessions count on a router.
lab_bgp_established() {
    lab_birdc "$1" show protocols 2>/dev/null | awk '$2 == "BGP" && $6 == "Established"' | wc -l
}

# Wait for every BGP session (routers: 2 to the peer + 2 per edge) to be Established.
lab_wait_bgp() {
    local deadline=$(( $(lab_now_ms) + ${1:-20} * 1000 ))
    while (( $(lab_now_ms) < deadline )); do
        if (( $(lab_bgp_established r1) == 6 && $(lab_bgp_established r2) == 4 )); then return 0; fi
        sleep 0.05
    done
    lab_birdc r1 show protocols >&2; lab_birdc r2 show protocols >&2
    return 1
}

# Which node does a client reach? Prints the X-Served-By value, or "-" on failure.
lab_served_by() {  # lab_served_by CLIENT 4|6 [scheme]
    local c=$1 fam=$2 url
    if [[ $fam == 6 ]]; then url="http://[$LAB_V6]/"; else url="http://$LAB_V4/"; fi
    local h
    h=$(lab_exec "$c" curl -s -o /dev/null -D - --max-time 1 -H "Host: $LAB_HOST" "$url" 2>/dev/null |
        tr -d '\r' | awk -F': ' 'tolower($1) == "x-served-by" { print $2 }')
    echo "${h:--}"
}

# Wait until CLIENT (family) is served by NODE.
lab_wait_served_by() {  # lab_wait_served_by CLIENT FAM NODE [timeout_s]
    local deadline=$(( $(lab_now_ms) + ${4:-20} * 1000 ))
    while (( $(lab_now_ms) < deadline )); do
        [[ $(lab_served_by "$1" "$2") == "$3" ]] && return 0
        sleep 0.05
    done
    return 1
}

# Run directory, namespace prefix, bookkeeping files. Idempotent; lab_up calls it.
lab_init() {
    : "${LAB_BUILD:?LAB_BUILD: the build directory}"
    : "${LAB_DIR:?LAB_DIR: the run directory}"
    [[ -n ${LAB_INITIALIZED:-} ]] && return 0
    local b
    for b in edge/cdn-edge bgp-hooks/cdn-hooks; do
        [[ -x $LAB_BUILD/$b ]] || lab_die "$LAB_BUILD/$b missing: build it first"
    done
    LAB_PREFIX=${LAB_PREFIX:-ae$(printf '%04x' $(((RANDOM ^ $$) & 0xffff)))-}
    mkdir -p "$LAB_DIR"
    : >"$LAB_DIR/pids"
    : >"$LAB_DIR/namespaces"
    local n
    for n in r1 r2 e1 e2 e3 c1 c2 origin; do mkdir -p "$LAB_DIR/$n"; done
    # The admin POSTs (drain, hold-syn, reload) need this bearer token, as on a real node.
    LAB_ADMIN_TOKEN="$LAB_DIR/admin.token"
    [[ -s $LAB_ADMIN_TOKEN ]] || { head -c 18 /dev/urandom | base64 >"$LAB_ADMIN_TOKEN"; }
    chmod 0600 "$LAB_ADMIN_TOKEN"
    [[ -d $LAB_DIR/site ]] || cp -r "${LAB_SITE:-$(dirname "${BASH_SOURCE[0]}")/../../site}" "$LAB_DIR/site"
    LAB_HOOKS_MODE=${LAB_HOOKS_MODE:-auto}
    # Stray forwarding is on by default where it can run, as on a real node: LAB_FORWARD=0
    # turns it off (a lab as the fleet was before it).
    if [[ ${LAB_FORWARD-auto} == auto ]]; then
        if command -v wireguard-go >/dev/null && command -v wg >/dev/null; then
            LAB_FORWARD=1
        else
            LAB_FORWARD=""
            lab_log "WARNING: wireguard-go or wg missing: no tunnels between edges, no stray forwarding"
        fi
    fi
    [[ ${LAB_FORWARD:-} == 0 ]] && LAB_FORWARD=""
    lab_write_env
    LAB_INITIALIZED=1
}

lab_up() {
    local t0; t0=$(lab_now_ms)
    lab_init
    lab_topology
    local e
    [[ -n ${LAB_FORWARD:-} ]] && lab_tunnel_keys
    for e in "${LAB_EDGES[@]}"; do
        lab_hooks_config "$e" >"$LAB_DIR/$e/hooks.json"
        "$LAB_BUILD/bgp-hooks/cdn-hooks" --config "$LAB_DIR/$e/hooks.json" render-bird \
            --out "$LAB_DIR/$e/bird.conf" --check || lab_die "cdn-hooks render-bird failed for $e"
    done
    [[ -n ${LAB_FORWARD:-} ]] && lab_tunnels_up
    for n in r1 r2; do lab_router_bird_config "$n" >"$LAB_DIR/$n/bird.conf"; done
    for n in r1 r2 "${LAB_EDGES[@]}"; do lab_start_bird "$n"; done
    if [[ -n ${LAB_STATE_MODE:-} ]]; then
        lab_origin_start
        lab_publish "$LAB_DIR/site" >>"$LAB_DIR/origin/cdnctl.log" 2>&1 ||
            lab_die "initial publish failed (see $LAB_DIR/origin/cdnctl.log)"
        for e in "${LAB_EDGES[@]}"; do
            mkdir -p "$LAB_DIR/$e/state"
            lab_exec "$e" "$LAB_BUILD/origin-sync/cdn-sync" --origin "$LAB_ORIGIN_URL" \
                --state "$LAB_DIR/$e/state" --pubkey "$LAB_DIR/origin/keys/public.pem" --once \
                >>"$LAB_DIR/$e/cdn-sync.log" 2>&1 || lab_die "cdn-sync --once failed on $e"
        done
    fi
    [[ -n ${LAB_TLS:-} ]] && lab_make_pki
    for e in "${LAB_EDGES[@]}"; do lab_start_edge "$e"; done
    for e in "${LAB_EDGES[@]}"; do lab_wait_edge "$e" || lab_die "cdn-edge on $e did not come up"; done
    if [[ -n ${LAB_STATE_MODE:-} ]]; then
        for e in "${LAB_EDGES[@]}"; do lab_start_sync "$e"; done
    fi
    if [[ $LAB_HOOKS_MODE == auto ]]; then
        if lab_admin_works e1; then LAB_HOOKS_MODE=loop; else
            LAB_HOOKS_MODE=static
            lab_log "WARNING: cdn-edge has no admin API (/healthz): cdn-hooks cannot run its health" \
                "loop; routes announced once with 'cdn-hooks set-route announce' (no withdraw on failure)"
        fi
        lab_write_env
    fi
    for e in "${LAB_EDGES[@]}"; do lab_start_hooks "$e"; done
    lab_wait_bgp 20 || lab_die "BGP sessions did not come up"
    lab_wait_served_by c1 4 e1 20 || lab_die "c1 does not reach e1"
    lab_wait_served_by c2 4 e3 20 || lab_die "c2 does not reach e3"
    lab_wait_served_by c1 6 e1 10 || lab_die "c1 does not reach e1 over IPv6"
    lab_wait_served_by c2 6 e3 10 || lab_die "c2 does not reach e3 over IPv6"
    LAB_UP_MS=$(( $(lab_now_ms) - t0 ))
    lab_log "up in ${LAB_UP_MS} ms (prefix $LAB_PREFIX, hooks $LAB_HOOKS_MODE, dir $LAB_DIR)"
}

# Stops every recorded process by PID, then any process left in a lab namespace (by PID), then
# deletes the namespaces. Safe to call twice, and on a half-built lab.
lab_down() {
    [[ -n ${LAB_DIR:-} && -d $LAB_DIR ]] || return 0
    local t0; t0=$(lab_now_ms)
    local pids=() name pid ns
    if [[ -f $LAB_DIR/pids ]]; then
        while read -r name pid; do
            [[ -n $pid ]] && lab_alive "$pid" && pids+=("$pid")
        done <"$LAB_DIR/pids"
    fi
    ((${#pids[@]})) && lab_stop_pids TERM "${pids[@]}"
    if [[ -f $LAB_DIR/namespaces ]]; then
        pids=()
        while read -r ns; do
            [[ -n $ns ]] || continue
            for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
        done <"$LAB_DIR/namespaces"
        ((${#pids[@]})) && lab_stop_pids KILL "${pids[@]}"
        while read -r ns; do
            [[ -n $ns ]] && ip netns del "$ns" 2>/dev/null
        done <"$LAB_DIR/namespaces"
        rm -f "$LAB_DIR/namespaces"
    fi
    # Per-namespace /etc files (/etc/netns/NS/hosts) a scenario made, recorded by lab_netns_hosts.
    if [[ -f $LAB_DIR/netns-etc ]]; then
        while read -r ns; do
            [[ -n $ns && -d /etc/netns/$ns ]] && rm -rf "/etc/netns/${ns:?}"
        done <"$LAB_DIR/netns-etc"
        rm -f "$LAB_DIR/netns-etc"
    fi
    [[ -f $LAB_DIR/pids ]] && mv -f "$LAB_DIR/pids" "$LAB_DIR/pids.done"
    rm -f "$LAB_DIR"/*/bird.ctl
    LAB_DOWN_MS=$(( $(lab_now_ms) - t0 ))
    lab_log "down in ${LAB_DOWN_MS} ms"
}

lab_status() {
    local c fam
    printf '%-8s %-6s %-6s\n' client family node
    for c in "${LAB_CLIENTS[@]}"; do
        for fam in 4 6; do printf '%-8s IPv%-3s %-6s\n' "$c" "$fam" "$(lab_served_by "$c" "$fam")"; done
    done
    local r
    for r in r1 r2; do
        echo "--- $r: best routes to the anycast prefixes"
        lab_birdc "$r" show route "$LAB_V4/32" 2>/dev/null | sed -n '3,$p'
        lab_birdc "$r" show route "$LAB_V6/128" 2>/dev/null | sed -n '3,$p'
    done
    local e
    for e in "${LAB_EDGES[@]}"; do
        local st="down"
        lab_alive "$(lab_pid_of "edge-$e")" && st="up"
        local route
        route=$(grep -o 'DRAIN = [0-9]' "$LAB_DIR/$e/bird-route-state.conf" 2>/dev/null)
        echo "$e: cdn-edge $st, $route"
    done
}
