#!/usr/bin/env bash
# Runs one fuzz target for a while and reports executions and findings.
#
#   scripts/fuzz.sh TARGET SECONDS      e.g. scripts/fuzz.sh sqs_query 600
#   scripts/fuzz.sh list                the targets
#
# Installs cargo-fuzz if it is missing and uses the nightly toolchain
# (libFuzzer needs it). Targets are in fuzz/fuzz_targets; the corpus grows
# in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET) and crashes land in
# fuzz/artifacts/TARGET; neither is committed. Built without a sanitizer:
# the code under test is safe Rust, so ASan would only slow the build and
# the runs. Exits 1 when the run found something.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if [ "${1:-}" = list ] || [ $# -lt 1 ]; then
    ls fuzz_targets | grep -v '^common\.rs$' | sed 's/\.rs$//'
    [ $# -ge 1 ] || { echo "usage: scripts/fuzz.sh TARGET SECONDS" >&2; exit 2; }
    exit 0
fi
target=$1
seconds=${2:-60}
[ -f "fuzz_targets/$target.rs" ] || { echo "no fuzz target $target (scripts/fuzz.sh list)" >&2; exit 2; }

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal

corpus=corpus/$target
artifacts=artifacts/$target
mkdir -p "$corpus" "$artifacts"
if [ -d "seeds/$target" ]; then
    cp -n "seeds/$target"/* "$corpus"/ 2>/dev/null || true
fi
before=$(find "$artifacts" -type f | wc -l)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# -max_len: big enough for deep or repeated structures (the parsers' own
# limits are far below it); -timeout: one input taking 10 s is a finding.
set +e
cargo +nightly fuzz run --sanitizer none "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
status=$?
set -e

execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
if [ -z "$execs" ]; then
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
fi
after=$(find "$artifacts" -type f | wc -l)
found=$((after - before))
echo "target:      $target"
echo "seconds:     $seconds"
echo "executions:  ${execs:-0}"
echo "corpus:      $(find "$corpus" -type f | wc -l) inputs"
echo "findings:    $found (in fuzz/$artifacts)"
if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20
    exit 1
fi
