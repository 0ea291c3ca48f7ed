#!/usr/bin/env bash
# Scenario continuity: open connections survive route changes (DESIGN.md "Continuity across
# route changes"). Every edge forwards stray packets to its peers through WireGuard tunnels
# (cdn-hooks' tc program for TCP, cdn-edge's forward address for QUIC).
#   A. drain e1 (the node c1 reaches) under 20 keep-alive clients, two 20 MiB downloads (IPv4,
#      IPv6) at 2 MB/s and an HTTP/3 download: the route moves to e2 while they run on e1.
#   B. undrain: two downloads started on e2 while e1 was drained; the route comes back to e1.
#   C. a route flap (r1 drops and restores its BGP sessions with e1): downloads on e1 move to
#      e2 and back, and an HTTP/3 download with them.
#   S. wrk keep-alive on e1 with nothing to forward: what the filter costs the serving path.
#   E. wrk keep-alive on e1 while the route sits on e2 for 3 s: every request is forwarded;
#      the tunnel's CPU per forwarded segment is a figure.
#   H. a new HTTP/3 connection's handshake straddles a route change (e1 answered its first
#      Initial, the rest reaches e2): e2 sends the handshake's packets on to e1.
#   D. e1 loses its link outright: its connections are lost (nothing can keep them); the
#      others forward its strays once each, and nothing loops.
# Asserts: 0 keep-alive connections reset, every download complete and byte-identical, 0 wrk
# errors. Figures only for durations and costs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" continuity "$1"

command -v wireguard-go >/dev/null && command -v wg >/dev/null ||
    lab_skip "wireguard-go and wg missing (apt-get install wireguard-go wireguard-tools)"
LAB_TLS=1
LAB_FORWARD=1
lab_init
head -c $((20 << 20)) /dev/urandom >"$LAB_DIR/site/big.bin"
head -c 4096 /dev/urandom >"$LAB_DIR/site/small.bin"
lab_up || exit 1
[[ $LAB_HOOKS_MODE == loop ]] || lab_skip "cdn-edge has no admin API: cdn-hooks cannot run"
for e in "${LAB_EDGES[@]}"; do
    st=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["forwarding"]["state"])' \
        "$LAB_DIR/$e/cdn-hooks.json" 2>/dev/null)
    lab_assert "$e: stray forwarding active (cdn-hooks status)" test "$st" = active
done
admin=$(lab_admin_url e1)

# HTTP/3 has no client-side rate limit: r1 shapes UDP toward c1 to 16 Mbit/s (~10 s for
# 20 MiB), so that the download spans the route change.
lab_exec r1 tc qdisc add dev to-c1 root handle 1: htb default 10
lab_exec r1 tc class add dev to-c1 parent 1: classid 1:10 htb rate 10gbit 2>/dev/null
lab_exec r1 tc class add dev to-c1 parent 1: classid 1:30 htb rate 16mbit ceil 16mbit
lab_exec r1 tc filter add dev to-c1 parent 1: protocol ip u32 match ip protocol 17 0xff flowid 1:30
lab_exec r1 tc filter add dev to-c1 parent 1: protocol ipv6 u32 match ip6 protocol 17 0xff flowid 1:30
# QUIC packets e2 forwarded to e1: proof that an HTTP/3 download crossed a route change.
quic_forwarded() {
    lab_exec e2 curl -s --max-time 2 "$(lab_admin_url e2)/metrics" |
        awk '/^anyedge_quic_forwarded_total / { print $2 }'
}
h3_crossed() {  # h3_crossed PHASE WHAT FORWARDED_BEFORE: the figure and the check
    local n=$(( $(quic_forwarded) - $3 ))
    lab_figure "$1: QUIC packets e2 forwarded to e1 ($2)" "$n"
    lab_assert "$1: the HTTP/3 download crossed $2 (forwarded)" test "$n" -gt 0
}

# download NAME FAMILY: 20 MiB at 2 MB/s from c1, in the background; NAME.rc, NAME.bin.
download() {
    local name=$1 url="http://$LAB_V4/big.bin"
    [[ $2 == 6 ]] && url="http://[$LAB_V6]/big.bin"
    lab_spawn "dl-$name" c1 "$LAB_DIR/$name.log" bash -c \
        'curl -sS --limit-rate 2M --max-time 60 -H "Host: $1" -D "$2.head" -o "$2.bin" "$3"; echo $? >"$2.rc"' \
        _ "$LAB_HOST" "$LAB_DIR/$name" "$url"
}
download_h3() {
    local name=$1
    mkdir -p "$LAB_DIR/$name"
    lab_spawn "dl-$name" c1 "$LAB_DIR/$name.log" bash -c \
        'cd "$1" && timeout 60 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
            --download="$1" --timeout=10s "$2" 443 "https://$2:443/big.bin"; echo $? >"$1.rc"' \
        _ "$LAB_DIR/$name" "$LAB_V4"
}
wait_downloads() {  # bounded: 90 s for all
    local name pid i
    for name in "$@"; do
        pid=$(lab_pid_of "dl-$name")
        for ((i = 0; i < 900; i++)); do lab_alive "$pid" || break; sleep 0.1; done
        lab_stop_pids TERM "$pid"
    done
}
served_by() {  # the node that began serving a TCP download (X-Served-By)
    tr -d '\r' <"$LAB_DIR/$1.head" 2>/dev/null | awk -F': ' 'tolower($1) == "x-served-by" { print $2 }'
}
check_download() {  # check_download NAME WHAT
    local name=$1 what=$2 file="$LAB_DIR/$1.bin"
    [[ -d $LAB_DIR/$name ]] && file="$LAB_DIR/$name/big.bin"
    local rc; rc=$(cat "$LAB_DIR/$name.rc" 2>/dev/null || echo none)
    local got; got=$(stat -c %s "$file" 2>/dev/null || echo 0)
    lab_figure "$what: exit status, bytes" "$rc, $got of $((20 << 20))" "0, all"
    lab_assert "$what completes byte-identical" cmp -s "$file" "$LAB_DIR/site/big.bin"
}
hooks_field() {  # hooks_field EDGE PY_EXPR (on cdn-hooks' status)
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d" + sys.argv[2]))' \
        "$LAB_DIR/$1/cdn-hooks.json" "$2" 2>/dev/null || echo "?"
}
wg_cpu_ticks() {  # CPU ticks (user + system) of EDGE's wireguard-go processes
    local e=$1 total=0 p pid
    for p in "${LAB_EDGES[@]}"; do
        [[ $p == "$e" ]] && continue
        pid=$(lab_pid_of "wg-$(lab_tunnel_name "$e" "$p")")
        [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}

lab_probe_start ka c1 "$LAB_V4" --duration-s 80 --keepalive 20 --ka-interval-ms 100 --timeout-ms 5000

# ---- A. drain
download a4 4; download a6 6; download_h3 a3
sleep 2
lab_assert "A: downloads began on e1" test "$(served_by a4)" = e1
strays0=$(hooks_field e2 '["forwarding"]["strays_forwarded"]')
quic0=$(quic_forwarded)
t_drain=$(lab_now_ms)
lab_log "A: drain e1"
lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" drain --node "$admin" \
    --token-file "$LAB_ADMIN_TOKEN" --timeout 60 >"$LAB_DIR/cdnctl-drain.log" 2>&1 &
lab_wait_served_by c1 4 e2 20 || lab_assert "A: route moved to e2" false
moved=$(( $(lab_now_ms) - t_drain ))
lab_timed "A: route moved to e2 after the drain began (no close phase with forwarding)" "$moved" 3000
wait_downloads a4 a6 a3
strays1=$(hooks_field e2 '["forwarding"]["strays_forwarded"]')
drained=""
for ((i = 0; i < 400; i++)); do  # bounded: 20 s
    [[ $(hooks_field e1 '["state"]') == drained ]] && { drained=$(( $(lab_now_ms) - t_drain )); break; }
    sleep 0.05
done
lab_figure "A: e1 reported drained after (its forwarded downloads done)" "${drained:-never} ms"
lab_assert "A: e1 reported drained" test -n "$drained"
check_download a4 "A: IPv4 download across the drain"
check_download a6 "A: IPv6 download across the drain"
check_download a3 "A: HTTP/3 download across the drain (gtlsclient)"
h3_crossed A "the drain" "$quic0"
lab_figure "A: segments e2 forwarded to e1 while the downloads ran" "$((strays1 - strays0))"

# ---- B. undrain
download b4 4; download b6 6
sleep 2
lab_assert "B: downloads began on e2 (e1 drained)" test "$(served_by b4)" = e2
t_undrain=$(lab_now_ms)
lab_log "B: undrain e1"
lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" undrain --node "$admin" --token-file "$LAB_ADMIN_TOKEN"
lab_wait_served_by c1 4 e1 30 || lab_assert "B: route back on e1" false
lab_figure "B: route back on e1 after the undrain" "$(( $(lab_now_ms) - t_undrain )) ms"
wait_downloads b4 b6
check_download b4 "B: IPv4 download across the undrain"
check_download b6 "B: IPv6 download across the undrain"

# ---- C. a route flap: r1 drops its sessions with e1 and brings them back
quic0=$(quic_forwarded)
download c4 4; download c6 6; download_h3 c3
sleep 2
lab_assert "C: downloads began on e1" test "$(served_by c4)" = e1
lab_log "C: flap (r1 disables its BGP sessions with e1, then enables them)"
lab_birdc r1 disable e1_v4 >/dev/null; lab_birdc r1 disable e1_v6 >/dev/null
lab_wait_served_by c1 4 e2 10 || lab_assert "C: route moved to e2" false
sleep 1
lab_birdc r1 enable e1_v4 >/dev/null; lab_birdc r1 enable e1_v6 >/dev/null
lab_wait_served_by c1 4 e1 30 || lab_assert "C: route back on e1" false
wait_downloads c4 c6 c3
check_download c4 "C: IPv4 download across a flap (e1 -> e2 -> e1)"
check_download c6 "C: IPv6 download across a flap"
check_download c3 "C: HTTP/3 download across a flap"
h3_crossed C "the flap" "$quic0"

lab_probe_stop ka
read -r ka_total ka_resets < <(awk -v d="$t_drain" '$1 >= d { n++ } $3 == 0 && $6 ~ /^reset/ && $1 >= d { r++ }
    END { print n + 0, r + 0 }' "$LAB_DIR/ka.tsv")
s=$(python3 "$LAB_HERE/probe.py" summary "$LAB_DIR/ka.tsv")
echo "keep-alive: $s"
lab_figure "keep-alive clients (20) across drain, undrain and flap: connections reset" "$ka_resets" "0"
lab_figure "keep-alive clients: requests, failed" "$ka_total, $(lab_json "$s" '["failed"]')"
lab_assert "keep-alive: 0 connections reset across drain, undrain and flap" test "$ka_resets" -eq 0
lab_assert "keep-alive: 0 failed requests" test "$(lab_json "$s" '["failed"]')" -eq 0

# ---- S. what the filter costs a node that is not forwarding: wrk keep-alive on e1 for 3 s with
# nothing to forward. cdn-hooks runs with measure_cost (the kernel times BPF programs), so the
# filter's time per packet on the uplink is measured, against the edge's own CPU per request.
filter_stats() {  # e1's uplink filter: runs, total ns
    python3 -c 'import json, sys
f = json.load(open(sys.argv[1] + "/e1/cdn-hooks.json"))["forwarding"]
print(f.get("filter_runs", 0), f.get("filter_run_ns", 0))' "$LAB_DIR"
}
edge_ticks() { awk '{print $14 + $15}' "/proc/$(lab_pid_of edge-e1)/stat"; }
sleep 1.2
read -r runs0 ns0 < <(filter_stats)
ticks0=$(edge_ticks)
lab_exec c1 wrk -t1 -c4 -d3s --timeout 2s -H "Host: $LAB_HOST" "http://$LAB_V4/" >"$LAB_DIR/wrk-serving.out" 2>&1
ticks1=$(edge_ticks)
sleep 1.2
read -r runs1 ns1 < <(filter_stats)
s_req=$(awk '/requests in/ { print $1 }' "$LAB_DIR/wrk-serving.out")
if (( runs1 > runs0 && ${s_req:-0} > 0 )); then
    lab_figure "S: tc filter on a node that is not forwarding: time per packet (uplink, wrk keep-alive)" \
        "$(python3 -c "print(f'{($ns1 - $ns0) / ($runs1 - $runs0):.0f} ns over $((runs1 - runs0)) packets')")"
    lab_figure "S: the filter's time per request / cdn-edge's CPU per request" \
        "$(python3 -c "r=$s_req; f=($ns1-$ns0)/r/1000; e=($ticks1-$ticks0)*1e4/r; print(f'{f:.2f} µs / {e:.1f} µs ({100*f/e:.1f}%)')")"
else
    lab_figure "S: tc filter cost" "not measured (no BPF run-time statistics)"
fi

# ---- E. what forwarding costs: wrk keeps 4 keep-alive connections busy on e1, and r1 moves
# the route to e2 for 3 s, so that e2 forwards every request segment to e1 (and a copy to e3).
lab_spawn wrk c1 "$LAB_DIR/wrk.out" wrk -t1 -c4 -d8s --timeout 2s -H "Host: $LAB_HOST" "http://$LAB_V4/"
wrk_pid=$LAB_LAST_PID
sleep 1.5
e_strays0=$(hooks_field e2 '["forwarding"]["strays_forwarded"]')
e_cpu0=$(wg_cpu_ticks e2); e_cpu1_0=$(wg_cpu_ticks e1)
lab_birdc r1 disable e1_v4 >/dev/null
lab_wait_served_by c1 4 e2 10 || lab_assert "E: route moved to e2" false
sleep 3
lab_birdc r1 enable e1_v4 >/dev/null
e_cpu1=$(wg_cpu_ticks e2); e_cpu1_1=$(wg_cpu_ticks e1)
lab_wait_served_by c1 4 e1 30 || lab_assert "E: route back on e1" false
for ((i = 0; i < 200; i++)); do lab_alive "$wrk_pid" || break; sleep 0.1; done  # bounded: 20 s
lab_stop_pids TERM "$wrk_pid"
sleep 1.2
e_strays1=$(hooks_field e2 '["forwarding"]["strays_forwarded"]')
cat "$LAB_DIR/wrk.out"
wrk_req=$(awk '/requests in/ { print $1 }' "$LAB_DIR/wrk.out")
wrk_err=$(awk '/Socket errors/ { gsub(",", ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$LAB_DIR/wrk.out")
n=$((e_strays1 - e_strays0))
lab_figure "E: wrk keep-alive (4 connections on e1) across a 3 s route move: errors" "${wrk_err:-?} of ${wrk_req:-?}" "0"
lab_assert "E: wrk: zero errors while its connections were forwarded" test -n "$wrk_req" -a "${wrk_err:-1}" -eq 0
lab_figure "E: segments e2 forwarded (one copy to each of 2 peers)" "$n"
if ((n > 0)); then
    lab_figure "E: tunnel CPU per forwarded segment: sender e2 (2 copies), receiver e1 (wireguard-go, user+system)" \
        "$(python3 -c "print(f'{($e_cpu1 - $e_cpu0) * 1e4 / $n:.1f} µs, {($e_cpu1_1 - $e_cpu1_0) * 1e4 / $n:.1f} µs')")"
fi

# ---- H. a handshake that straddles a route change: e1 answers a new HTTP/3 connection's first
# Initial, and the route moves to e2 before the answer reaches the client. The client's next
# Initial and Handshake packets carry e1's connection ID and reach e2, which must send them on
# to e1. The lab kernel has no netem, so the race is made certain with SIGSTOP: e1's edge is
# paused while the client's first Initial waits in its socket; the client is paused while the
# route moves and e1 answers.
udp_queued() {  # udp_queued NODE [PORT_HEX]: NODE's UDP sockets with datagrams waiting
    lab_exec "$1" cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v port="${2:-}" '
        $2 ~ /:/ { split($2, l, ":"); split($5, q, ":")
                   if ((port == "" || l[2] == port) && q[2] !~ /^0+$/) n++ }
        END { print n + 0 }'
}
wait_queued() {  # wait_queued NODE [PORT_HEX]: bounded, 5 s
    local i
    for ((i = 0; i < 250; i++)); do (( $(udp_queued "$@") > 0 )) && return 0; sleep 0.02; done
    return 1
}
quic0=$(quic_forwarded)
mkdir -p "$LAB_DIR/h"
edge1=$(lab_pid_of edge-e1)
kill -STOP "$edge1"
lab_spawn h3-straddle c1 "$LAB_DIR/h.log" timeout 60 gtlsclient --exit-on-all-streams-close \
    --no-quic-dump --no-http-dump --download="$LAB_DIR/h" --handshake-timeout=30s --timeout=30s \
    "$LAB_V4" 443 "https://$LAB_V4:443/small.bin"
h_pid=$LAB_LAST_PID
wait_queued e1 01BB
lab_assert "H: the client's first Initial waits at e1" test "$(udp_queued e1 01BB)" -gt 0
client_pid=$(pgrep -P "$h_pid" | head -1)  # gtlsclient, the child of `timeout`
lab_assert "H: the client runs" test -n "$client_pid"
kill -STOP "${client_pid:-$h_pid}"
lab_birdc r1 disable e1_v4 >/dev/null
lab_wait_served_by c1 4 e2 10 || lab_assert "H: route moved to e2" false
kill -CONT "$edge1"
wait_queued c1
lab_assert "H: e1's answer waits at the client" test "$(udp_queued c1)" -gt 0
kill -CONT "${client_pid:-$h_pid}"
for ((i = 0; i < 600; i++)); do lab_alive "$h_pid" || break; sleep 0.1; done  # bounded: 60 s
lab_stop_pids TERM "$h_pid"
wait "$h_pid" 2>/dev/null
h_rc=$?
lab_birdc r1 enable e1_v4 >/dev/null
lab_wait_served_by c1 4 e1 30 || lab_assert "H: route back on e1" false
lab_figure "H: HTTP/3 fetch whose handshake straddled the route change: exit status" "$h_rc" "0"
lab_assert "H: the fetch completes byte-identical" cmp -s "$LAB_DIR/h/small.bin" "$LAB_DIR/site/small.bin"
h3_crossed H "the route change mid-handshake" "$quic0"

# ---- D. e1 loses its link outright (power-off): a download on it is lost; e2 forwards each
# stray once to each peer, e3 drops what it receives and forwards nothing on.
download d4 4
sleep 2
# Counters come from cdn-hooks' status file (written every second): each set is read at once.
forward_counters() {  # e2's strays and its copies to e3; e3's forwarded-on strays and drops
    python3 -c 'import json, sys
f2 = json.load(open(sys.argv[1] + "/e2/cdn-hooks.json"))["forwarding"]
f3 = json.load(open(sys.argv[1] + "/e3/cdn-hooks.json"))["forwarding"]
to_e3 = [p for p in f2["peers"] if p["name"] == "e3"][0]["forwarded_packets"]
from_e2 = [p for p in f3["peers"] if p["name"] == "e2"][0]["received_dropped"]
print(f2["strays_forwarded"], to_e3, f3["strays_forwarded"], f3["tunnel_dropped"], from_e2)' "$LAB_DIR"
}
sleep 1.2
read -r e2s0 e2c0 e3f0 e3d0 e3p0 < <(forward_counters)
lab_log "D: power-off: deleting e1's switch port in sw1"
ip -n "$(lab_ns sw1)" link del p-e1
lab_wait_served_by c1 4 e2 10 || lab_assert "D: route moved to e2" false
sleep 4
lab_stop_pids TERM "$(lab_pid_of dl-d4)"
sleep 1.5
read -r e2s1 e2c1 e3f1 e3d1 e3p1 < <(forward_counters)
lab_figure "D: download on e1 when it lost its link (lost: nothing can keep it)" \
    "exit $(cat "$LAB_DIR/d4.rc" 2>/dev/null || echo killed)"
lab_figure "D: strays e2 forwarded after e1 died; copies to e3" "$((e2s1 - e2s0)); $((e2c1 - e2c0))"
lab_figure "D: e3: forwarded copies dropped; strays it forwarded on" "$((e3d1 - e3d0)); $((e3f1 - e3f0))" "; 0"
lab_assert "D: e2 forwarded e1's strays" test $((e2s1 - e2s0)) -gt 0
lab_assert "D: one copy per stray per peer (no storm)" test $((e2c1 - e2c0)) -eq $((e2s1 - e2s0))
lab_assert "D: e3 forwarded nothing on (no loop)" test $((e3f1 - e3f0)) -eq 0
lab_assert "D: e3 counts the copies it dropped as e2's" test $((e3p1 - e3p0)) -eq $((e3d1 - e3d0))
lab_assert "D: e2 still serves" test "$(lab_served_by c1 4)" = e2

# ---- F. a forwarder that is down: e3's tunnel to e2 goes down. e3 still serves; its status,
# /metrics and `cdnctl status` say so.
ip -n "$(lab_ns e3)" link set "$(lab_tunnel_name e3 e2)" down
for ((i = 0; i < 100; i++)); do  # bounded: 5 s
    [[ $(hooks_field e3 '["forwarding"]["state"]') == degraded ]] && break
    sleep 0.05
done
lab_figure "F: e3 forwarding with its tunnel to e2 down" \
    "$(hooks_field e3 '["forwarding"]["state"]'): $(hooks_field e3 '["forwarding"]["detail"]')"
lab_assert "F: e3 reports forwarding degraded" test "$(hooks_field e3 '["forwarding"]["state"]')" = degraded
status_out=$(lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" status --nodes "$(lab_admin_url e3)")
status_rc=$?
echo "$status_out"
lab_assert "F: cdnctl status says DEGRADED and exits 3" \
    test "$status_rc" -eq 3 -a -n "$(grep -w DEGRADED <<<"$status_out")"
lab_assert "F: e3 still serves c2" test "$(lab_served_by c2 4)" = e3
metrics=$(lab_exec e2 curl -s --max-time 2 "$(lab_admin_url e2)/metrics")
lab_figure "e2 /metrics: TCP segments forwarded to e1, QUIC packets forwarded to node 1" \
    "$(awk '/^anyedge_forward_packets_total\{peer="e1"\}/ { print $2 }' <<<"$metrics"), $(awk '/^anyedge_quic_forwarded_to_total\{peer="1"\}/ { print $2 }' <<<"$metrics")"
lab_assert "e2 /metrics counts what it forwarded to e1 (TCP and QUIC)" test \
    "$(awk '/^anyedge_forward_packets_total\{peer="e1"\}/ { print ($2 > 0) }' <<<"$metrics")$(awk '/^anyedge_quic_forwarded_to_total\{peer="1"\}/ { print ($2 > 0) }' <<<"$metrics")" = 11
