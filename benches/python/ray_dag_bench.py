"""Python Ray's compiled graphs on this machine: per-execution latency of a 1-actor and a
3-actor chain, compiled (`ray.dag.InputNode`, `experimental_compile()`) and as classic
actor calls, printed as one JSON object on stdout. The counterpart of
`examples/dag_bench.rs` (same keys, same definitions):

  dag_1_actor_us        execute + get, one at a time, through a compiled 1-actor chain
  dag_3_actor_us        the same through a compiled 3-actor chain
  dag_3_actor_pipelined_us
                        3-actor chain, up to 10 executions in flight: elapsed / executions
  classic_1_actor_us    a.run.remote(x) + ray.get, one at a time
  classic_3_actor_us    c.run.remote(b.run.remote(a.run.remote(x))) + ray.get

Each figure is warmed up, then measured BENCH_REPEATS times (default 5); the median is
printed. BENCH_SCALE (default 1.0) scales the counts down for a smoke run.

Run it inside a private network namespace (Ray must not bind the external address here):
    unshare -n bash -c 'ip link set lo up && bench-venv/bin/python benches/python/ray_dag_bench.py'
"""

import json
import os
import statistics
import sys
import time

import ray
from ray.dag import InputNode

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def n(full):
    return max(1, int(full * SCALE))


def median_us(run, k):
    """`run(k)` once to warm up, then REPEATS times; microseconds per operation."""
    run(max(1, k // 10))
    samples = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        run(k)
        samples.append((time.perf_counter() - t) / k * 1e6)
    return statistics.median(samples)


@ray.remote
class Stage:
    def run(self, x):
        return x + 1


def compiled(stages):
    with InputNode() as inp:
        node = inp
        for s in stages:
            node = s.run.bind(node)
    return node.experimental_compile()


def main():
    ray.init(num_cpus=2)
    out = {"ray_version": ray.__version__}
    a, b, c = Stage.remote(), Stage.remote(), Stage.remote()
    ray.get([a.run.remote(0), b.run.remote(0), c.run.remote(0)])

    def classic(stages):
        def run(k):
            for i in range(k):
                r = i
                for s in stages:
                    r = s.run.remote(r)
                assert ray.get(r) == i + len(stages)
        return run

    out["classic_1_actor_us"] = median_us(classic([a]), n(2000))
    log("classic 1", out["classic_1_actor_us"])
    out["classic_3_actor_us"] = median_us(classic([a, b, c]), n(1000))
    log("classic 3", out["classic_3_actor_us"])

    for name, stages, k in (("dag_1_actor_us", [a], n(10000)), ("dag_3_actor_us", [a, b, c], n(5000))):
        try:
            dag = compiled(stages)
        except Exception as e:  # record exactly what happened
            out[name] = f"error: {type(e).__name__}: {e}"
            log(name, out[name])
            continue

        def run(k, dag=dag, depth=len(stages)):
            for i in range(k):
                assert ray.get(dag.execute(i)) == i + depth

        def pipelined(k, dag=dag, depth=len(stages)):
            refs = []
            for i in range(k):
                refs.append(dag.execute(i))
                if len(refs) == 10:
                    assert ray.get(refs.pop(0)) == i - 9 + depth
            for r in refs:
                ray.get(r)

        try:
            out[name] = median_us(run, k)
            if depth_of(name) == 3:
                out["dag_3_actor_pipelined_us"] = median_us(pipelined, k)
        except Exception as e:
            out[name] = f"error: {type(e).__name__}: {e}"
        log(name, out[name])
        dag.teardown()
    ray.shutdown()
    print(json.dumps(out))


def depth_of(name):
    return 3 if "3_actor" in name else 1


if __name__ == "__main__":
    main()
