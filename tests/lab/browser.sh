#!/usr/bin/env bash
# Scenario browser: headless Chromium in client c1 loads https://blog.example/ and a post over
# the anycast address (IPv4, then IPv6), over HTTP/2 and then over HTTP/3 (QUIC forced on, so a
# page that loads was carried by QUIC), certificate from a lab CA made here with openssl.
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

pin=--ignore-certificate-errors-spki-list="$spki"
lab_chromium v4-home "$LAB_V4" "https://$LAB_HOST/" "$pin"
lab_chromium v6-home "[$LAB_V6]" "https://$LAB_HOST/" "$pin"
post=$(cd "$LAB_DIR/site/post" && ls | head -1)
lab_chromium v4-post "$LAB_V4" "https://$LAB_HOST/post/$post/" "$pin"
# HTTP/3: the same pages over QUIC, on both address families.
LAB_CHROMIUM_PROTO=h3 lab_chromium v4-home-h3 "$LAB_V4" "https://$LAB_HOST/" "$pin"
LAB_CHROMIUM_PROTO=h3 lab_chromium v6-home-h3 "[$LAB_V6]" "https://$LAB_HOST/" "$pin"
LAB_CHROMIUM_PROTO=h3 lab_chromium v4-post-h3 "$LAB_V4" "https://$LAB_HOST/post/$post/" "$pin"
