#!/usr/bin/env bash
# Scenario publish: the author runs `cdnctl publish --wait` (from the origin namespace) while
# clients c1 and c2 load the page and its assets in a loop (new connections). All three nodes
# converge; no client ever sees an error or a page whose assets are missing (mixed generations).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh" publish "$1"

lab_init
lab_edge_feature state || lab_skip "cdn-edge does not serve a published state directory (--state)"
lab_edge_feature admin || lab_skip "cdn-edge has no admin API (POST /reload, GET /status) for cdn-sync and cdnctl --wait"
LAB_STATE_MODE=1
lab_up || exit 1

# Generation 2 of the site: every page carries a marker and the stylesheet gets a new
# content-hashed name, so a page from one generation with assets from another would 404.
v2="$LAB_DIR/site-v2"
rm -rf "$v2"; cp -r "$LAB_DIR/site" "$v2"
css=$(cd "$v2/assets" && ls style.*.css | head -1)
mv "$v2/assets/$css" "$v2/assets/style.lab2.css"
find "$v2" -name '*.html' -print0 | xargs -0 sed -i \
    -e "s|/assets/$css|/assets/style.lab2.css|g" \
    -e 's|<head>|<head><meta name="lab-generation" content="2">|'
grep -q 'lab-generation' "$v2/index.html" || lab_die "could not mark generation 2 in index.html"

nodes=$(for e in "${LAB_EDGES[@]}"; do lab_admin_url "$e"; done | paste -sd,)
for c in c1 c2; do
    lab_probe_start "page-$c" "$c" "$LAB_V4" --page --duration-s 40 --interval-ms 50 --timeout-ms 3000
done
sleep 1.5
t0=$(lab_now_ms)
lab_publish "$v2" --wait --nodes "$nodes" --wait-timeout 30 >"$LAB_DIR/publish.out" 2>&1
rc=$?
t_pub=$(( $(lab_now_ms) - t0 ))
cat "$LAB_DIR/publish.out"
lab_assert "cdnctl publish --wait succeeded" test "$rc" = 0
conv=$(sed -n 's/.*nodes live on generation [0-9]* \([0-9.]*\)s after current moved.*/\1/p' "$LAB_DIR/publish.out")
lab_figure "cdnctl publish --wait: every node live (after current moved)" "${conv:-?} s"
lab_figure "cdnctl publish --wait: whole command" "$t_pub ms"
# Both clients see generation 2 (bounded).
for c in c1 c2; do
    seen=""
    deadline=$(( t0 + 40000 ))  # bounded: ten times the target and more
    while (( $(lab_now_ms) < deadline )); do
        if lab_exec "$c" curl -s --max-time 1 -H "Host: $LAB_HOST" "http://$LAB_V4/" | grep -q 'lab-generation'; then
            seen=$(( $(lab_now_ms) - t0 )); break
        fi
        sleep 0.05
    done
    lab_timed "$c sees generation 2 (after publish began)" "$seen" 4000
done
sleep 1
for c in c1 c2; do lab_probe_stop "page-$c"; done
for c in c1 c2; do
    s=$(python3 "$LAB_HERE/probe.py" summary "$LAB_DIR/page-$c.tsv")
    echo "page-$c: $s"
    lab_figure "$c page loads during the publish: failed or mixed" "$(lab_json "$s" '["failed"]') of $(lab_json "$s" '["requests"]')" "0"
    lab_figure "$c page loads by generation" "$(lab_json "$s" '["generations"]')"
    lab_assert "$c: no error and no mixed page" test "$(lab_json "$s" '["failed"]')" = 0
    lab_assert "$c: saw generation 2" test "$(lab_json "$s" '["generations"].get("gen2", 0)')" -gt 0
done
# Every node answers identically: same ETag for the page from each edge.
etags=$(for e in "${LAB_EDGES[@]}"; do
    lab_exec "$e" curl -s -o /dev/null -D - --max-time 1 -H "Host: $LAB_HOST" "http://$LAB_V4/" |
        tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'
done | sort -u | wc -l)
lab_figure "distinct ETags for / across the 3 nodes" "$etags" "1"
lab_assert "every node serves the same bytes (one ETag)" test "$etags" = 1
