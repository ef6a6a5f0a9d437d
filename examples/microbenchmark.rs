//! Ray's microbenchmark figures for this runtime, printed as one JSON object, with the
//! names Ray uses (`tasks_sync`, `actor_calls_async_10k`, ...), plus the raw limits of
//! the machine measured in the same run (a message round trip across threads through bare
//! actix and through bare tokio channels: `microbenchmark/raw.rs`). The multi-caller
//! figures (`multi_client_tasks_async`, `n_n_actor_calls_async`) are defined in
//! `microbenchmark/multi.rs`.
//!
//! With `BENCH_REMOTE=1` it adds cross-node figures (`BENCH_REMOTE=only`: only those): a second node process of this binary
//! on 127.0.0.1 runs the tasks and hosts the actor, and raw QUIC throughput is measured
//! next to the 1 GiB transfer. `BENCH_WORKER_NETNS=NAME` puts that second node (and the
//! raw QUIC receiver, a `BENCH_RAW_SERVER=1` process of this binary) in another network
//! namespace: `scripts/bench-hosts.sh`.
//!
//! Run: `cargo run --release --example microbenchmark` (full) or with
//! `BENCH_SCALE=0.02` for a smoke run. `BENCH_REPEATS` (default 3) sets how many times each
//! figure is measured; the median is printed. `BENCH_ONLY=NAME,NAME` (cross-node figures)
//! measures only the figures named, e.g. `remote_actor_calls_sync,raw_quinn_requests_sync`.
//! `scripts/bench.sh` runs this next to Python Ray and writes BENCHMARKS.md.

use std::time::{Duration, Instant};

#[path = "microbenchmark/multi.rs"]
mod multi;
#[path = "microbenchmark/raw.rs"]
mod raw;
#[path = "microbenchmark/remote.rs"]
mod remote;

#[ray::remote]
fn noop() -> u8 {
    0
}

#[ray::remote]
async fn noop_async() -> u8 {
    0
}

#[ray::remote]
fn add_one(x: u64) -> u64 {
    x + 1
}

/// Borrows the 100 MB object: the task reads the stored buffer in place, as Ray's tasks
/// read numpy arrays from shared memory (an owned `Vec<u8>` would copy it every call).
#[ray::remote]
fn byte_len(b: &[u8]) -> usize {
    b.len()
}

/// Sums the 100 MB object in three forms (each reads every element): borrowed (in
/// place), shared (`Arc`, in place) and owned (a copy per call, Rust's semantics).
#[ray::remote]
fn sum_borrowed(v: &[f64]) -> f64 {
    lane_sum(v)
}

#[ray::remote]
fn sum_arc(v: std::sync::Arc<Vec<f64>>) -> f64 {
    lane_sum(&v)
}

#[ray::remote]
fn sum_owned(v: Vec<f64>) -> f64 {
    lane_sum(&v)
}

/// Sums in 8 independent lanes, as numpy's `sum` does (pairwise, in SIMD lanes): a plain
/// `iter().sum()` is one dependent chain of additions, which no compiler may reorder.
fn lane_sum(v: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = v.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

pub struct Sink {
    calls: u64,
}

#[ray::remote]
impl Sink {
    pub fn new() -> Self {
        Sink { calls: 0 }
    }
    pub fn ping(&mut self) -> u64 {
        self.calls += 1;
        self.calls
    }
    /// The length of a buffer, read in place (the cross-node actor argument figure).
    pub fn weigh(&self, b: &serde_bytes::ByteBuf) -> u64 {
        b.len() as u64
    }
}

fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn n(full: usize) -> usize {
    ((full as f64 * scale()) as usize).max(1)
}

fn repeats() -> usize {
    std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Median over repeats of `f`, which returns (operations, elapsed).
fn median(mut f: impl FnMut() -> (f64, Duration)) -> f64 {
    let mut rates: Vec<f64> = (0..repeats())
        .map(|_| {
            let (ops, d) = f();
            ops / d.as_secs_f64()
        })
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    rates[rates.len() / 2]
}

/// Submit one call and get it, `k` times: calls/s (median of the repeats).
fn one_by_one<T: ray::Value>(k: usize, call: impl Fn() -> ray::ObjectRef<T>) -> f64 {
    median(|| {
        timed(k, || {
            for _ in 0..k {
                ray::get(&call()).expect("call");
            }
        })
    })
}

/// Submit `k` calls, then get them all: calls/s (median of the repeats).
fn all_then_get<T: ray::Value>(k: usize, call: impl Fn() -> ray::ObjectRef<T>) -> f64 {
    median(|| {
        timed(k, || {
            let refs: Vec<_> = (0..k).map(|_| call()).collect();
            ray::get(&refs).expect("calls");
        })
    })
}

fn timed(ops: usize, f: impl FnOnce()) -> (f64, Duration) {
    let t = Instant::now();
    f();
    (ops as f64, t.elapsed())
}

fn main() -> anyhow::Result<()> {
    // The worker-node process of the cross-node figures: joins and serves until killed.
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init()?;
        return Ok(());
    }
    // The receiving endpoint of the raw QUIC figure in another network namespace.
    if std::env::var("BENCH_RAW_SERVER").is_ok_and(|v| v == "1") {
        return raw::raw_quinn_server();
    }
    let remote = std::env::var("BENCH_REMOTE").unwrap_or_default();
    if remote == "only" {
        let mut put = |k: &str, v: f64| eprintln!("{k:>24}: {v:.3}");
        return remote::remote_figures(&mut put);
    }
    let t0 = Instant::now();
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let init_s = t0.elapsed().as_secs_f64();
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: f64| {
        eprintln!("{k:>24}: {v:.3}");
        out.insert(k.to_string(), serde_json::json!(v));
    };
    put("ray_init_s", init_s);
    put("rss_after_init_mib", rss_mib());

    put("tasks_sync", one_by_one(n(20_000), || noop.remote()));
    put("tasks_async_10k", all_then_get(n(10_000), || noop.remote()));
    // Async bodies run on the executor threads (Python Ray has no async tasks).
    put(
        "async_fn_tasks_async_10k",
        all_then_get(n(10_000), || noop_async.remote()),
    );
    let sink = Sink::remote();
    ray::get(&sink.ready())?;
    put(
        "actor_calls_sync",
        one_by_one(n(20_000), || sink.ping.remote()),
    );
    put(
        "actor_calls_async_10k",
        all_then_get(n(10_000), || sink.ping.remote()),
    );
    put(
        "multi_client_tasks_async",
        multi::multi_client_tasks_async(),
    );
    put("n_n_actor_calls_async", multi::n_n_actor_calls_async());
    put(
        "actor_create_100",
        median(|| {
            let k = n(100);
            timed(k, || {
                let actors: Vec<_> = (0..k).map(|_| Sink::remote()).collect();
                let refs: Vec<_> = actors.iter().map(|a| a.ping.remote()).collect();
                ray::get(&refs).expect("first call");
            })
        }),
    );
    put(
        "put_small",
        median(|| {
            let k = n(100_000);
            timed(k, || {
                for i in 0..k {
                    drop(ray::put(i as u64));
                }
            })
        }),
    );
    let small = ray::put(7u64);
    put(
        "get_small",
        median(|| {
            let k = n(100_000);
            timed(k, || {
                for _ in 0..k {
                    ray::get(&small).expect("get");
                }
            })
        }),
    );
    let gib = if scale() < 1.0 { 64 << 20 } else { 1 << 30 };
    let gib_f = gib as f64 / 1e9;
    put(
        "put_1gib",
        median(|| {
            let buf = vec![1u8; gib];
            let t = Instant::now();
            let r = ray::put(buf);
            let d = t.elapsed();
            drop(r);
            (gib_f, d)
        }),
    );
    // The form that copies, as Ray's put does (into its shared-memory store).
    put(
        "put_1gib_copy",
        median(|| {
            let buf = vec![1u8; gib];
            let t = Instant::now();
            let r = ray::put(buf.clone());
            let d = t.elapsed();
            drop(r);
            (gib_f, d)
        }),
    );
    let big = ray::put(vec![1u8; gib]);
    // An owned copy out of the store (`get_1gib` below is `get_arc`, zero-copy).
    put(
        "get_1gib_copy",
        median(|| {
            let t = Instant::now();
            let v: Vec<u8> = ray::get(&big).expect("get");
            let d = t.elapsed();
            assert_eq!(v.len(), gib);
            (gib_f, d)
        }),
    );
    put(
        "get_1gib",
        median(|| {
            let t = Instant::now();
            let v = big.get_arc().expect("get");
            let d = t.elapsed();
            assert_eq!(v.len(), gib);
            (gib_f, d)
        }),
    );
    drop(big);
    let ready: Vec<_> = (0..1000u64).map(ray::put).collect();
    put(
        "wait_1k",
        median(|| {
            let k = n(10_000);
            timed(k, || {
                for _ in 0..k {
                    let (r, _) = ray::wait(&ready, 1000, None).expect("wait");
                    assert_eq!(r.len(), 1000);
                }
            })
        }),
    );
    // Seconds for a chain of 1,000 dependent tasks (lower is better).
    let chain_len = n(1000);
    let chain = 1.0
        / median(|| {
            let t = Instant::now();
            let mut r = add_one.remote(0u64);
            for _ in 1..chain_len {
                r = add_one.remote(&r);
            }
            assert_eq!(ray::get(&r).expect("chain"), chain_len as u64);
            (1.0, t.elapsed())
        });
    put("chain_1000", chain);
    let mb100 = ray::put(vec![0u8; 100 << 20]);
    put(
        "pass_ref_100mb",
        median(|| {
            let k = n(50);
            timed(k, || {
                for _ in 0..k {
                    assert_eq!(ray::get(&byte_len.remote(&mb100)).expect("len"), 100 << 20);
                }
            })
        }),
    );
    drop(mb100);
    pass_100mb_sums(&mut put);
    put("rss_mib", rss_mib());
    ray::shutdown();
    put("raw_actix_roundtrip_per_s", raw::raw_actix_roundtrip());
    put("raw_tokio_roundtrip_per_s", raw::raw_tokio_roundtrip());
    if !remote.is_empty() && remote != "0" {
        remote::remote_figures(&mut put)?;
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// Calls/s of a task that sums a 100 MB `f64` object passed by ref, in the three forms
/// a parameter can take (`pass_100mb_sum_borrowed`, `_arc`, `_owned`).
fn pass_100mb_sums(put: &mut impl FnMut(&str, f64)) {
    let len = (100 << 20) / 8;
    let values = ray::put(vec![1.0f64; len]);
    let expected = len as f64;
    let mut form = |name: &str, call: &dyn Fn() -> ray::ObjectRef<f64>| {
        put(
            name,
            median(|| {
                let k = n(50);
                timed(k, || {
                    for _ in 0..k {
                        assert_eq!(ray::get(&call()).expect("sum"), expected);
                    }
                })
            }),
        );
    };
    form("pass_100mb_sum_borrowed", &|| sum_borrowed.remote(&values));
    form("pass_100mb_sum_arc", &|| sum_arc.remote(&values));
    form("pass_100mb_sum_owned", &|| sum_owned.remote(&values));
}

/// Resident memory of this process, from /proc (Linux), in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
