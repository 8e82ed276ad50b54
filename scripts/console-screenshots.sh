#!/usr/bin/env bash
# Makes docs/console/*.png: a server sampling every 5 s, a user (alice)
# whose bucket "orders" publishes to a webhook topic and to one whose
# endpoint is down, 90 s of uploads at a varying rate (so the overview has
# a history), then the console's browser test with SCREENSHOTS set.
#
#   scripts/console-screenshots.sh [path/to/herald] [seconds of load]
#
# Needs what the browser test needs (chromium, node, playwright-core in
# crates/herald/tests/console/node_modules) and boto3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/herald}
LOAD_SECS=${2:-90}
PORT=9790
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; cp "$DIR/log" /tmp/console-screenshots-server.log 2>/dev/null; rm -rf "$DIR"' EXIT
export AWS_EC2_METADATA_DISABLED=true

HERALD_ROOT_ACCESS_KEY=AKSHOTROOT HERALD_ROOT_SECRET_KEY=shot-root-secret-shot-root-secret \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR/data" --console-sample-secs 5 > "$DIR/log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.2; done
"$BIN" user create alice --access-key AKSHOTALICE --secret-key alice-secret-alice-secret-alice --data-dir "$DIR/data" >/dev/null
"$BIN" user create bob --access-key AKSHOTBOB --secret-key bob-secret-bob-secret-bob-secret --data-dir "$DIR/data" >/dev/null

python3 - "$PORT" "$LOAD_SECS" <<'EOF'
import http.server, math, sys, threading, time
import boto3
port, secs = int(sys.argv[1]), int(sys.argv[2])

class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=hook.serve_forever, daemon=True).start()

kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
          aws_access_key_id="AKSHOTALICE", aws_secret_access_key="alice-secret-alice-secret-alice")
s3, sns = boto3.client("s3", **kw), boto3.client("sns", **kw)
s3.create_bucket(Bucket="orders")
ok = sns.create_topic(Name="orders-index", Attributes={
    "push-endpoint": f"http://127.0.0.1:{hook.server_address[1]}/events", "persistent": "true"})["TopicArn"]
down = sns.create_topic(Name="orders-audit", Attributes={
    "push-endpoint": "http://127.0.0.1:9/audit", "persistent": "true", "max_retries": "3"})["TopicArn"]
s3.put_bucket_notification_configuration(Bucket="orders", NotificationConfiguration={"TopicConfigurations": [
    {"Id": "index", "TopicArn": ok, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]},
    {"Id": "audit", "TopicArn": down, "Events": ["s3:ObjectRemoved:*"],
     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "2026/"}]}}}]})
start, n = time.time(), 0
while time.time() - start < secs:
    t = time.time() - start
    rate = 8 + 7 * math.sin(t / 12)
    key = f"2026/12/order-{n:05d}.json"
    s3.put_object(Bucket="orders", Key=key, Body=b'{"total": 12.5}', ContentType="application/json")
    if n % 5 == 0:
        s3.delete_object(Bucket="orders", Key=key)
    n += 1
    time.sleep(1 / rate)
print(f"{n} uploads in {secs} s")
EOF

mkdir -p docs/console
(cd crates/herald/tests/console && HERALD_URL=http://127.0.0.1:$PORT \
    ALICE_KEY=AKSHOTALICE ALICE_SECRET=alice-secret-alice-secret-alice \
    BOB_KEY=AKSHOTBOB BOB_SECRET=bob-secret-bob-secret-bob-secret \
    SCREENSHOTS="$PWD/../../../../docs/console" node console.mjs)
ls -l docs/console
