#!/usr/bin/env bash
# Scenario routing: clients behind different upstreams reach different nodes, IPv4 and IPv6;
# the lab comes up and goes down quickly and leaves no namespace or process behind.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" routing "$1"

lab_up || exit 1
lab_timed "lab up (namespaces, BIRD, edges, BGP+BFD, first answers)" "$LAB_UP_MS" 60000
for fam in 4 6; do
    n1=$(lab_served_by c1 $fam)
    n2=$(lab_served_by c2 $fam)
    lab_figure "IPv$fam: c1 (behind r1) reaches" "$n1" "e1"
    lab_figure "IPv$fam: c2 (behind r2) reaches" "$n2" "e3"
    lab_assert "IPv$fam: c1 reaches e1 (r1's customer route with the lowest MED)" test "$n1" = e1
    lab_assert "IPv$fam: c2 reaches e3 (r2's customer route)" test "$n2" = e3
    lab_assert "IPv$fam: the two clients reach different nodes" test "$n1" != "$n2"
done
# BFD sessions up on every edge link (3 edges x 2 families, counted on the routers).
bfd=$(( $(lab_birdc r1 show bfd sessions | grep -c ' Up ') + $(lab_birdc r2 show bfd sessions | grep -c ' Up ') ))
lab_figure "BFD sessions up on the routers" "$bfd" "6"
lab_assert "BFD up on every edge session" test "$bfd" -ge 6

namespaces=$(cat "$LAB_DIR/namespaces")
lab_down
lab_timed "lab down" "$LAB_DOWN_MS" 1000
left=0
for ns in $namespaces; do ip netns list | grep -qw "$ns" && left=$((left + 1)); done
lab_assert "no namespace left behind" test "$left" -eq 0
procs=$(ps -eo args | grep -c "[$]LAB_DIR" || true)
procs=$(ps -eo args | grep -F "$LAB_DIR" | grep -vc grep || true)
lab_assert "no process left behind" test "$procs" -eq 0
