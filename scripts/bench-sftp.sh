#!/usr/bin/env bash
# Reproduces the SFTP figure of docs/benchmarks.md: download throughput of
# one 100 MiB object with the OpenSSH `sftp` client from a fresh release
# build of `herald serve --sftp-listen`, next to an S3 GET of the same
# object with curl (single stream both). Usage: scripts/bench-sftp.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SFTP_PORT=$(free_port)
DATA="$(mktemp -d /tmp/herald-bench.XXXXXX)"
WORK="$(mktemp -d /tmp/herald-bench-sftp.XXXXXX)"
cargo build -j2 --release -p herald >/dev/null
HERALD=target/release/herald
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
HERALD_ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID HERALD_ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
    --sftp-listen "127.0.0.1:$SFTP_PORT" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
kill -0 $PID

ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
"$HERALD" user add-key root "$WORK/key.pub" --data-dir "$DATA" >/dev/null
head -c $((100 * 1024 * 1024)) /dev/urandom >"$WORK/obj"
S3=(aws --endpoint-url "http://127.0.0.1:$PORT")
"${S3[@]}" s3 mb s3://bench-sftp >/dev/null
"${S3[@]}" s3 cp "$WORK/obj" s3://bench-sftp/main_stream/obj.bin >/dev/null
echo "get /bench-sftp/main_stream/obj.bin $WORK/got" >"$WORK/cmds"
URL=$("${S3[@]}" s3 presign s3://bench-sftp/main_stream/obj.bin)

mbps() { python3 -c "import sys; print('%.0f' % (100 * 1.048576 / float(sys.argv[1])))" "$1"; }
echo "machine: $(nproc) cores, $(uname -r); $(ssh -V 2>&1)"
for run in $(seq "$RUNS"); do
    rm -f "$WORK/got"
    start=$(date +%s.%N)
    sftp -q -b "$WORK/cmds" -F /dev/null -i "$WORK/key" -o IdentitiesOnly=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -P "$SFTP_PORT" root@127.0.0.1 >/dev/null
    sftp_s=$(python3 -c "import sys,time; print(time.time() - float(sys.argv[1]))" "$start")
    cmp "$WORK/obj" "$WORK/got"
    rm -f "$WORK/got"
    start=$(date +%s.%N)
    curl -sf -o "$WORK/got" "$URL"
    get_s=$(python3 -c "import sys,time; print(time.time() - float(sys.argv[1]))" "$start")
    cmp "$WORK/obj" "$WORK/got"
    echo "run $run: sftp get 100 MiB $(printf '%.2f' "$sftp_s") s = $(mbps "$sftp_s") MB/s; S3 GET (curl) $(printf '%.2f' "$get_s") s = $(mbps "$get_s") MB/s"
done
echo "server RSS: $(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
