#!/usr/bin/env bash
# Reproduces the notification figures of docs/benchmarks.md: PUT 1 KiB at
# 16-way with no notification, a synchronous HTTP topic and a persistent one,
# then end-to-end latency at half of the persistent peak.
# Usage: scripts/bench-notify.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}s"
PORT=9691
DATA="$(mktemp -d /tmp/herald-bench-notify.XXXXXX)"
cargo build -j2 --release -p herald >/dev/null 2>&1
HERALD=target/release/herald
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --size 1KiB --server-pid "$PID" --json --no-progress)
row() {
    python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
e = lambda k: ("%.2f" % r[k]) if k in r else "-"
print("| %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s | %d |" % (sys.argv[1], r["ops_per_sec"], r["p50_ms"], r["p99_ms"],
      r.get("events_received", "-"), r.get("events_missing", "-"), r.get("events_duplicated", "-"), e("e2e_p50_ms"), e("e2e_p99_ms"), r["errors"]))' "$1"
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "| scenario | PUT ops/s | PUT p50 ms | PUT p99 ms | events | missing | duplicated | e2e p50 ms | e2e p99 ms | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
"$HERALD" bench put "${COMMON[@]}" --duration "$DURATION" --bucket bench-plain | tee /tmp/bench-plain.json | row "no notification"
"$HERALD" bench notify "${COMMON[@]}" --duration "$DURATION" --topic-kind http --bucket bench-sync | row "synchronous HTTP topic"
"$HERALD" bench notify "${COMMON[@]}" --duration "$DURATION" --topic-kind http --persistent --bucket bench-persistent | tee /tmp/bench-persistent.json | row "persistent HTTP topic"
HALF=$(python3 -c 'import json; print(int(json.load(open("/tmp/bench-persistent.json"))["ops_per_sec"] / 2))')
"$HERALD" bench notify "${COMMON[@]}" --duration "$DURATION" --topic-kind http --persistent --rate "$HALF" --bucket bench-half | row "persistent, paced at $HALF PUT/s (half of peak)"
