#!/usr/bin/env bash
# The shared rate budget (issue 16), end to end against the sandbox on loopback.
#
#   benches/budget.sh [shared|mixed|third|learn|exact|all]   (default: all)
#
# Builds --release (NO_BUILD=1 skips), starts each sandbox on port 0, runs the scenario and
# prints one markdown row per measurement on stdout; logs go to target/bench/logs/. Each run
# has its own XDG_RUNTIME_DIR, so the budget record is the bench's own. Every server and loop
# started here is killed on exit. Figures are ratios to the ideal measured in the same run.
#
#   shared  two imports of 300 rows together, sandbox 60/6s fixed then sliding
#   mixed   an import of 300 rows and an export of 3,000 contacts together, 60/6s fixed
#   third   a plain HTTP loop spending 3/s on the key while an import of 300 rows runs
#   learn   150 rows at --rate 10/s against 20/4s without any rate header
#   exact   2,000 rows at 10/s against 600/60s fixed with headers; export of 10,000 contacts
#           at 300 ms latency against 600/60s (ideal: 99 pages / 10/s + one round trip)
set -euo pipefail

SCENARIO=${1:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/bench
mkdir -p "$OUT/logs"
BIN=$ROOT/target/release/wolfeo-bulk
WORK=$(mktemp -d "$OUT/budget.XXXXXX")
export WOLFEO_API_KEY=sandbox-key XDG_RUNTIME_DIR=$WORK WOLFEO_BUDGET=shared
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "[budget $(date +%H:%M:%S)] $*" >&2; }

[ "${NO_BUILD:-}" = 1 ] || cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2

URL=
start_sandbox() {
    local logf=$OUT/logs/budget-sandbox-$1.log
    shift
    "$BIN" sandbox --listen 127.0.0.1:0 "$@" >"$logf" 2>&1 &
    PIDS+=("$!")
    SB_PID=$!
    for _ in $(seq 1 100); do
        URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/v1' "$logf" | head -n1 || true)
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    echo "sandbox did not start" >&2
    exit 1
}
stop_sandbox() { kill "$SB_PID" 2>/dev/null || true; wait "$SB_PID" 2>/dev/null || true; }
stats() { curl -sf "${URL%/v1}/_sandbox/stats"; }
rows() { awk -v n="$1" -v p="$2" 'BEGIN { print "email"; for (i = 0; i < n; i++) printf "%s%d@example.com\n", p, i }' >"$WORK/$2.csv"; }
now() { date +%s.%N; }
import() { # NAME ARGS...
    local name=$1
    shift
    WOLFEO_BASE_URL=$URL "$BIN" -q import "$WORK/$name.csv" --summary-json "$WORK/$name.json" "$@" \
        2>"$OUT/logs/budget-$name.log"
}
field() { jq -r "$2" "$WORK/$1.json"; }

echo "| scenario | result |"
echo "|---|---|"

if [[ $SCENARIO == shared || $SCENARIO == all ]]; then
    for window in fixed sliding; do
        start_sandbox "shared-$window" --rate-limit 60/6s --window "$window"
        rows 300 "a$window"
        rows 300 "b$window"
        t0=$(now)
        import "a$window" & pa=$!
        import "b$window" & pb=$!
        wait $pa $pb
        t1=$(now)
        s=$(stats)
        req=$(jq .requests_total <<<"$s")
        echo "| two imports, $window 60/6s | $req requests in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s = $(awk -v r="$req" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", 100*r/(b-a)/10}') % of 10/s; shares $(field "a$window" .budget.share) / $(field "b$window" .budget.share); 429s $(jq .throttled_total <<<"$s"); peak $(jq .peak_requests_per_window <<<"$s") per 6 s |"
        stop_sandbox
    done
fi

if [[ $SCENARIO == mixed || $SCENARIO == all ]]; then
    start_sandbox mixed --rate-limit 60/6s --seed-contacts 3000
    rows 300 m
    t0=$(now)
    WOLFEO_BASE_URL=$URL "$BIN" -q export --output "$WORK/out.csv" --summary-json "$WORK/export.json" \
        2>"$OUT/logs/budget-export.log" & pe=$!
    import m & pm=$!
    wait $pe $pm
    t1=$(now)
    s=$(stats)
    echo "| import + export, fixed 60/6s | $(jq .requests_total <<<"$s") requests in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s; shares import $(field m .budget.share) / export $(field export .budget.share) (export's share while it ran); 429s $(jq .throttled_total <<<"$s") |"
    stop_sandbox
fi

if [[ $SCENARIO == third || $SCENARIO == all ]]; then
    start_sandbox third --rate-limit 60/6s
    rows 300 t
    # The loop logs when each of its requests was answered and with which status, so the
    # budget it left is measured, not assumed (one curl per request spends a little under 3/s).
    (while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer sandbox-key" "$URL/tags")
        echo "$(now) $code" >>"$WORK/third.log"
        sleep 0.333
    done) &
    PIDS+=("$!")
    loop=$!
    sleep 1
    t0=$(now)
    import t
    t1=$(now)
    kill "$loop"
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
    theirs=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 <= b && $2 == 200 { n++ } END { print n + 0 }' "$WORK/third.log")
    ours=$(($(field t .requests) - $(field t .throttled_429)))
    left=$(awk -v t="$took" -v x="$theirs" 'BEGIN{printf "%.0f", 10*t - x}')
    echo "| import while a third party spends ~3/s | we got $ours requests admitted in $took s, the loop $theirs: $(awk -v r="$ours" -v l="$left" 'BEGIN{printf "%.1f", 100*r/l}') % of the $left the loop left; our 429s $(field t .throttled_429) in $(awk -v t="$took" 'BEGIN{printf "%d", t/6+1}') windows; holds $(field t .budget.window_holds) |"
    stop_sandbox
fi

if [[ $SCENARIO == learn || $SCENARIO == all ]]; then
    start_sandbox learn --rate-limit 20/4s --no-rate-headers
    rows 150 l
    t0=$(now)
    import l --rate 10/s
    t1=$(now)
    took=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
    echo "| 150 rows at 10/s, 20/4s, no headers | $took s = $(awk -v t="$took" 'BEGIN{printf "%.3f", t/30}') x the ideal 30 s; 429s $(jq .throttled_total <<<"$(stats)") |"
    stop_sandbox
fi

if [[ $SCENARIO == exact || $SCENARIO == all ]]; then
    start_sandbox exact --rate-limit 600/60s
    rows 2000 x
    import x --rate 10/s
    echo "| 2,000 rows at 10/s, fixed 600/60s, headers | $(field x .achieved_requests_per_second) requests/s = $(awk -v r="$(field x .achieved_requests_per_second)" 'BEGIN{printf "%.2f", 10*r}') % of the rate; 429s $(field x .throttled_429) |"
    stop_sandbox
    start_sandbox export --rate-limit 600/60s --latency 300ms --seed-contacts 10000
    t0=$(now)
    WOLFEO_BASE_URL=$URL "$BIN" -q export --output "$WORK/all.csv" --summary-json "$WORK/e.json" 2>"$OUT/logs/budget-export10k.log"
    t1=$(now)
    took=$(field e .elapsed_seconds)
    req=$(field e .requests)
    # Diagnosis beside the metric: the span from the first to the last request started (the
    # last is the walk's head check, sent after page 100's answer).
    span=$(awk -v n="$req" -v r="$(field e .achieved_requests_per_second)" 'BEGIN{printf "%.3f", (n-1)/r}')
    echo "| export 10,000 at 300 ms | $took s = $(awk -v t="$took" 'BEGIN{printf "%.4f", t/(99/10+0.3)}') x the ideal 10.2 s; $req requests, first to last started $span s; 429s $(field e .throttled_429) |"
    stop_sandbox
fi
