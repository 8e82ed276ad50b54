#!/usr/bin/env bash
# Reproduces the broker figures of docs/benchmarks.md: PUT 1 KiB at 16-way
# with no notification and with a persistent topic on each broker (the
# events consumed by the bench from RabbitMQ, tansu/Kafka, NATS and
# Mosquitto on loopback), then the rate at which a backlog of persistent
# events (built while the topic points at a closed port) drains into each
# broker (and, for comparison, into an HTTP receiver).
# Usage: scripts/bench-brokers.sh [seconds] [backlog events]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}s"
BACKLOG="${2:-100000}"
PORT=9692
bash scripts/brokers.sh >/dev/null
DATA="$(mktemp -d /tmp/herald-bench-brokers.XXXXXX)"
cargo build -j2 --release -p herald >/dev/null 2>&1
HERALD=target/release/herald
TANSU_PID=
if ! (echo >/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
        --storage-engine memory://tansu/ >/dev/null 2>&1 &
    TANSU_PID=$!
fi
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn &
PID=$!
trap 'kill $PID $TANSU_PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --size 1KiB --server-pid "$PID" --json --no-progress)
RUN=$(date +%s)
row() {
    python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
base = float(sys.argv[2]) if len(sys.argv) > 2 else r["ops_per_sec"]
e = lambda k: ("%.2f" % r[k]) if k in r else "-"
print("| %s | %.0f | %.0f%% | %.2f | %s | %s | %s | %s | %s | %d |" % (sys.argv[1], r["ops_per_sec"], 100.0 * r["ops_per_sec"] / base,
      r["p99_ms"], r.get("events_received", "-"), r.get("events_missing", "-"), r.get("events_duplicated", "-"),
      e("e2e_p50_ms"), e("e2e_p99_ms"), r["errors"]))' "$@"
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo
echo "| scenario | PUT ops/s | vs none | PUT p99 ms | events | missing | duplicated | e2e p50 ms | e2e p99 ms | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
"$HERALD" bench put "${COMMON[@]}" --duration "$DURATION" --bucket "plain-$RUN" > /tmp/bench-brokers-plain.json
BASE=$(python3 -c 'import json; print(json.load(open("/tmp/bench-brokers-plain.json"))["ops_per_sec"])')
row "no notification" "$BASE" < /tmp/bench-brokers-plain.json
for kind in amqp kafka nats mqtt; do
    "$HERALD" bench notify "${COMMON[@]}" --duration "$DURATION" --topic-kind $kind --persistent \
        --bucket "$kind-$RUN" | row "persistent $kind topic" "$BASE"
done
echo
echo "| backlog into | events | drained in s | events/s | server peak RSS MiB | missing | duplicated |"
echo "|---|---|---|---|---|---|---|"
SECS=40
RATE=$(( BACKLOG / SECS ))
for kind in http amqp kafka nats mqtt; do
    "$HERALD" bench notify "${COMMON[@]}" --duration "${SECS}s" --rate "$RATE" --topic-kind $kind --backlog \
        --drain-timeout 600s --bucket "backlog-$kind-$RUN" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("| %s | %d | %.2f | %.0f | %.0f | %d | %d |" % (sys.argv[1], r["events_received"], r["drain_s"],
      r["events_received"] / max(r["drain_s"], 1e-9), (r.get("server_hwm_kb") or 0) / 1024, r["events_missing"], r["events_duplicated"]))' "$kind"
done
