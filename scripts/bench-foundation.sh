#!/usr/bin/env bash
# Reproduces the storage figures of docs/benchmarks.md: PUT and GET of 1 KiB
# and 1 MiB objects at 16-way concurrency against a fresh release build of
# `herald serve`, with the server's RSS. Usage: scripts/bench-foundation.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}s"
PORT=9690
DATA="$(mktemp -d /tmp/herald-bench.XXXXXX)"
cargo build -j2 --release -p herald >/dev/null
HERALD=target/release/herald
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --duration "$DURATION" --server-pid "$PID" --json)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
printf '| scenario | ops/s | MB/s | p50 ms | p99 ms | errors | server RSS MiB |\n|---|---|---|---|---|---|---|\n'
for size in 1KiB 1MiB; do
    for op in put get; do
        "$HERALD" bench "$op" "${COMMON[@]}" --size "$size" --bucket "bench-$op-${size,,}" |
            python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("| %s %s | %.0f | %.1f | %.2f | %.2f | %d | %.0f |" % (r["scenario"], sys.argv[1], r["ops_per_sec"], r["mb_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"], r.get("server_rss_kb",0)/1024))' "$size"
    done
done
