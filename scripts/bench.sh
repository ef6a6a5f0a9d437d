#!/usr/bin/env bash
# Side-by-side benchmark: Python Ray (scripts/ray-baseline.sh, in a venv, inside
# `unshare -n`) and this crate (examples/microbenchmark.rs, release build), measured in
# the same run on the same machine; writes the table to BENCHMARKS.md's generated section.
#
#   scripts/bench.sh              # full run (~5 min on 2 cores)
#   BENCH_REPEATS=5 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_REPEATS="${BENCH_REPEATS:-3}"
mkdir -p target/bench
cargo build --release --example microbenchmark
scripts/ray-baseline.sh target/bench/ray.json
# Ray's worker processes outlive its driver for a while; measuring next to them would
# measure them. Wait (up to a minute) until they are gone.
for _ in $(seq 60); do
    pgrep -f 'ray::|raylet|gcs_server|default_worker' >/dev/null || break
    sleep 1
done
BENCH_REMOTE=1 "${CARGO_TARGET_DIR:-target}/release/examples/microbenchmark" > target/bench/rust.json
python3 scripts/bench_table.py target/bench/ray.json target/bench/rust.json BENCHMARKS.md
echo "bench: BENCHMARKS.md updated" >&2
