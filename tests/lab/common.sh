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

# lab_chromium NAME ADDR URL [FLAG...]: headless Chromium in c1 loads URL (LAB_HOST mapped to
# ADDR), with FLAGs for trust (a pin, or LAB_CHROMIUM_ROOT: a CA file put into the profile's NSS
# store with certutil, so the certificate is verified as a browser would). Asserts that every
# request answered 200 or 304 over h2 (LAB_CHROMIUM_PROTO=h3: over HTTP/3, QUIC forced on for
# LAB_HOST:443, which has no TCP fallback) and that a screenshot was saved.
lab_chromium() {
    local name=$1 addr=$2 url=$3 prof="$LAB_DIR/chromium-$1"
    local want=${LAB_CHROMIUM_PROTO:-h2} quic=(--disable-quic)
    [[ $want == h3 ]] && quic=(--enable-quic "--origin-to-force-quic-on=$LAB_HOST:443")
    shift 3
    rm -rf "$prof"; mkdir -p "$prof"
    if [[ -n ${LAB_CHROMIUM_ROOT:-} ]]; then
        mkdir -p "$prof/.pki/nssdb"
        certutil -d "sql:$prof/.pki/nssdb" -N --empty-password &&
            certutil -d "sql:$prof/.pki/nssdb" -A -t "C,," -n "lab root" -i "$LAB_CHROMIUM_ROOT" ||
            lab_die "certutil could not add $LAB_CHROMIUM_ROOT to Chromium's NSS store"
    fi
    local shot="$LAB_BUILD/lab-browser-$name.png"
    rm -f "$shot"
    local t0; t0=$(lab_now_ms)
    # `timeout` bounds the run and kills chromium by its PID.
    HOME="$prof" timeout -k 5 90 ip netns exec "$(lab_ns c1)" chromium --headless --no-sandbox \
        --disable-gpu "${quic[@]}" --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions --no-default-browser-check \
        --user-data-dir="$prof/data" "$@" \
        --host-resolver-rules="MAP $LAB_HOST $addr" --log-net-log="$prof/netlog.json" \
        --window-size=1280,1000 --screenshot="$shot" "$url" >"$prof/chromium.log" 2>&1
    local rc=$? ms=$(( $(lab_now_ms) - t0 ))
    local r
    r=$(python3 "$LAB_HERE/netlog.py" "$prof/netlog.json" "https://$LAB_HOST/" 2 2>&1)
    echo "chromium $name: exit $rc in $ms ms; netlog: $r"
    local n bad protos
    n=$(lab_json "$r" '["requests"]' 2>/dev/null || echo 0)
    bad=$(lab_json "$r" '["bad"]' 2>/dev/null || echo '?')
    protos=$(lab_json "$r" '["protocols"]' 2>/dev/null || echo '?')
    lab_figure "chromium $name: requests / not 200-304 / protocols" "$n / $bad / $protos"
    lab_figure "chromium $name: load + screenshot time" "$ms ms"
    lab_assert "chromium $name exited 0" test "$rc" = 0
    lab_assert "chromium $name: every request 200 or 304 (at least 2)" \
        test "$(lab_json "$r" '["ok"]' 2>/dev/null)" = True
    lab_assert "chromium $name: screenshot saved ($shot)" test -s "$shot"
    # The lab's edges offer h2 (lab_start_edge) and h3 (on by default), as a browser-facing
    # edge would.
    lab_assert "chromium $name: every request over $want" test "$protos" = "['$want']"
    [[ $rc == 0 ]] || tail -5 "$prof/chromium.log"
}
