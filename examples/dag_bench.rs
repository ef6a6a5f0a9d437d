//! Compiled graphs (`ray::dag`) against classic actor calls: per-execution latency of a
//! 1-actor and a 3-actor chain in this process, measured in the same run, printed as one
//! JSON object with the keys of `benches/python/ray_dag_bench.py` (its Python Ray
//! counterpart):
//!
//! - `dag_1_actor_us`, `dag_3_actor_us`: `execute` + `get`, one execution at a time;
//! - `dag_3_actor_pipelined_us`: up to 10 executions in flight, elapsed / executions;
//! - `dag_3_actor_thread_each_us`: as `dag_3_actor_us` with one loop thread per actor
//!   (`DagOptions::loop_threads(usize::MAX)`, Ray's layout) instead of the default;
//! - `classic_1_actor_us`, `classic_3_actor_us`: the same chain as classic calls
//!   (`c.run.remote(b.run.remote(a.run.remote(x)))` + `get`), one at a time.
//!
//! Across two node processes (a second process of this binary joins as a worker node on
//! 127.0.0.1 and hosts the actors; the driver's head node has no CPUs), over QUIC:
//!
//! - `remote_dag_1_actor_us`, `remote_dag_3_actor_us`: the chains compiled: the worker
//!   node runs its part of the graph (all three actors, with rings between them) and the
//!   driver reaches it through one persistent channel, one round trip per execution;
//! - `remote_classic_1_actor_us`, `remote_classic_3_actor_us`: the same classic calls.
//!
//! `BENCH_REMOTE=0` skips them.
//!
//! Run: `cargo run --release --example dag_bench`; `BENCH_SCALE=0.01` for a smoke run.
//! `BENCH_REPEATS` (default 5) sets how many times each figure is measured; the median is
//! printed.

use std::time::Instant;

use ray::dag::{DagNode, DagOptions, InputNode};
use ray::prelude::*;

pub struct Stage;

#[ray::remote]
impl Stage {
    pub fn new() -> Self {
        Stage
    }
    pub fn run(&self, x: u64) -> u64 {
        x + 1
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn n(full: usize) -> usize {
    ((full as f64 * env("BENCH_SCALE", 1.0)) as usize).max(1)
}

/// Runs `run(k)` once to warm up, then `BENCH_REPEATS` times: median µs per operation.
fn median_us(k: usize, mut run: impl FnMut(usize)) -> f64 {
    run((k / 10).max(1));
    let mut samples: Vec<f64> = (0..env("BENCH_REPEATS", 5))
        .map(|_| {
            let t = Instant::now();
            run(k);
            t.elapsed().as_secs_f64() * 1e6 / k as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn chain(stages: &[&ActorHandle<Stage>]) -> DagNode<u64, u64> {
    let inp = InputNode::new();
    let mut node = stages[0].run.bind(&inp);
    for s in &stages[1..] {
        node = s.run.bind(node);
    }
    node
}

fn classic(stages: &[&ActorHandle<Stage>], k: usize) {
    for i in 0..k as u64 {
        let mut r = stages[0].run.remote(i);
        for s in &stages[1..] {
            r = s.run.remote(r);
        }
        assert_eq!(ray::get(&r).unwrap(), i + stages.len() as u64);
    }
}

fn main() -> anyhow::Result<()> {
    // The worker-node process of the cross-node figures: joins and serves until killed.
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init()?;
        return Ok(());
    }
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let (a, b, c) = (Stage::remote(), Stage::remote(), Stage::remote());
    ray::get(&[a.run.remote(0), b.run.remote(0), c.run.remote(0)])?;
    let one = [&a];
    let three = [&a, &b, &c];
    let mut out = Vec::new();

    out.push((
        "classic_1_actor_us",
        median_us(n(20_000), |k| classic(&one, k)),
    ));
    out.push((
        "classic_3_actor_us",
        median_us(n(10_000), |k| classic(&three, k)),
    ));
    let layouts = [
        ("dag_1_actor_us", &one[..], DagOptions::new()),
        ("dag_3_actor_us", &three[..], DagOptions::new()),
        (
            "dag_3_actor_thread_each_us",
            &three[..],
            DagOptions::new().loop_threads(usize::MAX),
        ),
    ];
    for (name, stages, opts) in layouts {
        let compiled = chain(stages).compile_with(opts)?;
        let depth = stages.len() as u64;
        let us = median_us(n(200_000), |k| {
            for i in 0..k as u64 {
                let r = compiled.execute(i).unwrap();
                assert_eq!(ray::get(&r).unwrap(), i + depth);
            }
        });
        out.push((name, us));
        if name == "dag_3_actor_us" {
            let us = median_us(n(200_000), |k| {
                let mut refs = std::collections::VecDeque::with_capacity(10);
                for i in 0..k as u64 {
                    refs.push_back(compiled.execute(i).unwrap());
                    if refs.len() == 10 {
                        let r = refs.pop_front().unwrap();
                        assert_eq!(ray::get(&r).unwrap(), i - 9 + depth);
                    }
                }
                for r in refs {
                    ray::get(&r).unwrap();
                }
            });
            out.push(("dag_3_actor_pipelined_us", us));
        }
    }
    drop((a, b, c));
    ray::shutdown();
    if env("BENCH_REMOTE", 1) != 0 {
        remote_figures(&mut out)?;
    }
    let fields: Vec<String> = out
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v:.3}"))
        .collect();
    println!("{{{}}}", fields.join(", "));
    Ok(())
}

/// The chains with their actors in a second node process.
fn remote_figures(out: &mut Vec<(&'static str, f64)>) -> anyhow::Result<()> {
    ray::init_with(ray::Config::new().head().num_cpus(0.0))?;
    let address = ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no cluster address"))?;
    let mut worker = std::process::Command::new(std::env::current_exe()?)
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", &address)
        .env("RAY_NUM_CPUS", "2")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while ray::nodes()?.iter().filter(|n| n.alive).count() < 2 {
            anyhow::ensure!(Instant::now() < deadline, "the worker node did not join");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Actors that need a CPU cannot live on the CPU-less head: they go to the worker.
        let far = || Stage::options().num_cpus(0.5).remote();
        let (a, b, c) = (far(), far(), far());
        ray::get(&[a.run.remote(0), b.run.remote(0), c.run.remote(0)])?;
        let one = [&a];
        let three = [&a, &b, &c];
        out.push((
            "remote_classic_1_actor_us",
            median_us(n(2_000), |k| classic(&one, k)),
        ));
        out.push((
            "remote_classic_3_actor_us",
            median_us(n(1_000), |k| classic(&three, k)),
        ));
        for (name, stages) in [
            ("remote_dag_1_actor_us", &one[..]),
            ("remote_dag_3_actor_us", &three[..]),
        ] {
            let compiled = chain(stages).compile()?;
            let depth = stages.len() as u64;
            out.push((
                name,
                median_us(n(5_000), |k| {
                    for i in 0..k as u64 {
                        let r = compiled.execute(i).unwrap();
                        assert_eq!(ray::get(&r).unwrap(), i + depth);
                    }
                }),
            ));
        }
        Ok(())
    })();
    let _ = worker.kill();
    let _ = worker.wait();
    ray::shutdown();
    result
}
