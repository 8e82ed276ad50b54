#!/usr/bin/env bash
# The cost of a bucket policy on the hot path: PUT 1 KiB at 16-way into a
# bucket without a policy and into one with a 20-statement policy (which
# every request evaluates, the owner's too, for its explicit denies), in
# alternating runs against one fresh release `herald serve`.
#
#   scripts/bench-policy.sh [seconds per run] [rounds]     (default 10 s, 3 rounds)
#
# HERALD=path/to/herald uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
DURATION="${1:-10}s"
ROUNDS="${2:-3}"
PORT=9691
DATA="$(mktemp -d /tmp/herald-bench-policy.XXXXXX)"
if [ -z "${HERALD:-}" ]; then
    cargo build -j2 --release -p herald >/dev/null
    HERALD=target/release/herald
fi
HERALD_ROOT_ACCESS_KEY=benchkey HERALD_ROOT_SECRET_KEY=benchsecret123 \
    "$HERALD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --log-level warn &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "http://127.0.0.1:$PORT" "$@"; }
aws s3api create-bucket --bucket bench-nopolicy >/dev/null
aws s3api create-bucket --bucket bench-policy >/dev/null
# 20 statements of the kinds real policies have: grants to named users on
# prefixes, a public-read prefix, listing with s3:prefix, and denies with
# conditions (transport, network, a date).
python3 - "$DATA/policy.json" <<'EOF'
import json, sys
b = "bench-policy"
st = []
for i in range(12):
    st.append({"Sid": f"User{i}", "Effect": "Allow",
               "Principal": {"AWS": f"arn:aws:iam::user{i}:user/user{i}"},
               "Action": ["s3:GetObject", "s3:PutObject"],
               "Resource": f"arn:aws:s3:::{b}/team{i}/*"})
st.append({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
           "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/public/*"})
for i in range(3):
    st.append({"Sid": f"List{i}", "Effect": "Allow",
               "Principal": {"AWS": f"arn:aws:iam:::user/lister{i}"}, "Action": "s3:ListBucket",
               "Resource": f"arn:aws:s3:::{b}",
               "Condition": {"StringLike": {"s3:prefix": [f"team{i}/*"]}}})
st.append({"Sid": "DenyOtherNets", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
           "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"],
           "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16"]}}})
st.append({"Sid": "DenyLocked", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
           "Resource": f"arn:aws:s3:::{b}/locked/*"})
st.append({"Sid": "DenyAfter", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
           "Resource": f"arn:aws:s3:::{b}/archive/*",
           "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}})
st.append({"Sid": "DenyTls", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::user0:user/user0"},
           "Action": "s3:*", "Resource": f"arn:aws:s3:::{b}/*",
           "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
assert len(st) == 20
json.dump({"Version": "2012-10-17", "Statement": st}, open(sys.argv[1], "w"))
EOF
aws s3api put-bucket-policy --bucket bench-policy --policy "file://$DATA/policy.json"

COMMON=(--endpoint "http://127.0.0.1:$PORT" --access-key benchkey --secret-key benchsecret123
        --concurrency 16 --duration "$DURATION" --size 1KiB --server-pid "$PID" --json)
echo "machine: $(nproc) cores, $(uname -r); $ROUNDS rounds of $DURATION each, alternating"
printf '| round | bucket | ops/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n'
for round in $(seq "$ROUNDS"); do
    for bucket in bench-nopolicy bench-policy; do
        "$HERALD" bench put "${COMMON[@]}" --bucket "$bucket" |
            python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("| %s | %s | %.0f | %.2f | %.2f | %d |" % (sys.argv[1], sys.argv[2], r["ops_per_sec"], r["p50_ms"], r["p99_ms"], r["errors"]))' "$round" "$bucket"
    done
done
