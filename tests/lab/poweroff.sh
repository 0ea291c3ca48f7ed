#!/usr/bin/env bash
# Scenario power-off: the node c1 reaches loses its link behind the switch (its port is deleted
# inside the bridge namespace, so r1 keeps carrier and only BFD can tell). Failover target
# < 0.5 s. Measured for IPv4 and IPv6 at once (separate BGP and BFD sessions).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" poweroff "$1"

lab_up || exit 1
lab_probe_start v4 c1 "$LAB_V4" --duration-s 8 --interval-ms 20 --timeout-ms 400
lab_probe_start v6 c1 "$LAB_V6" --duration-s 8 --interval-ms 20 --timeout-ms 400
sleep 1
lab_log "power-off: deleting e1's switch port in sw1"
ip -n "$(lab_ns sw1)" link del p-e1
sleep 5.5  # ten times the failover target and more
lab_log stopping; lab_probe_stop v4; lab_log stopped-v4
lab_probe_stop v6
for fam in v4 v6; do
    r=$(python3 "$LAB_HERE/probe.py" failover "$LAB_DIR/$fam.tsv" --from e1)
    echo "$fam probe: $r"
    lab_timed "$fam failover after power-off (BFD 100 ms x 3)" "$(lab_json "$r" '["outage_ms"]')" 500
    lab_figure "$fam failed requests during the power-off" "$(lab_json "$r" '["failed"]') of $(lab_json "$r" '["requests"]')"
    lab_figure "$fam gap between the last answer from e1 and the first from e2" "$(lab_json "$r" '.get("switch_ms")') ms"
    lab_assert "$fam traffic moved to e2" test "$(lab_json "$r" '["moved_to"]')" = e2
done
