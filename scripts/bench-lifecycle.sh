#!/usr/bin/env bash
# Lifecycle expiration throughput and its cost to writers (docs/benchmarks.md
# "Lifecycle"): one release server; two buckets filled by `herald bench put`,
# one without notifications and one whose lifecycle events go to a persistent
# topic (endpoint down: events pile up durably). A rule with an Expiration Date
# in the past expires everything; `herald lifecycle process` runs the pass
# while `herald bench put` writes into a third bucket. PUT/s during the pass
# is compared with a run just before.
#
#   scripts/bench-lifecycle.sh [BIN] [fill seconds per bucket]   (default target/release/herald, 8)
set -euo pipefail
BIN="${1:-target/release/herald}"; FILL="${2:-8}"; PORT=9697
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
export PATH="$PATH:$HOME/.local/bin"
DATA=$(mktemp -d /tmp/hlc.XXXX)
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn 2>/tmp/lcbench.server.log &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf $DATA' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
EP=http://127.0.0.1:$PORT
ARN=$(aws --endpoint-url $EP sns create-topic --name lc --attributes '{"push-endpoint":"http://127.0.0.1:1/","persistent":"true"}' --query TopicArn --output text)
for b in lc-plain lc-events writes; do aws --endpoint-url $EP s3 mb s3://$b >/dev/null; done
aws --endpoint-url $EP s3api put-bucket-notification-configuration --bucket lc-events --notification-configuration "{\"TopicConfigurations\":[{\"Id\":\"lc\",\"TopicArn\":\"$ARN\",\"Events\":[\"s3:ObjectLifecycle:*\"]}]}"
COMMON=(--endpoint $EP --access-key benchkey --secret-key benchsecret123 --concurrency 16 --size 1KiB --server-pid $PID --json --no-progress)
put_rate() { python3 -c "import json,sys;d=json.load(sys.stdin);print('PUT/s %.0f p99 %.2f ms errors %s rss %s' % (d['ops_per_sec'], d['p99_ms'], d['errors'], d.get('server_rss_kb')))"; }
for b in lc-plain lc-events; do "$BIN" bench put "${COMMON[@]}" --bucket $b --duration ${FILL}s >/dev/null; done
RULE='{"Rules":[{"ID":"past","Status":"Enabled","Filter":{},"Expiration":{"Date":"2020-01-01T00:00:00Z"}}]}'
for b in lc-plain lc-events; do
  echo "== $b"
  echo -n "PUT before the pass: "; "$BIN" bench put "${COMMON[@]}" --bucket writes --duration 6s | put_rate
  aws --endpoint-url $EP s3api put-bucket-lifecycle-configuration --bucket $b --lifecycle-configuration "$RULE"
  "$BIN" bench put "${COMMON[@]}" --bucket writes --duration 6s > /tmp/lcbench.during.json &
  BENCH=$!
  START=$(date +%s.%N)
  REPORT=$("$BIN" lifecycle process --bucket $b --data-dir "$DATA")
  END=$(date +%s.%N)
  echo "$REPORT" | python3 -c "import json,sys;d=json.load(sys.stdin);e=$END-$START;print('expired %d in %.2f s: %.0f expirations/s (report %s)' % (d['current'], e, d['current']/e, json.dumps(d)))"
  wait $BENCH
  echo -n "PUT during the pass (6 s run, the pass took the time above): "; put_rate < /tmp/lcbench.during.json
done
"$BIN" topic stats lc --data-dir "$DATA" | python3 -c "import json,sys;d=json.load(sys.stdin);print('lifecycle events queued', d['entries'])"
