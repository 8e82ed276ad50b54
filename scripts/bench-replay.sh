#!/usr/bin/env bash
# Replay throughput: PUT 1 KiB objects on a bucket notifying a persistent HTTP topic with a
# retention (herald bench notify --replay) until about a million events are retained and
# delivered, then ReplayTopic of all of them, timed until the bench's receiver got every one
# a second time.
#
#   scripts/bench-replay.sh [BIN] [RATE] [DURATION]   (default target/release/herald 4200 250s)
set -euo pipefail
BIN=${1:-target/release/herald}
RATE=${2:-4200}
DUR=${3:-250s}
PORT=9696
DATA=$(mktemp -d /tmp/herald-bench-replay.XXXXXX)
export AWS_EC2_METADATA_DISABLED=true
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" \
  --listen 127.0.0.1:$PORT --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
"$BIN" bench notify --endpoint http://127.0.0.1:$PORT --access-key benchkey --secret-key benchsecret123 \
  --concurrency 32 --size 1KiB --rate "$RATE" --duration "$DUR" --replay --drain-timeout 600s \
  --bucket replay-bench --server-pid $PID --json --no-progress > /tmp/bench-replay.json
python3 - <<'PY'
import json
d = json.load(open("/tmp/bench-replay.json"))
p = d["params"]
print("PUT %.0f ops/s, %d events delivered live (missing %s, duplicated %s)" % (
    d["ops_per_sec"], d.get("events_received", 0), d.get("events_missing"), d.get("events_duplicated")))
print("replay: %d events in %.1f s = %.0f events/s; server peak RSS %.0f MiB" % (
    p["replay_events"], p["replay_seconds"], p["replay_events_per_sec"], (d.get("server_hwm_kb") or 0) / 1024))
PY
