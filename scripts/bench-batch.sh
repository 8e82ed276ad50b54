#!/usr/bin/env bash
# Reproduces the batch-file figures of docs/benchmarks.md:
#  1. PUT 1 KiB at 16-way on a bucket without notification, with a
#     persistent topic that only queues, and on buckets whose ObjectCreated
#     events feed a batch topic (plain NDJSON, gzip; files at least every
#     second); after each load, how long until every event is in a file;
#  2. the batch writer alone: a backlog built while the batch bucket is
#     missing, then kill -9 and restart, timed until every event is written.
# Usage: scripts/bench-batch.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-15}s"
PORT=9693
DATA="$(mktemp -d /tmp/herald-bench-batch.XXXXXX)"
cargo build -j2 --release -p herald >/dev/null 2>&1
HERALD=target/release/herald
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
E=(--endpoint-url "http://127.0.0.1:$PORT")
PID=
start() {
    HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
        "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-format json \
        --log-level warn,herald::serve=info,herald_server::notify::batch=debug 2>>"$DATA.log" &
    PID=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.1; done
    echo "herald did not start" >&2
    exit 1
}
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
now() { date +%s.%N; }
entries() { "$HERALD" topic stats "$1" --user root --data-dir "$DATA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])'; }
# Seconds until topic $1 has no event waiting for a file.
drain() {
    local t0
    t0=$(now)
    while [ "$(entries "$1")" != 0 ]; do sleep 0.05; done
    python3 -c "print('%.2f' % ($(now) - $t0))"
}
written() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v t="topic=\"$1\"" '/^pubsub_push_ok\{/ && index($0, t) {s += $NF} END {print s + 0}'; }
files() { aws "${E[@]}" s3 ls --recursive "s3://$1/$2/" | wc -l; }
batch_topic() { # name bucket compression max-seconds
    aws "${E[@]}" sns create-topic --name "$1" \
        --attributes "push-endpoint=batch://$2/$1/,batch-compression=$3,batch-max-seconds=$4" >/dev/null
}
feed() { # source-bucket topic
    aws "${E[@]}" s3api create-bucket --bucket "$1" >/dev/null
    aws "${E[@]}" s3api put-bucket-notification-configuration --bucket "$1" --notification-configuration \
        "{\"TopicConfigurations\":[{\"Id\":\"f\",\"TopicArn\":\"arn:aws:sns:us-east-1:root:$2\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
}
COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --size 1KiB --json --no-progress)
put() { "$HERALD" bench put "${COMMON[@]}" --server-pid "$PID" --duration "$DURATION" --bucket "$1"; }
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print("%s %.2f %.2f %d" % (int(r["ops_per_sec"]), r["p50_ms"], r["p99_ms"], r["errors"]))'; }

start
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
aws "${E[@]}" s3api create-bucket --bucket files >/dev/null
for c in none gzip; do batch_topic "batch-$c" files "$c" 1; feed "src-$c" "batch-$c"; done
echo "| scenario | PUT ops/s | PUT p50 ms | PUT p99 ms | errors | events in files | files | drain after load s |"
echo "|---|---|---|---|---|---|---|---|"
aws "${E[@]}" s3api create-bucket --bucket plain >/dev/null
# For scale: a persistent topic whose endpoint is down only queues events
# (the durability a batch topic also pays).
aws "${E[@]}" sns create-topic --name queued \
    --attributes push-endpoint=http://127.0.0.1:1/x,persistent=true,retry_sleep_duration=3600 >/dev/null
feed src-queued queued
read -r ops p50 p99 err < <(put plain | field)
echo "| no notification | $ops | $p50 | $p99 | $err | - | - | - |"
read -r ops p50 p99 err < <(put src-queued | field)
echo "| persistent topic, endpoint down (events only queued) | $ops | $p50 | $p99 | $err | - | - | - |"
for c in none gzip; do
    read -r ops p50 p99 err < <(put "src-$c" | field)
    d=$(drain "batch-$c")
    echo "| batch topic, compression=$c | $ops | $p50 | $p99 | $err | $(written "batch-$c") | $(files files "batch-$c") | $d |"
done
read -r ops p50 p99 err < <(put plain | field)
echo "| no notification (again) | $ops | $p50 | $p99 | $err | - | - | - |"

# The writer alone: events pile up while the batch bucket is missing, then
# a crash and a restart, which writes the whole backlog at once.
echo
echo "| writer alone (backlog written at restart) | events | files | seconds | events/s |"
echo "|---|---|---|---|---|"
for c in none gzip; do
    batch_topic "backlog-$c" "later-$c" "$c" 3600
    feed "src-backlog-$c" "backlog-$c"
    put "src-backlog-$c" >/dev/null
    n=$(entries "backlog-$c")
    aws "${E[@]}" s3api create-bucket --bucket "later-$c" >/dev/null
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true
    : >"$DATA.log"
    start
    while [ "$(entries "backlog-$c")" != 0 ]; do sleep 0.2; done
    # From "herald listening" to the last file written, per the server's log.
    s=$(python3 - "$DATA.log" "backlog-$c" <<'PY'
import datetime, json, sys
ts = lambda l: datetime.datetime.fromisoformat(l["timestamp"].replace("Z", "+00:00")).timestamp()
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
start = next(ts(l) for l in lines if l["fields"].get("message") == "herald listening")
end = max(ts(l) for l in lines if l["fields"].get("message") == "batch file written" and l["fields"].get("topic") == sys.argv[2])
print("%.2f" % (end - start))
PY
)
    echo "| compression=$c | $n | $(files "later-$c" "backlog-$c") | $s | $(python3 -c "print(int($n / $s))") |"
done
