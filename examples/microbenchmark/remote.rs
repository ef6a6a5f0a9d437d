//! The cross-node figures of the microbenchmark (`BENCH_REMOTE`): a worker-node process
//! of this binary runs the tasks and hosts the actor, over QUIC on 127.0.0.1; and raw QUIC
//! throughput between two of our endpoints (`raw.rs`), measured next to the 1 GiB
//! transfer.
//!
//! With `BENCH_WORKER_NETNS=NAME` the worker node and the raw figure's receiving endpoint
//! run in that Linux network namespace (`ip netns exec NAME`), and this process (run in
//! another one, e.g. by `scripts/bench-hosts.sh`) talks to them across the link between
//! the two namespaces instead of over 127.0.0.1.

use std::time::{Duration, Instant};

use ray::ActorOptionsBuilder;

use super::{Sink, all_then_get, median, n, noop, one_by_one, raw, scale};

/// Sums nothing: returns the length of what it was sent (the cross-node transfer test).
#[ray::remote]
fn payload_len(b: serde_bytes::ByteBuf) -> u64 {
    b.len() as u64
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
    let mut command = match &netns {
        Some(ns) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", ns]).arg(std::env::current_exe()?);
            c
        }
        None => std::process::Command::new(std::env::current_exe()?),
    };
    let mut worker = command
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", &address)
        .env("RAY_NUM_CPUS", "2")
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while ray::nodes()?.iter().filter(|n| n.alive).count() < 2 {
            anyhow::ensure!(Instant::now() < deadline, "the worker node did not join");
            std::thread::sleep(Duration::from_millis(10));
        }
        put("remote_tasks_sync", one_by_one(n(2_000), || noop.remote()));
        put(
            "remote_tasks_async_10k",
            all_then_get(n(10_000), || noop.remote()),
        );
        // An actor that needs a CPU cannot live on this CPU-less head: it is placed on
        // the worker node, and every call crosses QUIC.
        let sink = Sink::options().num_cpus(1.0).remote();
        ray::get(&sink.ready())?;
        put(
            "remote_actor_calls_sync",
            one_by_one(n(2_000), || sink.ping.remote()),
        );
        put(
            "remote_actor_calls_async_10k",
            all_then_get(n(10_000), || sink.ping.remote()),
        );
        drop(sink);
        let size = if scale() < 1.0 { 64 << 20 } else { 1 << 30 };
        let big = ray::put(serde_bytes::ByteBuf::from(vec![7u8; size]));
        put(
            "remote_transfer_1gib_gbps",
            median(|| {
                let t = Instant::now();
                assert_eq!(
                    ray::get(&payload_len.remote(&big)).expect("transfer"),
                    size as u64
                );
                (size as f64 / 1e9, t.elapsed())
            }),
        );
        Ok(())
    })();
    let _ = worker.kill();
    let _ = worker.wait();
    ray::shutdown();
    result?;
    let raw = raw::raw_quinn(netns.as_deref())?;
    put("raw_quinn_1gib_gbps", raw.gbps);
    put("raw_quinn_requests_sync", raw.requests);
    put("raw_quinn_frames_sync", raw.frames);
    Ok(())
}
