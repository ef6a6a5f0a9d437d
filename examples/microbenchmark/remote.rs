//! The cross-node figures of the microbenchmark (`BENCH_REMOTE`): a worker-node process
//! of this binary runs the tasks and hosts the actor, over QUIC on 127.0.0.1; and raw QUIC
//! throughput between two of our endpoints (`raw.rs`), measured next to the 1 GiB
//! transfer.
//!
//! With `BENCH_WORKER_NETNS=NAME` the worker node and the raw figure's receiving endpoint
//! run in that Linux network namespace (`ip netns exec NAME`), and this process (run in
//! another one, e.g. by `scripts/bench-hosts.sh`) talks to them across the link between
//! the two namespaces instead of over 127.0.0.1. A second worker node (in
//! `BENCH_WORKER2_NETNS` when set) reads a result the first one made: the
//! worker-to-worker transfer, timed on its own.

use std::time::{Duration, Instant};

use ray::{ActorOptionsBuilder, TaskOptionsBuilder};

use super::{Sink, all_then_get, median, n, noop, one_by_one, raw, scale};

/// Sums nothing: returns the length of what it was sent (the cross-node transfer test).
#[ray::remote]
fn payload_len(b: serde_bytes::ByteBuf) -> u64 {
    b.len() as u64
}

/// Makes `n` bytes where it runs (the worker-to-worker transfer's source).
#[ray::remote]
fn make_bytes(n: u64) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![3u8; n as usize])
}

/// A worker-node process of this binary in `netns` (or this network stack), offering
/// 2 CPUs and `resource`.
fn spawn_worker(
    netns: Option<&str>,
    address: &str,
    resource: &str,
) -> anyhow::Result<std::process::Child> {
    let mut command = match netns {
        Some(ns) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", ns]).arg(std::env::current_exe()?);
            c
        }
        None => std::process::Command::new(std::env::current_exe()?),
    };
    Ok(command
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", address)
        .env("RAY_NUM_CPUS", "2")
        .env("RAY_RESOURCES", format!("{resource}=1000"))
        .spawn()?)
}

/// 64 MiB made on worker `w1`, then read by a task on worker `w2`: only the read is
/// timed (the value already sits in w1's store), so the figure is the transfer between
/// the two workers and whatever the runtime adds to it.
fn worker_to_worker_gbps() -> f64 {
    let size: u64 = 64 << 20;
    median(|| {
        let made = make_bytes.options().resource("w1", 1.0).remote(size);
        // Made and held on w1, not brought here (Ray's `fetch_local=False`).
        let (ready, _) = ray::wait_with(std::slice::from_ref(&made), 1, None, false).expect("made");
        assert_eq!(ready.len(), 1);
        let t = Instant::now();
        let read = payload_len.options().resource("w2", 1.0).remote(&made);
        assert_eq!(ray::get(&read).expect("worker-to-worker"), size);
        (size as f64 / 1e9, t.elapsed())
    })
}

/// The same 64 MiB, read by a method of an actor on `w2` (a borrowed parameter): the
/// call goes from here, the bytes from w1 to w2.
fn actor_worker_to_worker_gbps() -> f64 {
    let size: u64 = 64 << 20;
    let sink = Sink::options().num_cpus(1.0).resource("w2", 1.0).remote();
    median(|| {
        let made = make_bytes.options().resource("w1", 1.0).remote(size);
        let (ready, _) = ray::wait_with(std::slice::from_ref(&made), 1, None, false).expect("made");
        assert_eq!(ready.len(), 1);
        let t = Instant::now();
        assert_eq!(
            ray::get(&sink.weigh.remote(&made)).expect("actor argument"),
            size
        );
        (size as f64 / 1e9, t.elapsed())
    })
}

/// Whether figure `name` is measured: every figure, or only those `BENCH_ONLY` names
/// (comma-separated, e.g. `BENCH_ONLY=remote_actor_calls_sync,raw_quinn_requests_sync`
/// for a quick before-and-after of one figure).
pub fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|k| k.trim() == name))
}

/// Cross-node figures: this process is a head with no CPUs, and one worker-node process
/// of this same binary (2 CPUs) runs every task, over QUIC on 127.0.0.1 (or across
/// network namespaces: `BENCH_WORKER_NETNS`).
pub fn remote_figures(put: &mut impl FnMut(&str, f64)) -> anyhow::Result<()> {
    let netns = std::env::var("BENCH_WORKER_NETNS")
        .ok()
        .filter(|ns| !ns.is_empty());
    ray::init_with(ray::Config::new().head().num_cpus(0.0))?;
    let address = ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no cluster address"))?;
    let netns2 = std::env::var("BENCH_WORKER2_NETNS")
        .ok()
        .filter(|ns| !ns.is_empty());
    let mut worker = spawn_worker(netns.as_deref(), &address, "w1")?;
    let mut worker2 = spawn_worker(netns2.as_deref(), &address, "w2")?;
    let result = (|| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while ray::nodes()?.iter().filter(|n| n.alive).count() < 3 {
            anyhow::ensure!(Instant::now() < deadline, "the worker node did not join");
            std::thread::sleep(Duration::from_millis(10));
        }
        if wanted("remote_tasks_sync") {
            put("remote_tasks_sync", one_by_one(n(2_000), || noop.remote()));
        }
        if wanted("remote_tasks_async_10k") {
            put(
                "remote_tasks_async_10k",
                all_then_get(n(10_000), || noop.remote()),
            );
        }
        // An actor that needs a CPU cannot live on this CPU-less head: it is placed on
        // the worker node, and every call crosses QUIC.
        let sink = Sink::options().num_cpus(1.0).resource("w1", 1.0).remote();
        ray::get(&sink.ready())?;
        if wanted("remote_actor_calls_sync") {
            put(
                "remote_actor_calls_sync",
                one_by_one(n(2_000), || sink.ping.remote()),
            );
        }
        if wanted("remote_actor_calls_async_10k") {
            put(
                "remote_actor_calls_async_10k",
                all_then_get(n(10_000), || sink.ping.remote()),
            );
        }
        drop(sink);
        let large = [
            "remote_worker_to_worker_64mib_gbps",
            "remote_actor_worker_to_worker_64mib_gbps",
            "remote_transfer_1gib_gbps",
        ];
        if !large.into_iter().any(wanted) {
            return Ok(());
        }
        let size = if scale() < 1.0 { 64 << 20 } else { 1 << 30 };
        let big = ray::put(serde_bytes::ByteBuf::from(vec![7u8; size]));
        put(
            "remote_worker_to_worker_64mib_gbps",
            worker_to_worker_gbps(),
        );
        put(
            "remote_actor_worker_to_worker_64mib_gbps",
            actor_worker_to_worker_gbps(),
        );
        put(
            "remote_transfer_1gib_gbps",
            median(|| {
                let t = Instant::now();
                assert_eq!(
                    ray::get(&payload_len.options().resource("w1", 1.0).remote(&big))
                        .expect("transfer"),
                    size as u64
                );
                (size as f64 / 1e9, t.elapsed())
            }),
        );
        Ok(())
    })();
    for w in [&mut worker, &mut worker2] {
        let _ = w.kill();
        let _ = w.wait();
    }
    ray::shutdown();
    result?;
    let raw_figures = [
        "raw_quinn_1gib_gbps",
        "raw_quinn_requests_sync",
        "raw_quinn_frames_sync",
    ];
    if raw_figures.iter().any(|k| wanted(k)) {
        let raw = raw::raw_quinn(netns.as_deref())?;
        for (k, v) in raw_figures
            .into_iter()
            .zip([raw.gbps, raw.requests, raw.frames])
        {
            if wanted(k) {
                put(k, v);
            }
        }
    }
    if wanted("raw_quinn_requests_hopped") {
        put(
            "raw_quinn_requests_hopped",
            raw::raw_quinn_hopped(netns.as_deref())?,
        );
    }
    Ok(())
}
