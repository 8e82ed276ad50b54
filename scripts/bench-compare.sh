#!/usr/bin/env bash
# Herald against a peer (moto's server), same run, same machine: the same
# `herald bench` scenarios, one after the other, against a fresh release
# `herald serve` and against `moto_server`, then Markdown tables on stdout
# (progress on stderr). See "Herald against a peer (moto)" in
# docs/benchmarks.md.
#
# Usage: [DURATION=15] scripts/bench-compare.sh        (seconds per run)
#
# Scenarios, each with -c 16: put 1KiB, get 1KiB, mixed 1KiB, put 1MiB,
# sqs (batch 10, 1KiB), notify --topic-kind http --persistent (1KiB).
# A scenario the peer cannot run (the bench fails, or a notify run in which
# the peer acknowledged PUTs but delivered no event at all) is reported as
# "n/a (<reason>)" for the peer and the script goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true

DURATION="${DURATION:-15}"
DURATION="${DURATION%s}"
case "$DURATION" in '' | *[!0-9]*) echo "DURATION must be a number of seconds, got ${DURATION@Q}" >&2; exit 2 ;; esac
ACCESS_KEY=benchkey
SECRET_KEY=benchsecret123
log() { echo "bench-compare: $*" >&2; }

WORK="$(mktemp -d /tmp/herald-bench-compare.XXXXXX)"
HERALD_PID=
PEER_PID=
cleanup() {
    local pid
    for pid in $HERALD_PID $PEER_PID; do kill "$pid" 2>/dev/null || true; done
    for pid in $HERALD_PID $PEER_PID; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building release herald"
if ! cargo build -j2 --release -p herald >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    exit 1
fi
HERALD=target/release/herald

if ! command -v moto_server >/dev/null; then
    log "moto_server not found: pip install 'moto[server]'"
    pip install --quiet 'moto[server]' >&2
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until `curl URL` succeeds while PID is alive.
wait_for() {
    local what=$1 url=$2 pid=$3 logfile=$4
    for _ in $(seq 300); do
        curl -sf -o /dev/null "$url" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$what exited before answering:"; cat "$logfile" >&2; exit 1
        fi
        sleep 0.1
    done
    log "$what did not answer $url within 30 s:"; cat "$logfile" >&2; exit 1
}

HERALD_PORT=$(free_port)
HERALD_ENDPOINT="http://127.0.0.1:$HERALD_PORT"
mkdir "$WORK/herald-data"
HERALD_ROOT_ACCESS_KEY=$ACCESS_KEY HERALD_ROOT_SECRET_KEY=$SECRET_KEY \
    "$HERALD" serve --data-dir "$WORK/herald-data" --listen "127.0.0.1:$HERALD_PORT" --log-level warn \
    >"$WORK/herald.log" 2>&1 &
HERALD_PID=$!
wait_for herald "$HERALD_ENDPOINT/health" "$HERALD_PID" "$WORK/herald.log"

PEER_PORT=$(free_port)
PEER_ENDPOINT="http://127.0.0.1:$PEER_PORT"
moto_server -H 127.0.0.1 -p "$PEER_PORT" >"$WORK/moto.log" 2>&1 &
PEER_PID=$!
wait_for moto "$PEER_ENDPOINT/" "$PEER_PID" "$WORK/moto.log"
# moto_server may be a wrapper (e.g. a pyenv shim) that runs Python as a
# child instead of exec'ing it: --server-pid must name the process serving.
case "$(readlink "/proc/$PEER_PID/exe" 2>/dev/null)" in
    *python*) ;;
    *) child=$(pgrep -n -P "$PEER_PID" || true); [ -n "$child" ] && PEER_RSS_PID=$child ;;
esac
PEER_RSS_PID=${PEER_RSS_PID:-$PEER_PID}
MOTO_VERSION=$(python3 -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo unknown)
log "herald (pid $HERALD_PID) on $HERALD_ENDPOINT, moto $MOTO_VERSION (pid $PEER_RSS_PID) on $PEER_ENDPOINT"

# name | bench arguments (the bucket or queue is added per server)
SCENARIOS=(
    "put 1KiB|put --size 1KiB"
    "get 1KiB|get --size 1KiB"
    "mixed 1KiB|mixed --size 1KiB"
    "put 1MiB|put --size 1MiB"
    "sqs batch 10, 1KiB|sqs --batch 10 --size 1KiB"
    "notify http persistent, 1KiB|notify --topic-kind http --persistent --size 1KiB"
)
COMMANDS=()
MANIFEST="$WORK/manifest.tsv"
: >"$MANIFEST"
i=0
for entry in "${SCENARIOS[@]}"; do
    i=$((i + 1))
    name=${entry%%|*}
    read -r -a args <<<"${entry#*|}"
    slug=$(echo "${args[0]}-${args[*]: -1}" | tr 'A-Z' 'a-z')
    for server in herald moto; do
        if [ $server = herald ]; then endpoint=$HERALD_ENDPOINT pid=$HERALD_PID; else endpoint=$PEER_ENDPOINT pid=$PEER_RSS_PID; fi
        if [ "${args[0]}" = sqs ]; then where=(--queue "$server-$slug-q"); else where=(--bucket "$server-$slug"); fi
        cmd=("$HERALD" bench "${args[@]}" --json --no-progress -c 16 -d "${DURATION}s"
             --endpoint "$endpoint" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY"
             "${where[@]}" --server-pid "$pid")
        COMMANDS+=("$(printf '%q ' "${cmd[@]}")")
        out="$WORK/$i-$server.json"
        err="$WORK/$i-$server.err"
        log "$name against $server"
        rc=0
        "${cmd[@]}" >"$out" 2>"$err" || rc=$?
        if [ "$rc" -ne 0 ]; then log "  exit $rc: $(grep -v '^\s*$' "$err" | tail -n 1)"; fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$name" "$server" "$rc" "$WORK/$i-$server" >>"$MANIFEST"
    done
done

echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), Linux $(uname -r); load generator, Herald and moto share these cores."
echo "Herald $(git rev-parse --short HEAD 2>/dev/null || echo '?') (release), moto $MOTO_VERSION (\`moto_server\`), ${DURATION} s per run, $(date -u '+%Y-%m-%d %H:%M UTC')."
echo
python3 - "$MANIFEST" <<'EOF'
import json, sys

rows = {}  # index -> (name, {server: result})
for line in open(sys.argv[1]):
    idx, name, server, rc, base = line.rstrip("\n").split("\t")
    err = [l.strip() for l in open(base + ".err") if l.strip()]
    res = {"rc": int(rc)}
    if int(rc) == 0:
        try:
            res["json"] = json.load(open(base + ".json"))
        except ValueError as e:
            res["na"] = "bench printed no JSON: %s" % e
    else:
        reason = err[-1] if err else "bench exited %s without a message" % rc
        res["na"] = reason.removeprefix("herald: ")
    j = res.get("json")
    if j and j["scenario"] == "notify" and j["ops"] > 0 and j.get("events_received", 0) == 0:
        # The bench exits 0 here (the setup calls succeeded), so there is no
        # message on stderr: the reason comes from its JSON.
        res["na"] = ("0 of %d events delivered: CreateTopic and the TopicConfiguration were accepted, "
                     "but nothing was pushed to the topic's push-endpoint in %.0f s of drain"
                     % (j["ops"], j["drain_s"]))
    rows.setdefault(int(idx), (name, {}))[1][server] = res

def cell(s):
    s = s.replace("|", "\\|")
    return s if len(s) <= 220 else s[:217] + "..."

def ops(r):
    return "%.0f" % r["json"]["ops_per_sec"] if "na" not in r else "n/a (%s)" % cell(r["na"])

def lat(r):
    if "na" in r:
        return "-"
    return "%.2f / %.2f" % (r["json"]["p50_ms"], r["json"]["p99_ms"])

def errs(r):
    return str(r["json"]["errors"]) if "json" in r else "-"

def rss(r):
    kb = r.get("json", {}).get("server_rss_kb")
    return "%.0f" % (kb / 1024) if kb is not None else "-"

print("| scenario (-c 16) | Herald ops/s | moto ops/s | Herald / moto | Herald p50 / p99 ms | moto p50 / p99 ms | errors Herald / moto | RSS MiB Herald / moto |")
print("|---|---|---|---|---|---|---|---|")
for idx in sorted(rows):
    name, r = rows[idx]
    h, m = r["herald"], r["moto"]
    if "na" in h or "na" in m or m["json"]["ops_per_sec"] == 0:
        ratio = "n/a"
    else:
        ratio = "%.1f×" % (h["json"]["ops_per_sec"] / m["json"]["ops_per_sec"])
    print("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |" % (
        name, ops(h), ops(m), ratio, lat(h), lat(m), errs(h), errs(m), rss(h), rss(m)))

print()
print("sqs: ops/s = messages sent, received and deleted end to end per second; p50 / p99 = SendMessageBatch. "
      "notify: ops/s = acknowledged PUTs per second. RSS = the server's VmRSS at the end of the run "
      "(one server process serves all scenarios in turn).")
print()
print("| delivery | server | delivered | missing | duplicated | e2e p50 / p99 ms |")
print("|---|---|---|---|---|---|")
for idx in sorted(rows):
    name, r = rows[idx]
    for server in ("herald", "moto"):
        j = r[server].get("json")
        if not j or j["scenario"] not in ("notify", "sqs"):
            continue
        label = "Herald" if server == "herald" else "moto"
        if j["scenario"] == "notify":
            e2e = "%.2f / %.2f" % (j["e2e_p50_ms"], j["e2e_p99_ms"]) if j["events_received"] else "-"
            print("| %s | %s | %d events of %d PUTs | %d | %d | %s |" % (
                name, label, j["events_received"], j["ops"], j["events_missing"], j["events_duplicated"], e2e))
        else:
            print("| %s | %s | %d of %d messages deleted | %d | %d | - |" % (
                name, label, j["messages_deleted"], j["messages_sent"], j["messages_missing"], j["messages_duplicated"]))
EOF
echo
echo "Commands (the servers: \`HERALD_ROOT_ACCESS_KEY=$ACCESS_KEY HERALD_ROOT_SECRET_KEY=$SECRET_KEY $HERALD serve --data-dir <tmp> --listen 127.0.0.1:$HERALD_PORT --log-level warn\` and \`moto_server -H 127.0.0.1 -p $PEER_PORT\`):"
echo
echo '```sh'
printf '%s\n' "${COMMANDS[@]}" | sed 's/ $//'
echo '```'
