#!/usr/bin/env bash
# Scenario crash: SIGKILL cdn-edge on the node c1 reaches, BIRD stays up: only cdn-hooks
# (watching the edge's pidfd) can withdraw. Failover target < 0.3 s, IPv4 and IPv6.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" crash "$1"

lab_up || exit 1
[[ $LAB_HOOKS_MODE == loop ]] ||
    lab_skip "cdn-edge has no admin API (GET /healthz), so cdn-hooks cannot run and nothing withdraws a crashed edge's route"
lab_probe_start v4 c1 "$LAB_V4" --duration-s 8 --interval-ms 20 --timeout-ms 400
lab_probe_start v6 c1 "$LAB_V6" --duration-s 8 --interval-ms 20 --timeout-ms 400
sleep 1
pid=$(lab_pid_of edge-e1)
lab_log "crash: kill -KILL cdn-edge on e1 (pid $pid)"
kill -KILL "$pid"
sleep 4  # ten times the failover target and more: a failover not seen by then never happened
lab_probe_stop v4
lab_probe_stop v6
for fam in v4 v6; do
    r=$(python3 "$LAB_HERE/probe.py" failover "$LAB_DIR/$fam.tsv" --from e1)
    echo "$fam probe: $r"
    lab_timed "$fam failover after SIGKILL of cdn-edge" "$(lab_json "$r" '["outage_ms"]')" 300
    lab_figure "$fam failed requests during the crash" "$(lab_json "$r" '["failed"]') of $(lab_json "$r" '["requests"]')"
    lab_figure "$fam gap between the last answer from e1 and the first from e2" "$(lab_json "$r" '.get("switch_ms")') ms"
    lab_assert "$fam traffic moved to e2" test "$(lab_json "$r" '["moved_to"]')" = e2
done
grep -h 'transition\|route state' "$LAB_DIR/e1/cdn-hooks.log" | tail -3
