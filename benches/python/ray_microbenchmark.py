"""Python Ray's microbenchmark figures on this machine, as one JSON object on stdout.

The counterpart of `examples/microbenchmark.rs`: same keys, same definitions (those of
Ray's own `ray microbenchmark`), all with `ray.init(num_cpus=2)`:

  ray_init_s             seconds for ray.init in this process (measured first)
  tasks_sync             tasks/s: submit one trivial task, ray.get it, repeat (~2 s)
  tasks_async_10k        tasks/s: submit 10,000 trivial tasks, then ray.get all
  actor_calls_sync       calls/s: one actor, call + get, repeat (~2 s)
  actor_calls_async_10k  calls/s: 10,000 calls to one actor, then get all
  multi_client_tasks_async  tasks/s: 4 actors (num_cpus=0) each submit 10,000 trivial
                         tasks and get them all (Ray's "multi client tasks async")
  n_n_actor_calls_async  calls/s: 4 caller tasks each make 5,000 calls spread round-robin
                         over 4 actors (num_cpus=0) and get them all (Ray's "n:n actor
                         calls async", which uses cpu_count() // 2 actors; fixed at 4 here)
  actor_create_100       actors/s: create 100 actors, get one call from each
  put_small / get_small  ops/s of ray.put(small int) / ray.get of a small object (~2 s)
  put_1gib / get_1gib    GB/s (1e9 bytes) of ray.put (back-to-back, ~2 s) / ray.get
                         (zero-copy) of a 1 GiB uint8 array, already allocated and touched
  wait_1k                waits/s: ray.wait on 1,000 ready refs, num_returns=1000 (~2 s)
  chain_1000             seconds for a chain of 1,000 dependent tasks (lower is better)
  pass_ref_100mb         calls/s: sync calls of a task taking a 100 MiB array's ref
  pass_100mb_sum         calls/s: the same with a float64 array the task sums (reads
                         every element, from the read-only shared-memory view Ray hands it)

Each figure is warmed up briefly, then measured BENCH_REPEATS times (default 3); the
median is printed. BENCH_SCALE (default 1.0) scales counts and durations down for a smoke
run (below 1.0 the "1 GiB" array is 64 MiB, as in the Rust example). Logs go to stderr.

Run it inside a private network namespace (Ray must not bind the external address here):
    unshare -n bash -c 'ip link set lo up && bench-venv/bin/python benches/python/ray_microbenchmark.py'
or simply `scripts/ray-baseline.sh [out.json]`.
"""

import json
import os
import statistics
import sys
import time

import numpy as np

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def n(full):
    """An iteration count scaled by BENCH_SCALE, at least 1."""
    return max(1, int(full * SCALE))


def median_rate(run, warmup=None):
    """Calls `warmup()` (or `run()`) once, then `run()` REPEATS times; each call returns
    (operations, seconds). Returns the median of operations/second."""
    (warmup or run)()
    rates = []
    for _ in range(REPEATS):
        ops, secs = run()
        rates.append(ops / secs)
    return statistics.median(rates)


def counted(k, body):
    """Runs body() once for k operations; returns (k, seconds)."""
    t = time.perf_counter()
    body()
    return k, time.perf_counter() - t


def for_duration(seconds, op):
    """Calls op() repeatedly for about `seconds`; returns (calls, seconds)."""
    deadline = time.perf_counter() + seconds
    count, t = 0, time.perf_counter()
    while True:
        op()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count, now - t


def main():
    # Ray prints some warnings (e.g. from the raylet) on stdout even with
    # log_to_driver=False: keep the real stdout for the JSON, send fd 1 to stderr.
    json_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    out = {}

    def record(key, value):
        log(f"{key:>24}: {value:.3f}")
        out[key] = value

    t = time.perf_counter()
    import ray

    log(f"{'import ray':>24}: {time.perf_counter() - t:.3f} s")

    t = time.perf_counter()
    # No dashboard, no usage stats, no worker log forwarding: nothing that needs the
    # network or costs time outside the figures.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    record("ray_init_s", time.perf_counter() - t)

    @ray.remote
    def noop():
        return 0

    @ray.remote
    def add_one(x):
        return x + 1

    @ray.remote
    def byte_len(a):
        return a.nbytes

    @ray.remote
    def total(a):
        return float(a.sum())

    @ray.remote
    class Sink:
        def __init__(self):
            self.calls = 0

        def ping(self):
            self.calls += 1
            return self.calls

    timed_s = 2.0 * SCALE  # duration of the "repeat for a while" figures
    warm_s = 0.2 * SCALE

    record("tasks_sync", median_rate(
        lambda: for_duration(timed_s, lambda: ray.get(noop.remote())),
        lambda: for_duration(warm_s, lambda: ray.get(noop.remote()))))

    def tasks_async(k):
        return counted(k, lambda: ray.get([noop.remote() for _ in range(k)]))

    record("tasks_async_10k", median_rate(lambda: tasks_async(n(10_000)),
                                          lambda: tasks_async(n(1_000))))

    sink = Sink.remote()
    ray.get(sink.ping.remote())
    record("actor_calls_sync", median_rate(
        lambda: for_duration(timed_s, lambda: ray.get(sink.ping.remote())),
        lambda: for_duration(warm_s, lambda: ray.get(sink.ping.remote()))))

    def actor_async(k):
        return counted(k, lambda: ray.get([sink.ping.remote() for _ in range(k)]))

    record("actor_calls_async_10k", median_rate(lambda: actor_async(n(10_000)),
                                                lambda: actor_async(n(1_000))))

    # The multi-caller figures of Ray's `ray microbenchmark` (ray/_private/ray_perf.py).
    callers = 4

    @ray.remote(num_cpus=0)
    class Client:
        def small_value_batch(self, k):
            return len(ray.get([noop.remote() for _ in range(k)]))

    @ray.remote
    def work(actors, k):
        return len(ray.get([actors[i % len(actors)].ping.remote() for i in range(k)]))

    clients = [Client.remote() for _ in range(callers)]

    def multi_client(k):
        def body():
            assert ray.get([c.small_value_batch.remote(k) for c in clients]) == [k] * callers
        return counted(callers * k, body)

    record("multi_client_tasks_async", median_rate(lambda: multi_client(n(10_000)),
                                                   lambda: multi_client(n(1_000))))
    for c in clients:
        ray.kill(c)

    servers = [Sink.options(num_cpus=0).remote() for _ in range(callers)]
    ray.get([s.ping.remote() for s in servers])

    def n_n(k):
        def body():
            assert ray.get([work.remote(servers, k) for _ in range(callers)]) == [k] * callers
        return counted(callers * k, body)

    record("n_n_actor_calls_async", median_rate(lambda: n_n(n(5_000)), lambda: n_n(n(500))))
    for s in servers:
        ray.kill(s)

    def actor_create(k):
        t = time.perf_counter()
        actors = [Sink.remote() for _ in range(k)]
        ray.get([a.ping.remote() for a in actors])
        secs = time.perf_counter() - t
        # Each actor is a worker process (~80 MiB): kill them outside the timing, or
        # the repeats exhaust memory.
        for a in actors:
            ray.kill(a)
        return k, secs

    record("actor_create_100", median_rate(lambda: actor_create(n(100)),
                                           lambda: actor_create(2)))

    record("put_small", median_rate(
        lambda: for_duration(timed_s, lambda: ray.put(0)),
        lambda: for_duration(warm_s, lambda: ray.put(0))))

    small = ray.put(7)
    record("get_small", median_rate(
        lambda: for_duration(timed_s, lambda: ray.get(small)),
        lambda: for_duration(warm_s, lambda: ray.get(small))))

    size = (1 << 30) if SCALE >= 1.0 else (64 << 20)
    gb = size / 1e9
    arr = np.ones(size, dtype=np.uint8)  # allocated and touched

    t = time.perf_counter()
    first = ray.put(arr)
    log(f"{'(first put, cold store)':>24}: {gb / (time.perf_counter() - t):.3f} GB/s")
    del first

    # As in Ray's `ray microbenchmark`: back-to-back puts whose refs are dropped at once.
    # The figure depends on how much of the store's shared memory has been touched
    # already: ~1.4 GB/s into fresh pages, ~18 GB/s once every page has been used.
    def put_big(seconds):
        puts, secs = for_duration(seconds, lambda: ray.put(arr))
        return puts * gb, secs

    record("put_1gib", median_rate(lambda: put_big(timed_s), lambda: put_big(warm_s * 10)))

    big = ray.put(arr)
    gets = 10  # a zero-copy get takes microseconds: time several per repeat

    def get_big():
        t = time.perf_counter()
        for _ in range(gets):
            view = ray.get(big)
            assert view.nbytes == size
            del view
        return gb * gets, time.perf_counter() - t

    record("get_1gib", median_rate(get_big))
    del big, arr

    ready = [ray.put(i) for i in range(1000)]

    def wait_all():
        done, _ = ray.wait(ready, num_returns=1000)
        assert len(done) == 1000

    record("wait_1k", median_rate(lambda: for_duration(timed_s, wait_all),
                                  lambda: for_duration(warm_s, wait_all)))
    del ready

    def chain(k):
        t = time.perf_counter()
        ref = add_one.remote(0)
        for _ in range(1, k):
            ref = add_one.remote(ref)
        assert ray.get(ref) == k
        return 1, time.perf_counter() - t

    # Seconds for the chain, so the inverse of the median rate.
    record("chain_1000", 1.0 / median_rate(lambda: chain(n(1000)), lambda: chain(n(100))))

    mb100 = ray.put(np.zeros(100 << 20, dtype=np.uint8))

    def pass_ref(k):
        def body():
            for _ in range(k):
                assert ray.get(byte_len.remote(mb100)) == 100 << 20
        return counted(k, body)

    record("pass_ref_100mb", median_rate(lambda: pass_ref(n(50)), lambda: pass_ref(5)))
    del mb100

    values = ray.put(np.ones((100 << 20) // 8, dtype=np.float64))
    expected = float((100 << 20) // 8)

    def pass_sum(k):
        def body():
            for _ in range(k):
                assert ray.get(total.remote(values)) == expected
        return counted(k, body)

    record("pass_100mb_sum", median_rate(lambda: pass_sum(n(50)), lambda: pass_sum(5)))
    del values

    ray.shutdown()
    print(json.dumps(out), file=json_out, flush=True)


if __name__ == "__main__":
    main()
