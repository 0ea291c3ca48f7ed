#!/usr/bin/env bash
# Scenario browser: headless Chromium in client c1 loads https://blog.example/ and a post over
# the anycast address (IPv4, then IPv6), certificate from a lab CA made here with openssl.
# Every request of the page must answer 200 or 304; screenshots go to the build directory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" browser "$1"

command -v chromium >/dev/null || lab_skip "chromium not installed (apt-get install chromium)"
lab_init
lab_edge_feature tls || lab_skip "cdn-edge does not serve HTTPS with --tls-listen/--cert/--key"
LAB_TLS=1
lab_up || exit 1

spki=$(cat "$LAB_DIR/pki/server.spki")
# curl with the lab CA: protocol and certificate check, from each client.
for c in c1 c2; do
    for fam in 4 6; do
        if [[ $fam == 4 ]]; then addr=$LAB_V4; else addr="[$LAB_V6]"; fi
        out=$(lab_exec "$c" curl -s -o /dev/null --max-time 3 --http2 --cacert "$LAB_DIR/pki/ca.crt" \
            --resolve "$LAB_HOST:443:$addr" -w '%{http_code} %{http_version} %{ssl_verify_result}' \
            -D "$LAB_DIR/curl-$c-$fam.h" "https://$LAB_HOST/")
        node=$(tr -d '\r' <"$LAB_DIR/curl-$c-$fam.h" | awk -F': ' 'tolower($1)=="x-served-by"{print $2}')
        lab_figure "curl $c IPv$fam https (code, HTTP version, verify)" "$out via ${node:-?}"
        lab_assert "curl $c IPv$fam: 200 with a verified lab certificate" test "${out%% *}" = 200
    done
done

run_chromium() {  # run_chromium NAME ADDR URL
    local name=$1 addr=$2 url=$3 prof="$LAB_DIR/chromium-$1"
    rm -rf "$prof"; mkdir -p "$prof"
    local shot="$LAB_BUILD/lab-browser-$name.png"
    rm -f "$shot"
    local t0; t0=$(lab_now_ms)
    # `timeout` bounds the run and kills chromium by its PID.
    HOME="$prof" timeout -k 5 90 ip netns exec "$(lab_ns c1)" chromium --headless --no-sandbox \
        --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions --no-default-browser-check \
        --user-data-dir="$prof/data" --ignore-certificate-errors-spki-list="$spki" \
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
    # The lab's edges offer h2 (lab_start_edge), as a browser-facing edge would.
    lab_assert "chromium $name: every request over HTTP/2" test "$protos" = "['h2']"
    [[ $rc == 0 ]] || tail -5 "$prof/chromium.log"
}

run_chromium v4-home "$LAB_V4" "https://$LAB_HOST/"
run_chromium v6-home "[$LAB_V6]" "https://$LAB_HOST/"
post=$(cd "$LAB_DIR/site/post" && ls | head -1)
run_chromium v4-post "$LAB_V4" "https://$LAB_HOST/post/$post/"
