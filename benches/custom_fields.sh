#!/usr/bin/env bash
# Pacing of the mixed request stream of an import with custom fields (issue 15): creates,
# PUT /v1/contact-custom-field and the lookups, all through the one pacer, against the
# sandbox's strict 60-per-6 s sliding window at the documented 10 requests/s.
#
#   benches/custom_fields.sh [ROWS]     (default 150 rows x 4 requests = 600 requests, ~60 s)
#   PLAIN=1 benches/custom_fields.sh    the same number of requests as plain creates (4 x ROWS
#                                       rows, no custom field): the reference for the ratio
#
# Builds the release binary (NO_BUILD=1 skips it), starts `wolfeo-bulk sandbox` on port 0 with
# three custom fields, imports ROWS rows with three non-empty custom values each at --rate
# 10/s, then prints one markdown line: requests, elapsed, achieved rate and its share of the
# limit, 429s, and the sandbox's peak per window. The sandbox is killed on exit.
set -euo pipefail

ROWS=${1:-150}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/wolfeo-bulk
WORK=$(mktemp -d)
export WOLFEO_API_KEY=sandbox-key
SANDBOX_PID=
cleanup() {
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[ "${NO_BUILD:-}" = 1 ] || cargo build --release --quiet --locked

"$BIN" sandbox --listen 127.0.0.1:0 --rate-limit 60/6s --window sliding \
    --seed-custom-fields "Company;Plan=Starter,Pro,Elite;Size" >"$WORK/sandbox.out" &
SANDBOX_PID=$!
for _ in $(seq 100); do
    grep -q listening "$WORK/sandbox.out" 2>/dev/null && break
    sleep 0.05
done
URL=$(grep -o 'http://[^ ]*/v1' "$WORK/sandbox.out")
export WOLFEO_BASE_URL=$URL

if [ "${PLAIN:-}" = 1 ]; then
    {
        echo "email"
        for i in $(seq $((ROWS * 4))); do
            echo "user$i@example.com"
        done
    } >"$WORK/in.csv"
else
    {
        echo "email,Company,Plan,Size"
        for i in $(seq "$ROWS"); do
            echo "user$i@example.com,Firm $i,Pro,$((i * 10))"
        done
    } >"$WORK/in.csv"
fi

"$BIN" -q import "$WORK/in.csv" --rate 10/s --summary-json "$WORK/summary.json" || true
curl -s "${URL%/v1}/_sandbox/stats" >"$WORK/stats.json"

python3 - "$WORK/summary.json" "$WORK/stats.json" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
stats = json.load(open(sys.argv[2]))
def find(d, key):
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            r = find(v, key)
            if r is not None:
                return r
    return None
achieved = find(summary, "achieved_requests_per_second") or 0.0
routes = stats["requests_by_endpoint"]
print("| requests | POST contact | PUT custom-field | elapsed s | achieved /s | share of 10/s | 429s | peak per 6 s |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {stats['requests_total']} | {routes.get('POST /v1/contact', 0)} | "
      f"{routes.get('PUT /v1/contact-custom-field', 0)} | {find(summary, 'elapsed_seconds'):.1f} | "
      f"{achieved:.3f} | {achieved / 10 * 100:.2f} % | {stats['throttled_total']} | "
      f"{stats['peak_requests_per_window']} |")
EOF
