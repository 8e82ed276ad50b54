#!/usr/bin/env bash
# The PUT cost of 100 notification configurations that match nothing, against none
# (docs/benchmarks.md): one release server, 100 persistent topics made with boto3,
# `herald bench put` alternating between the two buckets, three rounds.
#
#   scripts/bench-config-scale.sh [BIN] [seconds per run]   (default target/release/herald, 6)
set -euo pipefail
BIN="${1:-target/release/herald}"; PORT=9699
export AWS_EC2_METADATA_DISABLED=true
DATA=$(mktemp -d /tmp/hscale.XXXX)
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 "$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn 2>/tmp/scalebench.server.log &
PID=$!
trap 'kill $PID; wait $PID 2>/dev/null; rm -rf $DATA' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
python3 - $PORT <<'PY'
import sys, boto3
ep = "http://127.0.0.1:%s" % sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="benchkey", aws_secret_access_key="benchsecret123")
sns, s3 = boto3.client("sns", **kw), boto3.client("s3", **kw)
arns = [sns.create_topic(Name="t%03d" % i, Attributes={"push-endpoint": "http://127.0.0.1:1/", "persistent": "true"})["TopicArn"] for i in range(100)]
for b in ("p-none", "p-hundred"):
    s3.create_bucket(Bucket=b)
s3.put_bucket_notification_configuration(Bucket="p-hundred", NotificationConfiguration={"TopicConfigurations": [
    {"Id": "c%d" % i, "TopicArn": a, "Events": ["s3:ObjectCreated:*"],
     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "nomatch-%d/" % i}]}}} for i, a in enumerate(arns)]})
PY
COMMON=(--endpoint http://127.0.0.1:$PORT --access-key benchkey --secret-key benchsecret123 --concurrency 16 --size 1KiB --server-pid $PID --json --no-progress)
"$BIN" bench put "${COMMON[@]}" --duration 2s --bucket p-none >/dev/null
for round in 1 2 3; do
  for b in p-none p-hundred; do
    "$BIN" bench put "${COMMON[@]}" --duration ${2:-6}s --bucket $b | python3 -c "import json,sys;d=json.load(sys.stdin);print('$b', 'PUT/s %.0f p50 %.2f ms p99 %.2f ms errors %s' % (d['ops_per_sec'], d['p50_ms'], d['p99_ms'], d['errors']))"
  done
done
