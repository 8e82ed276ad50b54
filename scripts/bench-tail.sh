#!/usr/bin/env bash
# The live tail's cost on writes: PUT 1 KiB, 16-way, 6 s, alternating without and with a watcher
# (herald watch s3:// --json > /dev/null, on the same cores), then with a stopped watcher
# (SIGSTOP: it must be cut off without slowing writes).
#
#   scripts/bench-tail.sh [BIN]   (default target/release/herald)
set -euo pipefail
BIN=${1:-target/release/herald}
PORT=9695
DATA=$(mktemp -d /tmp/herald-bench-tail.XXXXXX)
export AWS_EC2_METADATA_DISABLED=true
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn &
PID=$!
trap 'kill $PID $W 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
W=
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
C=(--endpoint http://127.0.0.1:$PORT --access-key benchkey --secret-key benchsecret123 --concurrency 16 --size 1KiB --server-pid $PID --json --no-progress)
"$BIN" bench put "${C[@]}" --duration 2s --bucket warm-up >/dev/null
run() { "$BIN" bench put "${C[@]}" --duration 6s --bucket "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%s %.0f ops/s p50 %.2f p99 %.2f" % (sys.argv[1], d["ops_per_sec"], d["p50_ms"], d["p99_ms"]))' "$1"; }
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
for pair in 1 2 3; do
  run plain-$pair
  "$BIN" watch s3:// --endpoint-url http://127.0.0.1:$PORT --json > /tmp/tail-$pair.out & W=$!
  sleep 0.5
  run tailed-$pair
  kill $W; wait $W 2>/dev/null || true
  echo "watcher saw $(grep -c Records /tmp/tail-$pair.out) record lines"
done
"$BIN" watch s3:// --endpoint-url http://127.0.0.1:$PORT --json > /tmp/tail-stopped.out 2>/tmp/tail-stopped.err & W=$!
sleep 0.5; kill -STOP $W
run stopped-watcher
kill -CONT $W; sleep 1; kill $W; wait $W 2>/dev/null || true
echo "stopped watcher: $(grep -c Records /tmp/tail-stopped.out) record lines; stderr: $(head -c 300 /tmp/tail-stopped.err)"
