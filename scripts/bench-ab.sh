#!/usr/bin/env bash
# Two Herald binaries, same scenarios, alternating runs on this machine:
# the before/after of a change (e.g. the hardening issue: limits, timeouts,
# the outbound policy, the access decision on every request).
#
#   scripts/bench-ab.sh BIN_A BIN_B [seconds per run] [rounds]     (default 10 s, 3 rounds)
#
# Build the two binaries first, e.g. with a worktree of the older commit:
#   git worktree add /tmp/base <commit> && (cd /tmp/base && cargo build --release -j2 -p herald)
# Each run gets a fresh server and data dir; scenarios: PUT and GET of 1 KiB
# objects at 16-way, and PUT 1 KiB with a persistent HTTP topic (notify).
set -euo pipefail
A="$1"
B="$2"
DURATION="${3:-10}s"
ROUNDS="${4:-3}"
PORT=9692
export AWS_EC2_METADATA_DISABLED=true

run() { # binary scenario...
    local bin="$1"
    shift
    local data
    data="$(mktemp -d /tmp/herald-bench-ab.XXXXXX)"
    HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
        "$bin" serve --data-dir "$data" --listen "127.0.0.1:$PORT" --log-level warn &
    local pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
    "$bin" bench "$@" --endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123 \
        --concurrency 16 --duration "$DURATION" --size 1KiB --server-pid "$pid" --json
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}

echo "machine: $(nproc) cores, $(uname -r); A=$A B=$B; $ROUNDS rounds of $DURATION, alternating"
printf '| round | scenario | binary | ops/s | p50 ms | p99 ms | errors | RSS MiB |\n|---|---|---|---|---|---|---|---|\n'
for round in $(seq "$ROUNDS"); do
    for scenario in "put" "get" "notify --topic-kind http --persistent"; do
        for which in A B; do
            bin=$A
            [ "$which" = B ] && bin=$B
            # shellcheck disable=SC2086
            run "$bin" $scenario |
                python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("| %s | %s | %s | %.0f | %.2f | %.2f | %d | %.0f |" % (sys.argv[1], sys.argv[2], sys.argv[3], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"], r.get("server_rss_kb", 0)/1024))' \
                    "$round" "${scenario%% *}" "$which"
        done
    done
done
