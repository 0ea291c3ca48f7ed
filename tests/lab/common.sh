# shellcheck shell=bash
# Shared by the scenario scripts: `source common.sh NAME BUILD_DIR`.
# Skips (exit 77) when namespaces cannot be made, unless ANYEDGE_REQUIRE_NETNS=1; makes a run
# directory under BUILD_DIR/lab-runs/NAME; tears the lab down on every exit; records figures in
# BUILD_DIR/lab-figures/NAME.tsv (metric, value, target, verdict) for report.sh.
set -uo pipefail
LAB_SCENARIO=$1
LAB_BUILD=$(cd "$2" && pwd)
LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$LAB_HERE/lib.sh"

lab_require_or_skip
LAB_DIR="$LAB_BUILD/lab-runs/$LAB_SCENARIO"
LAB_FIGURES="$LAB_BUILD/lab-figures/$LAB_SCENARIO.tsv"
mkdir -p "$LAB_BUILD/lab-figures"
: >"$LAB_FIGURES"
LAB_FAILED=0

# Skip the scenario (exit 77) because a component lacks a feature; says which, loudly.
lab_skip() {
    echo "******** LAB SCENARIO $LAB_SCENARIO SKIPPED: $* ********" >&2
    printf '%s\t%s\t%s\t%s\n' "(skipped)" "$*" "" "SKIP" >>"$LAB_FIGURES"
    exit 77
}

# lab_figure METRIC VALUE [TARGET] [VERDICT]: print and record one measured figure.
lab_figure() {
    local verdict=${4:-}
    echo "FIGURE $LAB_SCENARIO: $1 = $2${3:+ (target $3)}${verdict:+ [$verdict]}"
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" "$verdict" >>"$LAB_FIGURES"
}

# lab_assert "description" COMMAND...: a failed check marks the scenario failed, keeps going.
lab_assert() {
    local what=$1; shift
    if "$@"; then
        echo "ok: $what"
        printf '%s\t%s\t%s\t%s\n' "check: $what" "yes" "" "PASS" >>"$LAB_FIGURES"
    else
        echo "FAILED: $what" >&2
        printf '%s\t%s\t%s\t%s\n' "check: $what" "no" "" "FAIL" >>"$LAB_FIGURES"
        LAB_FAILED=1
    fi
}

# lab_timed METRIC VALUE_MS TARGET_MS: a duration, recorded against its target. A duration
# never fails a scenario (a slow machine is not a wrong answer): its verdict is "met" or
# "missed", for the report. An empty VALUE fails it: the event (a failover, a route change)
# never happened within the scenario's own bound, which every caller makes at least ten times
# the target.
lab_timed() {
    local m=$1 v=$2 target=$3
    if [[ -z $v || $v == null || $v == None ]]; then
        lab_figure "$m" "never" "< $target ms" FAIL
        echo "FAILED: $m: never happened within the scenario's bound" >&2
        LAB_FAILED=1
        return
    fi
    if python3 -c "import sys; sys.exit(0 if float('$v') < float('$target') else 1)"; then
        lab_figure "$m" "$v ms" "< $target ms" met
    else
        lab_figure "$m" "$v ms" "< $target ms" missed
        echo "MISSED (a figure, not a failure): $m = $v ms, target < $target ms" >&2
    fi
}

# JSON field from a one-line JSON document.
lab_json() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print(eval('v'+sys.argv[2]))" "$1" "$2"; }

lab_finish() {
    local rc=$?
    trap - EXIT
    if ((rc != 0 && rc != 77)) || ((LAB_FAILED)); then
        echo "---- logs of the failed lab ($LAB_DIR) ----" >&2
        local f
        for f in "$LAB_DIR"/*/cdn-hooks.log "$LAB_DIR"/*/cdn-edge.log "$LAB_DIR"/*/cdn-sync.log; do
            [[ -f $f ]] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    lab_down
    if ((rc == 0 && LAB_FAILED == 0)); then
        rm -rf "$LAB_DIR"
        echo "LAB SCENARIO $LAB_SCENARIO PASSED"
        exit 0
    fi
    ((rc == 77)) && exit 77
    echo "LAB SCENARIO $LAB_SCENARIO FAILED (logs kept in $LAB_DIR)" >&2
    exit 1
}
trap lab_finish EXIT
trap 'exit 130' INT TERM

rm -rf "$LAB_DIR"
mkdir -p "$LAB_DIR"

# lab_probe_start NAME CLIENT ADDR [probe args...]: a bounded probe in a client namespace.
lab_probe_start() {
    local name=$1 c=$2 addr=$3; shift 3
    rm -f "$LAB_DIR/$name.stop"
    lab_spawn "probe-$name" "$c" "$LAB_DIR/$name.probe.log" python3 "$LAB_HERE/probe.py" run \
        --addr "$addr" --out "$LAB_DIR/$name.tsv" --stop-file "$LAB_DIR/$name.stop" "$@"
}
lab_probe_stop() {  # lab_probe_stop NAME: ask it to stop, wait (bounded) for it
    local name=$1 pid i
    pid=$(lab_pid_of "probe-$name")
    touch "$LAB_DIR/$name.stop"
    for ((i = 0; i < 300; i++)); do lab_alive "$pid" || break; sleep 0.01; done
    lab_alive "$pid" && lab_stop_pids TERM "$pid"
    wait "$pid" 2>/dev/null || true
}
