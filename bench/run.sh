#!/usr/bin/env bash
# cdn-edge vs nginx on loopback, alternating, one worker each; prints a
# Markdown table of medians and edge/nginx ratios. See bench/README.md.
#
#   bash bench/run.sh [--build-dir build] [--rounds 3] [--duration 8]
#                     [--cases ka8k,pipe8k,big20m,tls_ka8k,tls_new,tls_big]
#                     [--out DIR] [--edge-cmd nginx|'CMD {site} {port} ...']
#
# The driver (bench.py, Python 3 stdlib) owns every process it starts, stops
# them by PID on exit or on SIGINT/SIGTERM/SIGHUP, and removes its temp dir.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
missing=()
for t in wrk h2load nginx openssl taskset python3; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if ((${#missing[@]})); then
    echo "bench: missing ${missing[*]}; on Debian: apt-get install -y wrk nghttp2-client nginx-light openssl util-linux python3" >&2
    exit 1
fi
exec python3 "$here/bench.py" "$@"
