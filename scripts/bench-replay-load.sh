#!/usr/bin/env bash
# Live writes while a replay runs: PUT 1 KiB (16-way, 5 s) on an idle server, then again
# while a replay of ~500,000 retained events runs on the same server (the replay of
# `herald bench notify --replay`, whose PUT phase fills the topic first).
#
#   scripts/bench-replay-load.sh [BIN] [FILL_DURATION] [REPLAY_RATE]
#   (default target/release/herald 120s, unthrottled; a rate throttles the replay: Rate=N)
set -euo pipefail
BIN=${1:-target/release/herald}
FILL=${2:-120s}
RATE=()
[ -n "${3:-}" ] && RATE=(--replay-rate "$3")
PORT=9699
DATA=$(mktemp -d /tmp/herald-bench-replay-load.XXXXXX)
export AWS_EC2_METADATA_DISABLED=true
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" \
  --listen 127.0.0.1:$PORT --log-level warn &
PID=$!
trap 'kill $PID $N 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
N=
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
C=(--endpoint http://127.0.0.1:$PORT --access-key benchkey --secret-key benchsecret123 --size 1KiB)
put() { "$BIN" bench put "${C[@]}" --concurrency 16 --duration 5s --bucket "$1" --json --no-progress |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("%s: %.0f PUT/s, p50 %.2f ms, p99 %.2f ms" % (sys.argv[1], d["ops_per_sec"], d["p50_ms"], d["p99_ms"]))' "$1"; }
put warm-up >/dev/null
put idle
"$BIN" bench notify "${C[@]}" --concurrency 32 --rate 4200 --duration "$FILL" --replay "${RATE[@]}" --drain-timeout 600s \
  --bucket replay-load --no-progress > /tmp/bench-replay-load.out 2> /tmp/bench-replay-load.err &
N=$!
until grep -q "^replaying" /tmp/bench-replay-load.err; do sleep 0.1; done
put during-replay
wait $N
grep -E "^replaying" /tmp/bench-replay-load.err
grep -iE "replay" /tmp/bench-replay-load.out | head -5
put idle-after
