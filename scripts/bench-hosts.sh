#!/usr/bin/env bash
# The cross-node figures of examples/microbenchmark.rs between two network stacks: two
# Linux network namespaces on one bridge (10.88.0.1 and 10.88.0.2), so every byte between
# the head and the worker node crosses a veth pair and the bridge. The head (this run's
# driver) runs in the first, the worker node and the raw QUIC receiver in the second;
# raw QUIC throughput over the same link is measured in the same run. Needs root.
#
#   scripts/bench-hosts.sh                                  # full run
#   BENCH_SCALE=0.01 BENCH_REPEATS=1 scripts/bench-hosts.sh # smoke run
#
# BENCH_SCALE and BENCH_REPEATS pass through to the benchmark; BENCH_NO_BUILD=1 skips the
# build; BENCH_ONLY=NAME,NAME measures only those figures (e.g.
# BENCH_ONLY=remote_actor_calls_sync,raw_quinn_requests_sync); BENCH_BIN=PATH runs that
# benchmark binary instead (another build, for a before-and-after run). The figures go to stderr, one per line, as the benchmark prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_REPEATS="${BENCH_REPEATS:-3}"
[ -n "${BENCH_SCALE:-}" ] && export BENCH_SCALE

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
bin="${BENCH_BIN:-$target/release/examples/microbenchmark}"
if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ -z "${BENCH_BIN:-}" ]; then
    cargo build --release --example microbenchmark
fi

prefix="rbench$$"
h1="${prefix}h1" h2="${prefix}h2" h3="${prefix}h3"
. scripts/netns.sh
trap 'netns_down "$prefix" 3' EXIT
trap 'exit 130' INT TERM
netns_up "$prefix" 3

echo "bench-hosts: head in $h1 (10.88.0.1), worker node and raw QUIC receiver in $h2 (10.88.0.2), second worker node in $h3 (10.88.0.3); BENCH_SCALE=${BENCH_SCALE:-1} BENCH_REPEATS=$BENCH_REPEATS" >&2
BENCH_REMOTE=only BENCH_WORKER_NETNS="$h2" BENCH_WORKER2_NETNS="$h3" ip netns exec "$h1" "$bin"
