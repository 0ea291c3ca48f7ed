#!/usr/bin/env bash
# Scenario acme: fleet certificates from a real ACME CA (pebble, Let's Encrypt's test CA).
# pebble runs in client c2's namespace, where blog.example resolves to the anycast address, so
# its http-01 validations reach e3; the issuer (`cdnctl acme`) runs in the origin namespace,
# whose preflight reaches e1. Certificates live 30 s, so a renewal at 2/3 of the lifetime
# happens during the scenario.
#   1. issue for e1 and e2: both install it; e3 (not yet in the issuer's config) keeps its own
#   2. e3 joins (added to the config): a new certificate reaches all three nodes
#   3. `cdnctl acme run` renews at 2/3 of the lifetime while clients make HTTPS requests
#      (certificate verified against pebble's root): 0 failed requests; meanwhile headless
#      Chromium, with pebble's root in its NSS store, loads the page over h2
#   4. the CA goes down: a forced renewal fails with a clear error, every node keeps serving,
#      the issuer's error shows in /metrics and `cdnctl status`, and the renewal-overdue alert
#      fires before the certificate expires
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" acme "$1"

command -v pebble >/dev/null || lab_skip "pebble not installed (apt-get install pebble)"
lab_init
lab_edge_feature tls || lab_skip "cdn-edge does not serve HTTPS with --tls-listen/--cert/--key"
lab_edge_feature state || lab_skip "cdn-edge does not serve a published state directory (--state)"
CDNCTL="$LAB_BUILD/origin-sync/cdnctl"
LIFETIME_S=30
PEBBLE_V4=198.51.100.130  # c2's address
acme_dir="$LAB_DIR/origin/acme"
mkdir -p "$acme_dir"

# The fleet's account (its thumbprint goes into every node's config) and the nodes' sealing
# keys (cdn-sync uses the same files), made before the lab starts, as an operator would.
LAB_ACME_THUMBPRINT=$("$CDNCTL" acme thumbprint --account-key "$acme_dir/account.pem") ||
    lab_die "cdnctl acme thumbprint failed"
declare -A node_pub
for e in "${LAB_EDGES[@]}"; do
    node_pub[$e]=$("$CDNCTL" acme node-key --key "$LAB_DIR/$e/node.key") ||
        lab_die "cdnctl acme node-key failed for $e"
done
LAB_ACME=1 LAB_TLS=1 LAB_STATE_MODE=1
lab_up || exit 1

# pebble: a TLS certificate from the lab CA; blog.example -> the anycast address in c2 (pebble's
# validations) and in origin (the issuer's preflight).
lab_make_pki
(
    cd "$acme_dir" || exit 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pebble.key \
        -out pebble.csr -subj "/CN=pebble"
    echo "subjectAltName=IP:$PEBBLE_V4" >pebble.ext
    openssl x509 -req -in pebble.csr -CA "$LAB_DIR/pki/ca.crt" -CAkey "$LAB_DIR/pki/ca.key" \
        -CAcreateserial -days 1 -extfile pebble.ext -out pebble.crt
) >"$acme_dir/openssl.log" 2>&1 || lab_die "making pebble's certificate failed"
python3 - "$acme_dir" "$PEBBLE_V4" "$LIFETIME_S" <<'PY'
import json, sys
d, addr, lifetime = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"pebble": {
    "listenAddress": f"{addr}:14000", "managementListenAddress": f"{addr}:15000",
    "certificate": f"{d}/pebble.crt", "privateKey": f"{d}/pebble.key",
    "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
    "externalAccountBindingRequired": False, "certificateValidityPeriod": lifetime}},
    open(f"{d}/pebble.json", "w"))
PY
lab_netns_hosts c2 "$LAB_V4 $LAB_HOST"
lab_netns_hosts origin "$LAB_V4 $LAB_HOST"
lab_spawn pebble c2 "$acme_dir/pebble.log" env PEBBLE_VA_NOSLEEP=1 pebble -config "$acme_dir/pebble.json"
up=""
for ((i = 0; i < 100; i++)); do
    if lab_exec origin curl -s -o /dev/null --max-time 0.5 --cacert "$LAB_DIR/pki/ca.crt" \
        "https://$PEBBLE_V4:14000/dir"; then up=1; break; fi
    sleep 0.05
done
[[ -n $up ]] || lab_die "pebble did not start (see $acme_dir/pebble.log)"
lab_exec origin curl -s --max-time 2 --cacert "$LAB_DIR/pki/ca.crt" \
    "https://$PEBBLE_V4:15000/roots/0" >"$acme_dir/pebble-root.pem"
grep -q "BEGIN CERTIFICATE" "$acme_dir/pebble-root.pem" || lab_die "no root from pebble's management API"

write_config() {  # write_config NODE...: the issuer's config, with these nodes
    python3 - "$acme_dir" "$PEBBLE_V4" "$LAB_DIR" "$LAB_HOST" "$@" <<'PY'
import json, sys
d, addr, lab, host, nodes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
pubs = {n: open(f"{lab}/{n}/node.pub").read().strip() for n in nodes}
json.dump({
    "directory": f"https://{addr}:14000/dir", "ca_file": f"{lab}/pki/ca.crt",
    "account_key": f"{d}/account.pem", "contact": ["mailto:ops@example.org"],
    "names": [host], "nodes": pubs,
    "origin": f"{lab}/origin/www", "signing_key": f"{lab}/origin/keys/private.pem",
    "retry_min_s": 1, "retry_max_s": 4, "check_interval_s": 1, "poll_limit_s": 60,
    "timeout_ms": 5000}, open(f"{d}/issuer.json", "w"), indent=1)
PY
}
for e in "${LAB_EDGES[@]}"; do echo "${node_pub[$e]}" >"$LAB_DIR/$e/node.pub"; done
acme() { lab_exec origin "$CDNCTL" acme "$@" --config "$acme_dir/issuer.json"; }
bundle_field() {  # bundle_field KEY: a field of the published bundle
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
        "$LAB_DIR/origin/www/certs/bundle.json" "$1" 2>/dev/null
}
# The serial of the certificate NODE serves on the anycast address (from inside its namespace).
served_serial() {
    echo | lab_exec "$1" timeout 3 openssl s_client -connect "$LAB_V4:443" -servername "$LAB_HOST" \
        2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
# wait_all_serve SERIAL TIMEOUT_S NODE...: until each node serves SERIAL; prints the ms taken.
wait_all_serve() {
    local serial=$1 t0 e pending
    t0=$(lab_now_ms)
    local deadline=$(( t0 + $2 * 1000 ))
    shift 2
    while (( $(lab_now_ms) < deadline )); do
        pending=0
        for e in "$@"; do [[ $(served_serial "$e") == "$serial" ]] || pending=1; done
        if ((pending == 0)); then echo $(( $(lab_now_ms) - t0 )); return 0; fi
        sleep 0.2
    done
    return 1
}
verified_200() {  # verified_200 NODE: HTTPS 200, the certificate verified by pebble's root
    [[ $(lab_exec "$1" curl -s -o /dev/null --max-time 3 --cacert "$acme_dir/pebble-root.pem" \
        --resolve "$LAB_HOST:443:$LAB_V4" -w '%{http_code}' "https://$LAB_HOST/") == 200 ]]
}
any_200() {  # any_200 NODE: HTTPS 200 whatever the certificate
    [[ $(lab_exec "$1" curl -sk -o /dev/null --max-time 3 --resolve "$LAB_HOST:443:$LAB_V4" \
        -w '%{http_code}' "https://$LAB_HOST/") == 200 ]]
}
metric() {  # metric NODE NAME: a gauge's value from the node's /metrics
    lab_exec origin curl -s --max-time 2 "$(lab_admin_url "$1")/metrics" |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { print $2; exit }'
}

# 1. The account at the CA, then the first certificate, for e1 and e2.
write_config e1 e2
acme account >"$acme_dir/account.out" 2>&1
rc=$?
cat "$acme_dir/account.out"
lab_assert "cdnctl acme account registers the account" test "$rc" = 0
lab_assert "... and prints the thumbprint the nodes answer with" \
    grep -q "thumbprint $LAB_ACME_THUMBPRINT" "$acme_dir/account.out"
t0=$(lab_now_ms)
acme issue >"$acme_dir/issue-1.out" 2>&1
rc=$?
cat "$acme_dir/issue-1.out"
lab_assert "cdnctl acme issue (e1, e2) succeeded" test "$rc" = 0
lab_figure "issuance (account, order, http-01 through the fleet, finalize, download)" \
    "$(( $(lab_now_ms) - t0 )) ms"
serial1=$(bundle_field serial)
ms=$(wait_all_serve "$serial1" 20 e1 e2)
lab_assert "e1 and e2 serve the issued certificate ($serial1)" test -n "$ms"
lab_figure "certificate 1 live on e1 and e2 after issuance" "${ms:-never} ms"
lab_assert "e1 serves it, verified by pebble's root" verified_200 e1
lab_assert "e3 (not in the issuer's config) keeps its own certificate" \
    test "$(served_serial e3)" != "$serial1"
# Which node answered which challenge request: pebble (from c2) reaches e3, the issuer's
# preflight (from origin) reaches e1, and both got the same answer.
challenges() {  # challenges NODE PEER: challenge requests NODE answered 200 to PEER
    grep '/.well-known/acme-challenge/' "$LAB_DIR/$1/access.log" 2>/dev/null |
        grep "\"peer\":\"$2" | grep -c '"status":200'
}
per_node=$(for e in "${LAB_EDGES[@]}"; do
    echo "$e: $(challenges "$e" "$PEBBLE_V4") from pebble, $(challenges "$e" "$LAB_ORIGIN_V4") from the issuer"
done | paste -sd';')
lab_figure "http-01 challenge requests answered (first issuance)" "$per_node"
lab_assert "pebble's validation landed on e3" test "$(challenges e3 "$PEBBLE_V4")" -gt 0
lab_assert "the issuer's preflight landed on e1, another node" test "$(challenges e1 "$LAB_ORIGIN_V4")" -gt 0
lab_assert "e3's cdn-sync says the bundle has no key for it" \
    grep -q "no key sealed to node e3" "$LAB_DIR/e3/cdn-sync.log"

# 2. e3 joins: the issuer seals a new certificate's key to all three.
write_config e1 e2 e3
acme issue >"$acme_dir/issue-2.out" 2>&1
rc=$?
cat "$acme_dir/issue-2.out"
lab_assert "cdnctl acme issue after e3 joined succeeded" test "$rc" = 0
lab_assert "the issuer said why: e3 has no sealed key" grep -q "e3 has no sealed key" "$acme_dir/issue-2.out"
serial2=$(bundle_field serial)
issued2=$(lab_now_ms)
ms=$(wait_all_serve "$serial2" 20 e1 e2 e3)
lab_assert "all 3 nodes serve certificate $serial2 after e3 joined" test -n "$ms"
lab_figure "joining node: certificate live on all 3 nodes after issuance" "${ms:-never} ms"
acme issue >"$acme_dir/issue-3.out" 2>&1
rc=$?
cat "$acme_dir/issue-3.out"
lab_assert "a check right after issuance does nothing (exit 0, not due)" \
    bash -c "[[ $rc == 0 ]] && grep -q '^not due' '$acme_dir/issue-3.out'"
lab_assert "... and published nothing new" test "$(bundle_field serial)" = "$serial2"

# 3. The daemon renews at 2/3 of the lifetime while both clients make HTTPS requests.
lab_spawn issuer origin "$acme_dir/issuer.log" "$CDNCTL" acme run --config "$acme_dir/issuer.json"
issuer_pid=$LAB_LAST_PID
for c in c1 c2; do
    lab_probe_start "tls-$c" "$c" "$LAB_V4" --port 443 --tls-ca "$acme_dir/pebble-root.pem" \
        --duration-s 90 --interval-ms 100 --timeout-ms 3000
done
# A browser that trusts pebble's root (in its NSS store, no pin) loads the site meanwhile.
if command -v chromium >/dev/null && command -v certutil >/dev/null; then
    LAB_CHROMIUM_ROOT="$acme_dir/pebble-root.pem" lab_chromium acme-home "$LAB_V4" "https://$LAB_HOST/"
else
    lab_figure "chromium with pebble's root" "not run: chromium or certutil (libnss3-tools) missing" "" SKIP
fi
renewed=""
deadline=$(( issued2 + 3 * LIFETIME_S * 1000 ))  # bounded: three lifetimes
while (( $(lab_now_ms) < deadline )); do
    s=$(bundle_field serial)
    if [[ -n $s && $s != "$serial2" ]]; then renewed=$s; break; fi
    sleep 0.2
done
renew_ms=""
[[ -n $renewed ]] && renew_ms=$(( $(lab_now_ms) - issued2 ))
lab_assert "the issuer renewed the certificate" test -n "$renewed"
lab_figure "renewal after issuance (due at 2/3 of the ${LIFETIME_S} s lifetime)" "${renew_ms:-never} ms" \
    "~$(( LIFETIME_S * 2000 / 3 )) ms"
ms=$(wait_all_serve "${renewed:-none}" 20 e1 e2 e3)
lab_assert "all 3 nodes serve the renewed certificate" test -n "$ms"
lab_figure "renewed certificate live on all 3 nodes" "${ms:-never} ms"
sleep 1
for c in c1 c2; do lab_probe_stop "tls-$c"; done
lab_stop_pids TERM "$issuer_pid"
for c in c1 c2; do
    s=$(python3 "$LAB_HERE/probe.py" summary "$LAB_DIR/tls-$c.tsv")
    serials=$(awk '$3 == 1 { split($6, d, ":"); print d[2] }' "$LAB_DIR/tls-$c.tsv" | sort -u | paste -sd,)
    lab_figure "$c HTTPS requests across the renewal: failed" \
        "$(lab_json "$s" '["failed"]') of $(lab_json "$s" '["requests"]')" "0"
    lab_figure "$c certificates seen" "$serials"
    lab_assert "$c: no failed request across the renewal" test "$(lab_json "$s" '["failed"]')" = 0
    lab_assert "$c: requests were made" test "$(lab_json "$s" '["requests"]')" -gt 0
done
lab_assert "the clients were served the renewed certificate" \
    grep -q "$renewed" "$LAB_DIR/tls-c1.tsv" "$LAB_DIR/tls-c2.tsv"

# 4. The CA is down at renewal time.
lab_stop_pids TERM "$(lab_pid_of pebble)"
acme issue --force >"$acme_dir/issue-down.out" 2>&1
rc=$?
cat "$acme_dir/issue-down.out"
lab_assert "a renewal with the CA down fails" test "$rc" != 0
lab_assert "... with an error naming the CA's address" \
    grep -q "$PEBBLE_V4:14000/dir: Connection refused" "$acme_dir/issue-down.out"
for e in "${LAB_EDGES[@]}"; do
    lab_assert "$e still serves the last certificate" test "$(served_serial "$e")" = "$renewed"
done
alert=""
deadline=$(( $(lab_now_ms) + 10000 ))
while (( $(lab_now_ms) < deadline )); do
    n=0
    for e in "${LAB_EDGES[@]}"; do
        [[ $(metric "$e" anyedge_acme_issuer_failing) == 1 ]] && n=$((n + 1))
    done
    if ((n == 3)); then alert=yes; break; fi
    sleep 0.2
done
lab_assert "every node's /metrics shows anyedge_acme_issuer_failing 1" test -n "$alert"
nodes=$(for e in "${LAB_EDGES[@]}"; do lab_admin_url "$e"; done | paste -sd,)
lab_exec origin "$CDNCTL" status --nodes "$nodes" >"$acme_dir/status.out" 2>&1
rc=$?
cat "$acme_dir/status.out"
lab_assert "cdnctl status exits 3" test "$rc" = 3
lab_assert "cdnctl status shows the issuer's error" grep -q "issuer: ACME directory" "$acme_dir/status.out"
# The renewal-overdue alert (3/4 of the lifetime) fires while the certificate is still valid.
overdue=""
deadline=$(( $(bundle_field not_after) * 1000 ))
while (( $(lab_now_ms) < deadline )); do
    if [[ $(metric e1 anyedge_tls_certificate_renewal_overdue) == 1 ]]; then
        overdue=$(( $(bundle_field not_after) - $(date +%s) ))
        break
    fi
    sleep 0.2
done
lab_assert "anyedge_tls_certificate_renewal_overdue fired before the certificate expired" test -n "$overdue"
lab_figure "renewal-overdue alert: validity left when it fired" "${overdue:-never} s" "> 0"
lab_assert "e1 answers HTTPS while the CA is down" any_200 e1
