#!/usr/bin/env bash
# Job figures across separate network stacks: a head (10.88.0.1, no CPUs), two generic
# worker nodes (10.88.0.2-3, `ray start` without a program, 2 CPUs each) and a submitter
# (10.88.0.4), each in its own network namespace on one bridge. Needs root.
#
#   scripts/bench-jobs.sh            # release build, 5 warm runs, 3 50 MB distributions
#   BENCH_REPEATS=1 scripts/bench-jobs.sh
#
# Prints, as `name value` lines:
#   cold_submit_to_first_result_s   a new build: upload to the head, fetch by a generic
#                                   node, worker start, one task
#   warm_submit_to_first_result_s   the same build again (nothing uploaded or fetched):
#                                   driver start, a worker started, one task
#   warm_submit_to_all_nodes_s      ... and a task on every generic node
#   build_50mb_upload_s             a new 50 MB build to the head (the CLI's upload)
#   build_50mb_to_every_node_s      submit to a task having run on every generic node
#                                   (upload, both nodes fetching it, workers starting)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${BENCH_REPEATS:-5}"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    cargo build --release --features cli --bin ray --example job_bench
fi
ray="$target/release/ray"
job="$target/release/examples/job_bench"
work="$(mktemp -d)"

prefix="rjobs$$"
. scripts/netns.sh
trap 'netns_down "$prefix" 4; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
netns_up "$prefix" 4

on() { # on HOST CMD...: CMD on host HOST with a state directory of its own
    local i="$1"; shift
    mkdir -p -m 700 "$work/h$i"
    RAY_TMPDIR="$work/h$i" ip netns exec "${prefix}h$i" "$@"
}
on 1 "$ray" start --head --port 6379 --num-cpus 0 >/dev/null 2>&1
address="$(cat "$work/h1/address")"
on 2 "$ray" start --address "$address" --num-cpus 2 >/dev/null 2>&1
on 3 "$ray" start --address "$address" --num-cpus 2 >/dev/null 2>&1

# submit PROGRAM: runs it as a job from the submitter; prints "first all upload" seconds.
submit() {
    local t0 out upload first all
    t0="$(date +%s.%N)"
    out="$(on 4 "$ray" job submit --address "$address" -- "$1" 2>&1)"
    first="$(sed -n 's/^first_result_unix_s \([0-9.]*\).*/\1/p' <<<"$out")"
    all="$(sed -n 's/^all_nodes_unix_s \([0-9.]*\).*/\1/p' <<<"$out")"
    upload="$(sed -n 's/.*: uploaded [0-9]* bytes (\([0-9.]*\) s).*/\1/p' <<<"$out" | tail -1)"
    if [ -z "$first" ] || [ -z "$all" ]; then
        echo "bench-jobs: the job failed:" >&2; echo "$out" >&2; exit 1
    fi
    awk -v f="$first" -v a="$all" -v t="$t0" -v u="${upload:-0}" 'BEGIN { print f - t, a - t, u }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "bench-jobs: head 10.88.0.1, generic nodes 10.88.0.2-3, submitter 10.88.0.4; $(stat -c %s "$job") byte build, $repeats runs" >&2
read -r cold _ _ < <(submit "$job")
printf 'cold_submit_to_first_result_s %.3f\n' "$cold"
: >"$work/warm"
for _ in $(seq "$repeats"); do submit "$job" >>"$work/warm"; done
printf 'warm_submit_to_first_result_s %.3f\n' "$(cut -d' ' -f1 "$work/warm" | median)"
printf 'warm_submit_to_all_nodes_s %.3f\n' "$(cut -d' ' -f2 "$work/warm" | median)"
: >"$work/big"
# The program without its debug information, padded to 50 MB (the loader ignores bytes
# past the last section).
strip -o "$work/job-stripped" "$job"
[ "$(stat -c %s "$work/job-stripped")" -lt 52428800 ] || { echo "bench-jobs: the stripped build is over 50 MB" >&2; exit 1; }
for i in $(seq 3); do
    # A new build each time (a unique tail): uploaded and fetched afresh.
    cp "$work/job-stripped" "$work/job50-$i"
    truncate -s 50M "$work/job50-$i"
    printf 'run %s %s' "$i" "$RANDOM" >>"$work/job50-$i"
    submit "$work/job50-$i" >>"$work/big"
done
printf 'build_50mb_upload_s %.3f\n' "$(cut -d' ' -f3 "$work/big" | median)"
printf 'build_50mb_to_every_node_s %.3f\n' "$(cut -d' ' -f2 "$work/big" | median)"
on 1 "$ray" stop >/dev/null 2>&1
