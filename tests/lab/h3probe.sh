#!/usr/bin/env bash
# h3probe.sh ADDR PORT OUT STOP_FILE SECONDS: an HTTP/3 client (Debian's gtlsclient) that opens
# a new QUIC connection and GETs / every 100 ms, until STOP_FILE exists or SECONDS pass
# (bounded). One line per request in OUT: start_ms end_ms ok (1: a 200 arrived, 0: not).
addr=$1 port=$2 out=$3 stop=$4 seconds=$5
now_ms() { date +%s%3N; }
end=$(( $(now_ms) + seconds * 1000 ))
: >"$out"
while [[ ! -e $stop ]] && (( $(now_ms) < end )); do
    t0=$(now_ms)
    ok=0
    if timeout 5 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump --timeout=3s \
        "$addr" "$port" "https://$addr:$port/" 2>&1 | grep -q '\[:status: 200\]'; then
        ok=1
    fi
    echo "$t0 $(now_ms) $ok" >>"$out"
    sleep 0.1
done
