#!/usr/bin/env bash
# The event pipeline's cost, as the pipeline issue measures it: on ONE
# server, alternating runs of `herald bench put` (no notification) and
# `herald bench notify --topic-kind http --persistent` (1 KiB, 16-way),
# N pairs; prints each pair's ratio (persistent / plain PUT ops/s), the
# median ratio, and the end-to-end latency of the persistent runs.
#
#   scripts/bench-pipeline.sh [BIN] [seconds per run] [pairs]   (default target/release/herald, 6 s, 3 pairs)
set -euo pipefail
BIN="${1:-target/release/herald}"
DURATION="${2:-6}s"
PAIRS="${3:-3}"
PORT=9694
export AWS_EC2_METADATA_DISABLED=true
DATA="$(mktemp -d /tmp/herald-bench-pipeline.XXXXXX)"
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --size 1KiB --server-pid "$PID" --json --no-progress)
# Warm-up, not counted: the first PUTs into a fresh data dir are slower
# (directories created, caches cold), which would flatter pair 1's ratio.
"$BIN" bench put "${COMMON[@]}" --duration 2s --bucket warm-up >/dev/null
echo "machine: $(nproc) cores, $(uname -r); $BIN; $PAIRS pairs of $DURATION on one server"
echo "| pair | plain PUT ops/s | persistent-topic PUT ops/s | ratio | e2e p50 ms | e2e p99 ms | missing | duplicated |"
echo "|---|---|---|---|---|---|---|---|"
RATIOS=()
for pair in $(seq "$PAIRS"); do
    plain=$("$BIN" bench put "${COMMON[@]}" --duration "$DURATION" --bucket "plain-$pair")
    notify=$("$BIN" bench notify "${COMMON[@]}" --duration "$DURATION" --topic-kind http --persistent --bucket "persistent-$pair")
    line=$(python3 - "$pair" "$plain" "$notify" <<'PY'
import json, sys
p, n = json.loads(sys.argv[2]), json.loads(sys.argv[3])
r = n["ops_per_sec"] / p["ops_per_sec"]
print("| %s | %.0f | %.0f | %.3f | %.2f | %.2f | %s | %s |" % (sys.argv[1], p["ops_per_sec"], n["ops_per_sec"], r,
      n.get("e2e_p50_ms", float("nan")), n.get("e2e_p99_ms", float("nan")), n.get("events_missing"), n.get("events_duplicated")))
print(r)
PY
)
    echo "$line" | head -1
    RATIOS+=("$(echo "$line" | tail -1)")
done
python3 -c 'import statistics, sys; print("median ratio: %.3f" % statistics.median(map(float, sys.argv[1:])))' "${RATIOS[@]}"
