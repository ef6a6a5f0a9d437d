#!/usr/bin/env bash
# Compiled graphs side by side: Python Ray's (benches/python/ray_dag_bench.py, in the
# bench venv, inside `unshare -n`) and ours (examples/dag_bench.rs, release build),
# measured in the same run; prints the Markdown table of BENCHMARKS.md's "Compiled
# graphs" section.
#
#   scripts/dag-bench.sh                         # full run (~3 min on 2 cores)
#   BENCH_SCALE=0.02 BENCH_REPEATS=1 scripts/dag-bench.sh   # smoke run
#
# Needs the venv scripts/ray-baseline.sh creates ($RAY_VENV, default bench-venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${RAY_VENV:-bench-venv}/bin/python"
[[ -x "$py" ]] || { echo "dag-bench: no $py (run scripts/ray-baseline.sh once)" >&2; exit 1; }
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target/bench"
cargo build --release --example dag_bench
unshare -n bash -c "ip link set lo up && '$py' benches/python/ray_dag_bench.py" \
    > "$target/bench/ray_dag.json"
# Ray's worker processes outlive its driver for a while: wait until they are gone.
for _ in $(seq 60); do
    pgrep -f 'ray::|raylet|gcs_server|default_worker' >/dev/null || break
    sleep 1
done
"$target/release/examples/dag_bench" > "$target/bench/rust_dag.json"
python3 - "$target/bench/ray_dag.json" "$target/bench/rust_dag.json" <<'PY'
import json, sys, datetime, platform
ray, ours = (json.load(open(p)) for p in sys.argv[1:3])
rows = [
    ("1-actor chain, execute + get", "dag_1_actor_us", "classic_1_actor_us"),
    ("3-actor chain, execute + get", "dag_3_actor_us", "classic_3_actor_us"),
    ("3-actor chain, 10 in flight (per execution)", "dag_3_actor_pipelined_us", None),
    ("3-actor chain, one loop thread per actor", "dag_3_actor_thread_each_us", None),
    ("across 2 node processes: 1-actor chain", "remote_dag_1_actor_us", "remote_classic_1_actor_us"),
    ("across 2 node processes: 3-actor chain", "remote_dag_3_actor_us", "remote_classic_3_actor_us"),
]
def fmt(v):
    return "—" if v is None else (v if isinstance(v, str) else f"{v:,.1f}")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Measured {now} on {platform.node()}, Python Ray {ray.get('ray_version')}; µs per execution (median of `BENCH_REPEATS`), same run.\n")
print("| figure | Python Ray compiled | Python Ray classic calls | ray-rs compiled | ray-rs classic calls | compiled vs Ray's compiled |")
print("|---|---:|---:|---:|---:|---:|")
for name, dag, classic in rows:
    rd, ours_d = ray.get(dag), ours.get(dag)
    rc = ray.get(classic) if classic else None
    if dag.startswith("remote_"):
        # Python Ray here runs one node; its figures are not comparable across nodes.
        rd, rc = None, None
    oc = ours.get(classic) if classic else None
    ratio = f"{rd / ours_d:,.0f}× faster" if isinstance(rd, float) and ours_d else "—"
    if rd is None and isinstance(oc, float) and ours_d:
        ratio = f"{oc / ours_d:,.2f}× our classic calls"
    print(f"| {name} | {fmt(rd)} | {fmt(rc)} | {fmt(ours_d)} | {fmt(oc)} | {ratio} |")
PY
