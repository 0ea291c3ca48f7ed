#!/usr/bin/env bash
# Scenario stale: cdn-sync stops on e1 and the author publishes twice: once e1's content lags
# longer than the grace (3 s here), cdn-hooks de-prefers e1 (prepend + community, not a
# withdrawal) and c1 moves to e2; e1 regains c1 after it catches up. Then the origin becomes
# unreachable for every node: all are stale, none is withdrawn, the anycast address answers.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" stale "$1"

lab_init
lab_edge_feature state || lab_skip "cdn-edge does not serve a published state directory (--state)"
lab_edge_feature admin || lab_skip "cdn-edge has no admin API: cdn-hooks cannot run"
LAB_STATE_MODE=1
LAB_GRACE_S=3
lab_up || exit 1
[[ $LAB_HOOKS_MODE == loop ]] || lab_skip "cdn-hooks cannot run its loop"

route_of() {  # cdn-hooks' current route for EDGE
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["route"])' "$LAB_DIR/$1/cdn-hooks.json" 2>/dev/null || echo "?"
}
wait_served() {  # wait_served CLIENT NODE TIMEOUT_S -> prints ms, or nothing
    local t0 i n=$(( $3 * 20 )); t0=$(lab_now_ms)
    for ((i = 0; i < n; i++)); do
        [[ $(lab_served_by "$1" 4) == "$2" ]] && { echo $(( $(lab_now_ms) - t0 )); return 0; }
        sleep 0.05
    done
}

lab_log "stopping cdn-sync on e1"
lab_stop_pids TERM "$(lab_pid_of sync-e1)"
for g in 2 3; do
    v="$LAB_DIR/site-v$g"; rm -rf "$v"; cp -r "$LAB_DIR/site" "$v"
    echo "<!-- lab generation $g -->" >>"$v/index.html"
    lab_publish "$v" >>"$LAB_DIR/origin/cdnctl.log" 2>&1 || lab_die "publish v$g failed"
done
t_pub=$(lab_now_ms)
moved=$(wait_served c1 e2 60)
lab_timed "c1 moved off stale e1 (grace 3 s) after the second publish" "$moved" 6000
lab_figure "e1 route while stale" "$(route_of e1)" "deprefer"
lab_assert "stale e1 is de-preferred, not withdrawn" test "$(route_of e1)" = deprefer
e1_routes=$(lab_birdc r1 show route protocol e1_v4 2>/dev/null | grep -c "$LAB_V4")
lab_assert "r1 still has e1's route (de-preferred, not withdrawn)" test "$e1_routes" -ge 1
lab_birdc r1 show route "$LAB_V4/32" all | grep -E 'BGP.as_path|unicast' | head -6

lab_log "restarting cdn-sync on e1"
lab_start_sync e1
back=$(wait_served c1 e1 30)
lab_timed "c1 back on e1 after it caught up" "$back" 3000

lab_log "origin unreachable for every node"
ip -n "$(lab_ns r1)" link set to-origin down
t_cut=$(lab_now_ms)
all=""
for ((i = 0; i < 1600; i++)); do  # bounded: 80 s
    if [[ $(route_of e1) == deprefer && $(route_of e2) == deprefer && $(route_of e3) == deprefer ]]; then
        all=$(( $(lab_now_ms) - t_cut )); break
    fi
    sleep 0.05
done
lab_timed "every node de-preferred after the origin became unreachable" "$all" 8000
for e in "${LAB_EDGES[@]}"; do
    lab_figure "$e route with the origin unreachable" "$(route_of "$e")" "deprefer"
    lab_assert "$e not withdrawn" test "$(route_of "$e")" != withdraw
done
n=$(( $(lab_birdc r1 show route "$LAB_V4/32" | grep -c 'unicast') + $(lab_birdc r2 show route "$LAB_V4/32" | grep -c 'unicast') ))
lab_figure "anycast IPv4 paths on r1 + r2 with every node stale" "$n" ">= 4"
lab_assert "routers keep every edge's route" test "$n" -ge 4
sleep 1
for c in c1 c2; do
    for fam in 4 6; do
        node=$(lab_served_by "$c" "$fam")
        lab_figure "$c IPv$fam answered by, every node stale" "$node"
        lab_assert "$c IPv$fam still answered" test "$node" != -
    done
done
