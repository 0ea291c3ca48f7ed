#!/usr/bin/env bash
# Scenario drain: under load from c1 (new connection per request: two probe loops, IPv4 and
# IPv6, and wrk with `Connection: close`; keep-alive clients alongside), drain e1, the node c1
# reaches, then undrain it.
# New-connection clients: zero failed requests from the drain until the undrain. The drain keeps
# the route while e1 closes keep-alive connections, then e1 holds new connections (drops SYNs)
# while the route moves: a client whose SYN was dropped retransmits it after 1 s, to e2. The
# undrain's route change (e2 -> e1) has no such help (e2 does not know it is coming): at most
# the request in flight at that instant fails per probe, reported separately.
# Traffic moves to e2; e1 reports drained only after new connections stopped for the quiet
# period; undrain brings traffic back. Keep-alive clients: the reset connections are counted.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" drain "$1"

# TLS on, so the edges also speak HTTP/3: an HTTP/3 client crosses the drain too.
LAB_TLS=1
lab_up || exit 1
[[ $LAB_HOOKS_MODE == loop ]] ||
    lab_skip "cdn-edge has no admin API (GET /healthz, /status, POST /drain): cdn-hooks cannot run, nothing drains"
admin=$(lab_admin_url e1)

# How to drain, best first: cdnctl drain (the operator's command), the edge's admin POST
# /drain (cdn-hooks follows the edge's /status drain state), cdn-hooks' drain file.
if "$LAB_BUILD/origin-sync/cdnctl" --help 2>&1 | grep -qw drain; then
    drain_how=cdnctl
else
    drain_how=admin
fi
do_drain() {
    case $drain_how in
    # cdnctl drain waits for `drained`, which needs the load to stop: run it alongside.
    cdnctl) if [[ $1 == drain ]]; then
                lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" drain --node "$admin" \
                    --token-file "$LAB_ADMIN_TOKEN" --timeout 60 > "$LAB_DIR/cdnctl-drain.log" 2>&1 &
            else
                lab_exec origin "$LAB_BUILD/origin-sync/cdnctl" undrain --node "$admin" \
                    --token-file "$LAB_ADMIN_TOKEN"
            fi ;;
    admin) lab_admin_post e1 "/$1" ||
        { [[ $1 == drain ]] && touch "$LAB_DIR/e1/drain" || rm -f "$LAB_DIR/e1/drain"; drain_how=file; } ;;
    file) if [[ $1 == drain ]]; then touch "$LAB_DIR/e1/drain"; else rm -f "$LAB_DIR/e1/drain"; fi ;;
    esac
}
edge_status_field() {  # edge_status_field PY_EXPR: a field of e1's /status "drain" object
    lab_exec e1 curl -s --max-time 0.5 "$admin/status" 2>/dev/null |
        python3 -c 'import json,sys
try: print(eval("d" + sys.argv[1], {"d": json.load(sys.stdin).get("drain", {})}))
except Exception: print("?")' "$1"
}
hooks_state() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$LAB_DIR/e1/cdn-hooks.json" 2>/dev/null || echo "?"
}

lab_probe_start nc4 c1 "$LAB_V4" --duration-s 40 --interval-ms 20 --timeout-ms 5000
lab_probe_start nc6 c1 "$LAB_V6" --duration-s 40 --interval-ms 20 --timeout-ms 5000
lab_probe_start ka c1 "$LAB_V4" --duration-s 40 --keepalive 20 --ka-interval-ms 100 --timeout-ms 5000
# wrk covers the drain only: it starts 2 s before it and ends before the undrain (waited for
# below), so its errors are the drain's. 8 s: past the route change (~2 s after the drain).
# HTTP/3: a new QUIC connection per request every 100 ms (gtlsclient), across both moves.
h3probe=""
if command -v gtlsclient >/dev/null; then
    rm -f "$LAB_DIR/h3.stop"
    lab_spawn h3probe c1 "$LAB_DIR/h3probe.log" "$LAB_HERE/h3probe.sh" "$LAB_V4" 443 \
        "$LAB_DIR/h3.tsv" "$LAB_DIR/h3.stop" 40
    h3probe=$LAB_LAST_PID
fi
lab_spawn wrk c1 "$LAB_DIR/wrk.out" wrk -t1 -c2 -d8s --timeout 2s -H "Connection: close" \
    -H "Host: $LAB_HOST" "http://$LAB_V4/"
wrk_pid=$LAB_LAST_PID
sleep 2
t_drain=$(lab_now_ms)
lab_log "drain e1 ($drain_how)"
do_drain drain
drained=""
for ((i = 0; i < 1200; i++)); do  # bounded: 60 s
    if [[ $(hooks_state) == drained ]]; then
        drained_at=$(lab_now_ms); drained=$((drained_at - t_drain)); break
    fi
    sleep 0.05
done
lab_figure "drain method" "$drain_how"
lab_figure "e1 reported drained after (cdn-hooks state drained; edge: $(edge_status_field '["state"]'))" "${drained:-never} ms"
lab_assert "e1 reported drained" test -n "$drained"
for ((i = 0; i < 300; i++)); do lab_alive "$wrk_pid" || break; sleep 0.05; done  # bounded: 15 s
lab_stop_pids TERM "$wrk_pid"
sleep 1
t_undrain=$(lab_now_ms)
lab_log "undrain e1"
do_drain undrain
back=""
for ((i = 0; i < 600; i++)); do  # bounded: 30 s
    [[ $(lab_served_by c1 4) == e1 ]] && { back=$(( $(lab_now_ms) - t_undrain )); break; }
    sleep 0.05
done
lab_timed "c1 traffic back on e1 after undrain" "$back" 3000
sleep 1
lab_probe_stop nc4; lab_probe_stop nc6; lab_probe_stop ka
if [[ -n $h3probe ]]; then
    touch "$LAB_DIR/h3.stop"
    for ((i = 0; i < 100; i++)); do lab_alive "$h3probe" || break; sleep 0.1; done  # bounded: 10 s
    lab_stop_pids TERM "$h3probe"
fi

# When the route moved: the first probe request after the drain served by e2 without waiting a
# SYN retransmission (one that did was sent before the move, while e1 held SYNs).
moved=$(awk -v d="$t_drain" '$3 == 1 && $4 == "e2" && $1 >= d && $2 - $1 < 500 { if (m == "" || $1 < m) m = $1 }
    END { if (m != "") printf "%.0f", m - d }' "$LAB_DIR/nc4.tsv")
lab_timed "c1 traffic (nc4) moved to e2 after the drain began (close phase 1.5 s without forwarding + hold lead 0.15 s + BGP)" "$moved" 3000

# The SYN hold, as e1 counted it (cdn-hooks asked for it between the close phase and the tag).
holds=$(edge_status_field '["syn_holds"]')
held=$(edge_status_field '["syns_dropped"]')
lab_figure "e1 SYN holds (cdn-hooks' POST /hold-syn)" "$holds" "1"
lab_figure "e1 SYNs held (dropped while the route moved; retransmitted 1 s later)" "$held"
lab_assert "e1 held new connections once during the drain" test "$holds" = 1
grep -h "holds new connections\|SYN hold not set" "$LAB_DIR/e1/cdn-hooks.log" | sed 's/^/e1 cdn-hooks: /'

# Stray forwarding (on by default): nothing open breaks at either route change.
if [[ -n ${LAB_FORWARD:-} ]]; then undrain_target="<= 0"; else undrain_target="<= 1"; fi
lab_figure "stray forwarding between the edges" "$([[ -n ${LAB_FORWARD:-} ]] && echo on || echo off)"
for p in nc4 nc6; do
    d=$(python3 "$LAB_HERE/probe.py" window "$LAB_DIR/$p.tsv" --to "$t_undrain" --from "$t_drain")
    u=$(python3 "$LAB_HERE/probe.py" window "$LAB_DIR/$p.tsv" --from "$t_undrain")
    echo "$p from the drain until the undrain: $d"
    echo "$p from the undrain: $u"
    lab_figure "new-connection probe $p: failed requests from the drain until the undrain" \
        "$(lab_json "$d" '["failed"]') of $(lab_json "$d" '["requests"]')" "0"
    lab_figure "new-connection probe $p: failures by kind (drain)" "$(lab_json "$d" '["failures"]')"
    lab_figure "new-connection probe $p: max added latency during the drain" \
        "$(lab_json "$d" '["max_added_ms"]') ms (max $(lab_json "$d" '["max_ms"]'), p50 before $(lab_json "$d" '["baseline_p50_ms"]'))"
    lab_figure "new-connection probe $p: requests that waited a SYN retransmission (> 900 ms)" \
        "$(lab_json "$d" '["slow"]')"
    lab_assert "$p: zero failed requests from the drain until the undrain" \
        test "$(lab_json "$d" '["failed"]')" -eq 0
    lab_assert "$p: served by e2 during the drain" test "$(lab_json "$d" '.get("by_node",{}).get("e2",0)')" -gt 0
    # The undrain moves the route back while e2 serves: a connection open on e2 at that instant
    # (a ~1 ms window per request, every 20 ms) reaches e1. With stray forwarding e1 sends its
    # packets to e2 and nothing fails; without it e1 resets it (e2 cannot know the route is
    # coming back, so nothing holds there: the physics DESIGN.md describes).
    lab_figure "new-connection probe $p: failed requests at the undrain's route change (e2 -> e1)" \
        "$(lab_json "$u" '["failed"]') of $(lab_json "$u" '["requests"]')" "$undrain_target"
    lab_assert "$p: failed requests at the undrain's route change $undrain_target" \
        test "$(lab_json "$u" '["failed"]')" -le "${undrain_target#<= }"
done
if [[ -n $h3probe ]]; then
    # The drain sends GOAWAY on e1's QUIC connections, stops advertising Alt-Svc, and its SYN
    # hold drops QUIC Initials while the route moves (the client resends them after its PTO,
    # to e2). The undrain's move back has no such help, as for TCP: a connection open on e2
    # at that instant sends its next packets to e1, which does not know it (forwarding them is
    # the next issue).
    read -r h3_n h3_fail h3_un h3_un_fail < <(awk -v d="$t_drain" -v u="$t_undrain" \
        '$1 >= d && $1 < u { n++; if ($3 == 0) f++ } $1 >= u { m++; if ($3 == 0) g++ }
         END { print n + 0, f + 0, m + 0, g + 0 }' "$LAB_DIR/h3.tsv")
    lab_figure "HTTP/3 probe (new QUIC connection per request): failed from the drain until the undrain" \
        "$h3_fail of $h3_n" "0"
    lab_figure "HTTP/3 probe: failed at and after the undrain's route change (e2 -> e1)" \
        "$h3_un_fail of $h3_un" "$undrain_target"
    lab_assert "HTTP/3 probe: failed at the undrain's route change $undrain_target" \
        test "$h3_un_fail" -le "${undrain_target#<= }"
    lab_assert "HTTP/3 probe: requests made during the drain" test "$h3_n" -gt 0
    lab_assert "HTTP/3 probe: zero failed requests from the drain until the undrain" \
        test "$h3_fail" -eq 0
else
    lab_figure "HTTP/3 probe" "not run: gtlsclient (ngtcp2-client) missing" "" SKIP
fi
if [[ -n ${drained_at:-} ]]; then
    last_e1=$(awk '$3 == 1 && $4 == "e1" && $1 < '"$t_undrain"' { if ($2 > m) m = $2 } END { printf "%.0f", m }' \
        "$LAB_DIR/nc4.tsv" "$LAB_DIR/nc6.tsv" "$LAB_DIR/ka.tsv")
    gap=$((drained_at - last_e1))
    lab_figure "drained reported after the last request e1 served" "$gap ms"
    lab_assert "drained only after new connections on e1 stopped" test "$gap" -gt 0
fi
cat "$LAB_DIR/wrk.out"
wrk_req=$(awk '/requests in/ { print $1 }' "$LAB_DIR/wrk.out")
wrk_err=$(awk '/Socket errors/ { gsub(",", ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$LAB_DIR/wrk.out")
# wrk keeps both its connections busy without pause across the drain's route change; with the
# SYN hold none of its connections may start on e1 while the route moves.
lab_figure "wrk Connection: close across the drain (ends before the undrain): errors (socket + non-2xx)" "${wrk_err:-?} of ${wrk_req:-?}" "0"
lab_assert "wrk: zero errors across the drain" test -n "$wrk_req" -a "${wrk_err:-1}" -eq 0
s=$(python3 "$LAB_HERE/probe.py" summary "$LAB_DIR/ka.tsv")
echo "keep-alive: $s"
# Resets while draining (the route moves away from e1) and after the undrain (back to e1).
read -r r_drain r_undrain < <(awk -v d="$t_drain" -v u="$t_undrain" \
    '$3 == 0 && $6 ~ /^reset/ { if ($1 >= u) b++; else if ($1 >= d) a++ } END { print a + 0, b + 0 }' "$LAB_DIR/ka.tsv")
# The close phase turns keep-alive clients into new-connection clients on e1 (every response
# says Connection: close), and the SYN hold keeps their next connection off e1 while the route
# moves. Without the close phase the count is every idle keep-alive connection (20).
if [[ -n ${LAB_FORWARD:-} ]]; then ka_drain="<= 0" ka_undrain="<= 0"; else ka_drain="<= 10" ka_undrain="<= 20"; fi
lab_figure "keep-alive clients (20): connections reset by the drain's route change" "$r_drain" "$ka_drain"
lab_figure "keep-alive clients (20): connections reset when the undrain moves them back" "$r_undrain" "$ka_undrain"
lab_assert "keep-alive resets at the drain $ka_drain" test "$r_drain" -le "${ka_drain#<= }"
lab_assert "keep-alive resets at the undrain $ka_undrain" test "$r_undrain" -le "${ka_undrain#<= }"
lab_figure "keep-alive clients: clean closes (Connection: close from the draining edge)" "$(lab_json "$s" '.get("clean_closes")')"
lab_figure "keep-alive clients: connections opened" "$(lab_json "$s" '.get("connections")')"
