#!/usr/bin/env bash
# herald agent throughput from a backlog (docs/benchmarks.md, "Agent").
#
#   scripts/bench-agent.sh PUT_SECONDS index|mirror [WORKERS]
#
# Starts a source `herald serve` (and a mirror target), builds a backlog by
# running `herald bench put` (1 KiB objects, 16-way) for PUT_SECONDS into a
# bucket whose QueueConfiguration sends every ObjectCreated event to the
# queue, waits until all events are in the queue, then starts
# `herald agent` with the one action and times it until the queue is
# empty. Prints events, seconds, changes/s and the agent's peak RSS (VmHWM).
set -euo pipefail
PUT_SECONDS=${1:-20}
ACTION=${2:-index}
WORKERS=${3:-16}
BIN=${HERALD_BIN:-$(pwd)/target/release/herald}
KEY=benchkey SECRET=benchsecret123
SRC=127.0.0.1:${SRC_PORT:-9791}
DST=127.0.0.1:${DST_PORT:-9792}
work=$(mktemp -d /tmp/herald-bench-agent.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export HERALD_ROOT_ACCESS_KEY=$KEY HERALD_ROOT_SECRET_KEY=$SECRET AWS_EC2_METADATA_DISABLED=true

serve() { # name addr
    "$BIN" serve --data-dir "$work/$1" --listen "$2" --region us-east-1 >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://$2/health" >/dev/null && return; sleep 0.1; done
    echo "herald serve $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}

# SQS JSON protocol through curl's SigV4 (cheap enough to poll with).
sqs() { # addr action json
    curl -sf --aws-sigv4 "aws:amz:us-east-1:sqs" --user "$KEY:$SECRET" \
        -H "X-Amz-Target: AmazonSQS.$2" -H "Content-Type: application/x-amz-json-1.0" \
        -d "$3" "http://$1/"
}
s3() { # addr method path [body]
    local sha
    sha=$(printf '%s' "${4:-}" | sha256sum | cut -d' ' -f1)
    curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" -X "$2" -H "x-amz-content-sha256: $sha" \
        ${4:+--data-binary "$4"} "http://$1$3" >/dev/null
}

serve src "$SRC"
serve dst "$DST"
URL=$(sqs "$SRC" CreateQueue '{"QueueName":"jibe-source-activity"}' | sed 's/.*"QueueUrl":"\([^"]*\)".*/\1/')
s3 "$SRC" PUT /photos
s3 "$DST" PUT /backup
s3 "$SRC" PUT '/photos?notification=' '<NotificationConfiguration><QueueConfiguration><Id>agent</Id><Queue>arn:aws:sqs:us-east-1:root:jibe-source-activity</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>'

"$BIN" bench put --endpoint "http://$SRC" --access-key "$KEY" --secret-key "$SECRET" --bucket photos \
    --concurrency 16 --duration "${PUT_SECONDS}s" --size 1KiB --no-progress >"$work/put.txt"

depth() { # visible + in flight
    sqs "$SRC" GetQueueAttributes "{\"QueueUrl\":\"$URL\",\"AttributeNames\":[\"All\"]}" |
        python3 -c 'import json,sys; a=json.load(sys.stdin)["Attributes"]; print(int(a["ApproximateNumberOfMessages"])+int(a["ApproximateNumberOfMessagesNotVisible"]))'
}
prev=-1
events=$(depth)
while [ "$events" != "$prev" ]; do prev=$events; sleep 2; events=$(depth); done

case "$ACTION" in
index) action='{"type": "index", "path": "index.sqlite"}' ;;
mirror) action="{\"type\": \"mirror\", \"endpoint_url\": \"http://$DST\", \"bucket\": \"backup\", \"aws_access_key_id\": \"$KEY\", \"aws_secret_access_key\": \"$SECRET\"}" ;;
*) echo "action must be index or mirror" >&2; exit 2 ;;
esac
cat >"$work/agent.json" <<JSON
{"sources": [{"name": "photos", "queue_url": "$URL", "sqs_endpoint_url": "http://$SRC",
  "aws_endpoint_url": "http://$SRC", "aws_access_key_id": "$KEY", "aws_secret_access_key": "$SECRET",
  "aws_region": "us-east-1", "workers": $WORKERS, "actions": [$action]}]}
JSON
start=$(date +%s.%N)
"$BIN" agent --config "$work/agent.json" --log-format json 2>"$work/agent.log" &
agent=$!
pids+=($agent)
left=$events
while [ "$left" -gt 0 ]; do
    sleep 1
    kill -0 "$agent" || { echo "agent died" >&2; tail "$work/agent.log" >&2; exit 1; }
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
    left=$(depth)
done
end=$(date +%s.%N)
kill -TERM "$agent"; wait "$agent" || true
applied=$(grep -c '"msg":"sync"' "$work/agent.log" || true)
python3 - "$events" "$start" "$end" "$hwm" "$applied" "$ACTION" "$WORKERS" <<'PY'
import sys
events, start, end, hwm, applied, action, workers = sys.argv[1:]
secs = float(end) - float(start)
print(f"action={action} workers={workers} events={events} sync_lines={applied} seconds={secs:.1f} "
      f"changes_per_s={int(events)/secs:.0f} agent_peak_rss_mib={int(hwm)/1024:.0f}")
PY
