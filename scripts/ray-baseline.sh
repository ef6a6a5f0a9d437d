#!/usr/bin/env bash
# Measures Python Ray on this machine: runs benches/python/ray_microbenchmark.py (the
# counterpart of examples/microbenchmark.rs) and writes its JSON figures to $1
# (default target/bench/ray.json).
#
#   scripts/ray-baseline.sh [out.json]
#   BENCH_SCALE=0.05 BENCH_REPEATS=1 scripts/ray-baseline.sh /tmp/ray-smoke.json   # smoke run
#
# Creates bench-venv/ (git-ignored) with ray (2.60.* if PyPI has it) and numpy when missing.
# Ray runs inside `unshare -n` with only loopback up: it must not bind the machine's
# external address (see docs/machine-limits.md). Needs root (or user namespaces) for unshare.
set -euo pipefail

die() { echo "ray-baseline: $*" >&2; exit 1; }

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-target/bench/ray.json}"
venv="$root/bench-venv"
py="$venv/bin/python"
bench="$root/benches/python/ray_microbenchmark.py"

if [[ ! -x "$py" ]] || ! "$py" -c 'import ray, numpy' 2>/dev/null; then
    echo "ray-baseline: creating $venv" >&2
    python3 -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
    "$py" -m pip install --quiet --upgrade pip || die "pip upgrade failed"
    if "$py" -m pip index versions ray 2>/dev/null | grep -qE 'Available versions:.*\b2\.60\.'; then
        ray_req='ray==2.60.*'
    else
        ray_req='ray'
        echo "ray-baseline: ray 2.60 not found on PyPI; installing the newest ray" >&2
    fi
    "$py" -m pip install --quiet "$ray_req" numpy || die "pip install $ray_req numpy failed"
fi
echo "ray-baseline: using ray $("$py" -c 'import ray; print(ray.__version__)')," \
     "numpy $("$py" -c 'import numpy; print(numpy.__version__)')" >&2

mkdir -p "$(dirname "$out")"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
export RAY_USAGE_STATS_ENABLED=0
# $0/$1 inside the inner shell are the python and the script.
unshare -n bash -c 'ip link set lo up && exec "$0" "$1"' "$py" "$bench" >"$tmp" \
    || die "benchmark failed (exit $?); see the log above"
"$py" -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp" 2>/dev/null \
    || die "benchmark printed no valid JSON on stdout: $(head -c 300 "$tmp")"
cp "$tmp" "$out"
echo "ray-baseline: wrote $out" >&2
cat "$out"
