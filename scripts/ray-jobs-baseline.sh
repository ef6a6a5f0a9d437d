#!/usr/bin/env bash
# Python Ray's counterpart of scripts/bench-jobs.sh's warm figure: `ray job submit` to a
# running single-node Ray cluster, timed from the submit to the job's first task result
# (the job is a Python script: nothing is uploaded). Ray runs inside `unshare -n` with
# only loopback up (docs/machine-limits.md). Uses bench-venv/ (scripts/ray-baseline.sh
# makes it) with `ray[default]`, which job submission needs; installs it when missing.
#
#   scripts/ray-jobs-baseline.sh          # 5 runs; BENCH_REPEATS=N for another count
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/bench-venv"
if ! "$venv/bin/python" -c 'import ray.dashboard.modules.job' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'ray[default]==2.60.*' || "$venv/bin/pip" install --quiet 'ray[default]'
fi
repeats="${BENCH_REPEATS:-5}"
export RAY_USAGE_STATS_ENABLED=0 PATH="$venv/bin:$PATH"
exec unshare -n bash -s "$repeats" <<'INNER'
set -euo pipefail
ip link set lo up
job="$(mktemp -d)"
cat >"$job/first.py" <<'PY'
import time, ray
ray.init()
@ray.remote
def here():
    return 1
ray.get(here.remote())
print("first_result_unix_s %.6f" % time.time(), flush=True)
PY
ray start --head --num-cpus 2 --include-dashboard=true --dashboard-host 127.0.0.1 >/dev/null 2>&1
trap 'ray stop --force >/dev/null 2>&1 || true; rm -rf "$job"' EXIT
# Wait for the dashboard's job API.
for _ in $(seq 100); do curl -sf http://127.0.0.1:8265/api/version >/dev/null 2>&1 && break; sleep 0.2; done
: >"$job/times"
for i in $(seq $(($1 + 1))); do
    t0="$(date +%s.%N)"
    out="$(ray job submit --address http://127.0.0.1:8265 --working-dir "$job" -- python first.py 2>&1)"
    first="$(sed -n 's/^first_result_unix_s \([0-9.]*\).*/\1/p' <<<"$out")"
    [ -n "$first" ] || { echo "$out" >&2; exit 1; }
    # The first run uploads the working directory; the rest find it (warm).
    [ "$i" -gt 1 ] && awk -v f="$first" -v t="$t0" 'BEGIN { print f - t }' >>"$job/times"
done
printf 'ray_warm_submit_to_first_result_s %.3f\n' "$(sort -g "$job/times" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
INNER
