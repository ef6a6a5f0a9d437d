"""Renders the side-by-side table of Python Ray and ray-rs microbenchmark figures into
the generated section of BENCHMARKS.md (between the BEGIN/END markers).

usage: bench_table.py RAY_JSON RUST_JSON BENCHMARKS_MD
"""
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone

# name, unit, higher is better, target ratio (issue #2 / #7), and Python Ray's figure
# to compare with when its name differs
FIGURES = [
    ("tasks_sync", "tasks/s", True, 100),
    ("tasks_async_10k", "tasks/s", True, 100),
    ("actor_calls_sync", "calls/s", True, 100),
    ("actor_calls_async_10k", "calls/s", True, 100),
    ("multi_client_tasks_async", "tasks/s", True, 100),
    ("n_n_actor_calls_async", "calls/s", True, 100),
    ("actor_create_100", "actors/s", True, 1000),
    ("put_small", "puts/s", True, 100),
    ("get_small", "gets/s", True, 100),
    # A move into the store (a pointer hand-over) against Ray's copy into shared memory;
    # `put_1gib_copy` is the form that copies (`ray::put(v.clone())`).
    ("put_1gib", "GB/s", True, None),
    ("put_1gib_copy", "GB/s", True, None, "put_1gib"),
    # `get_arc` (zero-copy, as Ray's numpy get); `get_1gib_copy` is `ray::get`, an owned copy.
    ("get_1gib", "GB/s", True, None),
    ("get_1gib_copy", "GB/s", True, None, "get_1gib"),
    ("wait_1k", "waits/s", True, 100),
    ("chain_1000", "s", False, 100),
    ("pass_ref_100mb", "calls/s", True, None),
    # A task summing a 100 MB float64 object (every element read), in the three forms a
    # Rust parameter can take, against Ray's task reading its shared-memory view.
    ("pass_100mb_sum_borrowed", "calls/s", True, 1, "pass_100mb_sum"),
    ("pass_100mb_sum_arc", "calls/s", True, None, "pass_100mb_sum"),
    ("pass_100mb_sum_owned", "calls/s", True, None, "pass_100mb_sum"),
    ("ray_init_s", "s", False, None),
]


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"


def ratio_text(ratio):
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:,.0f}×"


def per_second(name, unit, value):
    """The figure as operations per second, or None where it is not a rate of round
    trips (GB/s, start-up time). `chain_1000` is seconds for 1,000 links: links/s."""
    if unit.endswith("/s") and unit != "GB/s":
        return value
    if name == "chain_1000" and value > 0:
        return 1000 / value
    return None


def of_raw(rate, raw):
    """`rate` as a multiple of a raw round-trip rate, or a dash."""
    if rate is None or not raw:
        return "—"
    return f"{rate / raw:.2f}×" if rate / raw < 10 else f"{rate / raw:,.0f}×"


def main():
    ray = json.load(open(sys.argv[1]))
    rust = json.load(open(sys.argv[2]))
    path = sys.argv[3]
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    raw = rust.get("raw_actix_roundtrip_per_s")
    raw_tokio = rust.get("raw_tokio_roundtrip_per_s")
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores); "
        "medians of `BENCH_REPEATS` runs; Python Ray with `ray.init(num_cpus=2)`, "
        "ray-rs with `Config::new().num_cpus(2.0)`, same run.",
        "",
        "| figure | unit | Python Ray | ray-rs | ratio | target | met | ray-rs ÷ actix RT | ray-rs ÷ tokio RT |",
        "|---|---|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for name, unit, higher, target, *theirs in FIGURES:
        theirs = theirs[0] if theirs else name
        if theirs not in ray or name not in rust:
            continue
        r, us = ray[theirs], rust[name]
        ratio = (us / r) if higher else (r / us)
        met = "" if target is None else ("yes" if ratio >= target else "**no**")
        tgt = "" if target is None else f"≥ {target}×"
        rate = per_second(name, unit, us)
        shown = ratio_text(ratio)
        against = "" if theirs == name else f" (Ray: `{theirs}`)"
        lines.append(
            f"| `{name}`{against} | {unit} | {fmt(r)} | {fmt(us)} | {shown} | {tgt} | {met} "
            f"| {of_raw(rate, raw)} | {of_raw(rate, raw_tokio)} |"
        )
    if raw:
        tokio_text = (
            f" and through bare tokio channels (mpsc there, oneshot back, to a task on a "
            f"current-thread runtime on another thread): {fmt(raw_tokio)} /s"
            if raw_tokio
            else ""
        )
        lines += [
            "",
            f"Raw runtime figures in the same run (the last two columns divide each of our "
            f"rates by them; `chain_1000` as links/s): a round trip from a synchronous "
            f"caller (parking between calls) to another thread, through a bare actix actor: "
            f"{fmt(raw)} /s{tokio_text}. Where a parked vCPU takes tens of microseconds "
            f"to wake (the VM of the earlier runs), this is the cost our getters and idle "
            f"actors avoid by yielding briefly before parking; `tasks_sync` runs at "
            f"{rust['tasks_sync'] / raw:.1f}× and `actor_calls_sync` at "
            f"{rust['actor_calls_sync'] / raw:.1f}× of the actix one.",
        ]
    if "remote_tasks_async_10k" in rust:
        lines += [
            "",
            "Across nodes (a second node process of the same binary on 127.0.0.1 runs the "
            "tasks and hosts the actor, over QUIC; the driver's node has no CPUs), next to "
            "Python Ray's single-node figures and raw QUIC throughput from the same run:",
            "",
            "| figure | unit | Python Ray (1 node) | ray-rs (2 processes) | ratio | target | met |",
            "|---|---|---:|---:|---:|---:|:---:|",
        ]
        for ours, theirs, unit in [
            ("remote_tasks_sync", "tasks_sync", "tasks/s"),
            ("remote_tasks_async_10k", "tasks_async_10k", "tasks/s"),
            ("remote_actor_calls_sync", "actor_calls_sync", "calls/s"),
            ("remote_actor_calls_async_10k", "actor_calls_async_10k", "calls/s"),
        ]:
            if ours not in rust:
                continue
            ratio = rust[ours] / ray[theirs]
            met = "yes" if ratio >= 10 else "**no**"
            lines.append(f"| `{ours}` | {unit} | {fmt(ray[theirs])} | {fmt(rust[ours])} | {ratio:,.0f}× | ≥ 10× | {met} |")
        quic = rust["raw_quinn_1gib_gbps"]
        share = rust["remote_transfer_1gib_gbps"] / quic
        met = "yes" if share >= 0.5 else "**no**"
        lines.append(
            f"| `remote_transfer_1gib_gbps` | GB/s | — | {rust['remote_transfer_1gib_gbps']:.3f} "
            f"| {share:.0%} of raw QUIC ({quic:.3f} GB/s) | ≥ 50% | {met} |"
        )
        if "remote_worker_to_worker_64mib_gbps" in rust:
            w2w = rust["remote_worker_to_worker_64mib_gbps"]
            met = "yes" if w2w / quic >= 0.5 else "**no**"
            lines.append(
                f"| `remote_worker_to_worker_64mib_gbps` | GB/s | — | {w2w:.3f} "
                f"| {w2w / quic:.0%} of raw QUIC | ≥ 50% | {met} |"
            )
    if "rss_mib" in rust:
        lines.append(
            f"ray-rs process RSS right after `init`: {rust.get('rss_after_init_mib', 0):.1f} MiB "
            f"(target < 30 MiB); at the end of the run: {rust['rss_mib']:.0f} MiB."
        )
    table = "\n".join(lines)
    begin, end = "<!-- BEGIN microbenchmark -->", "<!-- END microbenchmark -->"
    text = open(path).read()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    open(path, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")


if __name__ == "__main__":
    main()
