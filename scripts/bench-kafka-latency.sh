#!/usr/bin/env bash
# Kafka end-to-end latency (docs/benchmarks.md "Kafka latency: quick ACKs in the relay"):
# one fresh release server, `herald bench notify --topic-kind kafka --persistent` against a
# Kafka broker on 127.0.0.1:9092 (start one first, e.g.
# `tansu broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/`).
# BENCH=other-herald runs the bench client from another build (to compare servers).
#
#   scripts/bench-kafka-latency.sh [BIN] [seconds]   (default target/release/herald, 6)
set -euo pipefail
BIN="${1:-target/release/herald}"; PORT=9697
export AWS_EC2_METADATA_DISABLED=true
DATA=$(mktemp -d /tmp/hk.XXXX)
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn  2>/tmp/kbench.server.log &
PID=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
COMMON=(--endpoint http://127.0.0.1:$PORT --access-key benchkey --secret-key benchsecret123 --concurrency 16 --size 1KiB --server-pid $PID --json --no-progress --duration ${2:-6}s)
"${BENCH:-$BIN}" bench notify "${COMMON[@]}" --topic-kind kafka ${3:---persistent} --bucket kb$RANDOM | python3 -c "import json,sys;d=json.load(sys.stdin);print('ops/s %.0f e2e p50 %s p90 %s p99 %s missing %s dup %s' % (d['ops_per_sec'], d.get('e2e_p50_ms'), d.get('e2e_p90_ms'), d.get('e2e_p99_ms'), d.get('events_missing'), d.get('events_duplicated')))"
kill $PID; wait $PID 2>/dev/null || true; rm -rf "$DATA"
