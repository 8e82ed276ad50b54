#!/usr/bin/env bash
# The GET cost of read events (docs/benchmarks.md "Read events: the cost on GET"):
# one release server; buckets with no notification configuration, with one that names
# no reads, and with s3:ObjectAccessed:Get into a persistent topic whose endpoint is
# down (events pile up durably); `herald bench get` on each, two rounds.
#
#   scripts/bench-read-events.sh [BIN] [seconds per run]   (default target/release/herald, 6)
set -euo pipefail
BIN="${1:-target/release/herald}"; PORT=9698
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
export PATH="$PATH:$HOME/.local/bin"
DATA=$(mktemp -d /tmp/hget.XXXX)
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn 2>/tmp/getbench.server.log &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf $DATA' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
EP=http://127.0.0.1:$PORT
ARN=$(aws --endpoint-url $EP sns create-topic --name reads --attributes '{"push-endpoint":"http://127.0.0.1:1/","persistent":"true"}' --query TopicArn --output text)
for b in g-none g-other g-reads; do aws --endpoint-url $EP s3 mb s3://$b >/dev/null; done
aws --endpoint-url $EP s3api put-bucket-notification-configuration --bucket g-other --notification-configuration "{\"TopicConfigurations\":[{\"Id\":\"c\",\"TopicArn\":\"$ARN\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
aws --endpoint-url $EP s3api put-bucket-notification-configuration --bucket g-reads --notification-configuration "{\"TopicConfigurations\":[{\"Id\":\"r\",\"TopicArn\":\"$ARN\",\"Events\":[\"s3:ObjectAccessed:Get\"]}]}"
COMMON=(--endpoint $EP --access-key benchkey --secret-key benchsecret123 --concurrency 16 --size 1KiB --server-pid $PID --json --no-progress --objects 200)
"$BIN" bench get "${COMMON[@]}" --bucket g-none --duration 2s >/dev/null  # warm-up
for round in 1 2; do
  for b in g-none g-other g-reads; do
    "$BIN" bench get "${COMMON[@]}" --duration ${2:-6}s --bucket $b | python3 -c "import json,sys;d=json.load(sys.stdin);print('$b', 'GET/s %.0f p50 %.2f ms p99 %.2f ms errors %s' % (d['ops_per_sec'], d['p50_ms'], d['p99_ms'], d['errors']))"
  done
done
"$BIN" topic stats reads --data-dir "$DATA" | python3 -c "import json,sys;d=json.load(sys.stdin);print('events queued', d['entries'])"
