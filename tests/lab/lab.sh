#!/usr/bin/env bash
# The anycast lab by hand:
#   tests/lab/lab.sh up [BUILD_DIR]     make the namespaces, start BIRD, cdn-edge, cdn-hooks
#   tests/lab/lab.sh status             which client reaches which node, the routers' best paths
#   tests/lab/lab.sh exec NS CMD...     run a command in a lab namespace (r1 r2 sw1 sw2 e1 e2 e3
#                                       c1 c2 origin), e.g. `lab.sh exec c1 curl -si http://203.0.113.10/`
#   tests/lab/lab.sh birdc NS CMD...    BIRD's CLI in r1, r2, e1, e2 or e3
#   tests/lab/lab.sh down               stop everything by PID, delete the namespaces
# The run directory (logs, configs, sockets) is $ANYEDGE_LAB_DIR (default /tmp/anyedge-lab).
# Needs root. See tests/lab/README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

LAB_DIR=${ANYEDGE_LAB_DIR:-/tmp/anyedge-lab}
cmd=${1:-status}
shift || true

load_env() {
    [[ -f $LAB_DIR/lab.env ]] || lab_die "no lab is up in $LAB_DIR (run: $0 up)"
    # shellcheck disable=SC1091
    source "$LAB_DIR/lab.env"
}

case $cmd in
up)
    if [[ -f $LAB_DIR/lab.env && -f $LAB_DIR/namespaces ]]; then
        lab_die "a lab is already up in $LAB_DIR; run: $0 down"
    fi
    LAB_BUILD=$(cd "${1:-$here/../../build-lab}" && pwd)
    why=$(lab_can_netns) || lab_die "cannot run the lab: $why"
    rm -rf "$LAB_DIR"
    trap 'rc=$?; if ((rc)); then lab_log "up failed: tearing down"; lab_down; rm -rf "$LAB_DIR"; fi' EXIT
    lab_up
    trap - EXIT
    lab_status
    ;;
down)
    [[ -d $LAB_DIR ]] || exit 0
    [[ -f $LAB_DIR/lab.env ]] && source "$LAB_DIR/lab.env"
    lab_down
    rm -rf "$LAB_DIR"
    ;;
status)
    load_env
    lab_status
    ;;
exec)
    load_env
    ns=$1; shift
    lab_exec "$ns" "$@"
    ;;
birdc)
    load_env
    ns=$1; shift
    lab_birdc "$ns" "$@"
    ;;
*)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
