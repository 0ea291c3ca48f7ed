#!/usr/bin/env bash
# tests/lab/report.sh BUILD_DIR [SCENARIO...]: runs the lab scenarios (all by default) one after
# the other and writes a Markdown table of their measured figures to BUILD_DIR/lab-report.md.
# Each scenario's full output goes to BUILD_DIR/lab-logs/SCENARIO.log. Exit status 1 when any
# scenario failed (skips do not fail the report; they are listed with their reason).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: report.sh BUILD_DIR [SCENARIO...]}" && pwd)
shift
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(routing crash poweroff drain continuity publish stale browser acme)
mkdir -p "$build/lab-logs" "$build/lab-figures"
declare -A result secs
failed=0
for s in "${scenarios[@]}"; do
    printf 'lab %-10s ... ' "$s"
    t0=${EPOCHREALTIME/./}
    bash "$here/$s.sh" "$build" >"$build/lab-logs/$s.log" 2>&1
    rc=$?
    t1=${EPOCHREALTIME/./}
    secs[$s]=$(printf '%d.%d' $(((t1 - t0) / 1000000)) $((((t1 - t0) / 100000) % 10)))
    case $rc in
    0) result[$s]=PASS ;;
    77) result[$s]=SKIP ;;
    *) result[$s]=FAIL; failed=1 ;;
    esac
    echo "${result[$s]} (${secs[$s]} s)"
done

out="$build/lab-report.md"
{
    echo "### Lab report"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(bird --version 2>&1 | head -1), $(nproc) CPUs;"
    echo "produced by \`tests/lab/report.sh BUILD_DIR\`."
    echo
    echo "| scenario | result | run time |"
    echo "| --- | --- | --- |"
    for s in "${scenarios[@]}"; do echo "| $s | ${result[$s]} | ${secs[$s]} s |"; done
    echo
    echo "| scenario | figure | measured | target | verdict |"
    echo "| --- | --- | --- | --- | --- |"
    for s in "${scenarios[@]}"; do
        f="$build/lab-figures/$s.tsv"
        [[ -s $f ]] || continue
        while IFS=$'\t' read -r metric value target verdict; do
            [[ $metric == check:* ]] && continue
            value=${value//|/\\|}
            echo "| $s | $metric | $value | $target | $verdict |"
        done <"$f"
    done
    echo
    echo "| scenario | checks passed | checks failed |"
    echo "| --- | --- | --- |"
    for s in "${scenarios[@]}"; do
        f="$build/lab-figures/$s.tsv"
        [[ -s $f ]] || continue
        pass=$(grep -c $'^check: .*\tPASS$' "$f")
        fails=$(grep $'^check: .*\tFAIL$' "$f" | cut -f1 | sed 's/^check: //' | paste -sd ';' | sed 's/;/; /g')
        echo "| $s | $pass | ${fails:-none} |"
    done
} >"$out"
echo
cat "$out"
echo
echo "written to $out"
exit $failed
