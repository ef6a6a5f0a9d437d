//! Chaos run: this process is a head; it starts worker-node processes of its own binary,
//! and while it runs tasks and actor calls on them, a killer SIGKILLs a random worker
//! every few seconds and starts a replacement. Every result is checked; the run fails if
//! one is wrong or missing.
//!
//! Run: `cargo run --release --example chaos`. Settings (environment): `CHAOS_TASKS`
//! (10,000), `CHAOS_CALLS` (1,000), `CHAOS_BLOCKS` (200), `CHAOS_WORKERS` (4),
//! `CHAOS_KILL_MS` (1,000), `CHAOS_WORK_MS` (5: how long each task and call works).
//!
//! Blocks are 128 KiB task results made first and read last: each stays on the node that
//! made it until read, so most of those nodes are killed meanwhile and reading the block
//! makes it again from its lineage (counted as "remade").
//!
//! Tasks use `max_retries(-1)`: the runtime tries a task again on another node when its
//! node dies. The actor uses `max_restarts(-1)` and `max_task_retries(-1)`: it is
//! re-created on another node when its node dies, and a call that was in flight runs
//! again there. A call made in the moment between the death and the restart can still
//! fail with `ActorDied`; this driver then makes it again and counts it.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ray::prelude::*;

/// How long each task and call works (ms), so that kills land while work runs.
fn work() {
    std::thread::sleep(Duration::from_millis(setting("CHAOS_WORK_MS", 5)));
}

/// Doubles `x`; says which try this was.
#[ray::remote]
fn double(x: u64) -> (u64, u32) {
    work();
    (2 * x, ray::runtime_context().attempt())
}

/// 128 KiB that say which block they are; with which try made them.
#[ray::remote]
fn block(i: u64) -> (Vec<u8>, u32) {
    work();
    (
        vec![(i % 251) as u8; 128 << 10],
        ray::runtime_context().attempt(),
    )
}

/// A stateless actor: what it answers does not depend on restarts.
pub struct Squarer;

#[ray::remote]
impl Squarer {
    pub fn new() -> Self {
        Squarer
    }

    pub fn square(&self, x: u64) -> u64 {
        work();
        x * x
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The worker-node processes, replaced as they are killed; all killed at the end.
struct Workers {
    exe: std::path::PathBuf,
    address: String,
    children: Vec<Child>,
}

impl Workers {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.exe)
            .env("RAY_NODE_MODE", "worker")
            .env("RAY_ADDRESS", &self.address)
            .env("RAY_NUM_CPUS", "2")
            .env("RAY_HEARTBEAT_MS", "100")
            .env("RAY_NODE_TIMEOUT_MS", "1000")
            .stdout(std::process::Stdio::null())
            .spawn()?;
        self.children.push(child);
        Ok(())
    }

    /// SIGKILLs worker `i` (no goodbye) and starts a replacement.
    fn kill_and_replace(&mut self, i: usize) -> anyhow::Result<()> {
        let mut victim = self.children.swap_remove(i);
        // An already-exited process cannot be killed again: reaping it is enough.
        let _ = victim.kill();
        victim.wait()?;
        self.spawn()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init()?;
        return Ok(());
    }
    let (tasks, calls, n_blocks) = (
        setting("CHAOS_TASKS", 10_000),
        setting("CHAOS_CALLS", 1_000),
        setting("CHAOS_BLOCKS", 200),
    );
    let (n_workers, kill_every) = (setting("CHAOS_WORKERS", 4), setting("CHAOS_KILL_MS", 1_000));
    ray::init_with(
        ray::Config::new()
            .head()
            .num_cpus(0.0)
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(Duration::from_secs(1)),
    )?;
    let address = ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the head has no cluster address"))?;
    let mut workers = Workers {
        exe: std::env::current_exe()?,
        address,
        children: Vec::new(),
    };
    for _ in 0..n_workers {
        workers.spawn()?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ray::nodes()?.iter().filter(|n| n.alive).count() < n_workers as usize + 1 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers did not join in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();

    // The killer: one worker every `kill_every` ms, replaced at once.
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (done, kills) = (done.clone(), kills.clone());
        std::thread::spawn(move || -> anyhow::Result<Workers> {
            let mut seed = t0.elapsed().as_nanos() as u64 | 1;
            while !done.load(Ordering::SeqCst) {
                let next_kill = Instant::now() + Duration::from_millis(kill_every);
                while Instant::now() < next_kill && !done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if done.load(Ordering::SeqCst) {
                    break;
                }
                // xorshift: a different victim each time, no dependency needed.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % workers.children.len() as u64) as usize;
                workers.kill_and_replace(i)?;
                let k = kills.fetch_add(1, Ordering::SeqCst) + 1;
                eprintln!("chaos: killed a worker ({k} so far)");
            }
            Ok(workers)
        })
    };

    let outcome = (|| -> anyhow::Result<(u64, u64, u64, u64)> {
        let (mut wrong, mut task_retries) = (0u64, 0u64);
        let blocks: Vec<_> = (0..n_blocks)
            .map(|i| block.options().max_retries(-1).remote(i))
            .collect();
        let mut next = 0;
        while next < tasks {
            let batch: Vec<u64> = (next..(next + 500).min(tasks)).collect();
            let refs: Vec<_> = batch
                .iter()
                .map(|x| double.options().max_retries(-1).remote(*x))
                .collect();
            for (x, r) in batch.iter().zip(&refs) {
                let (v, attempt) = ray::get_timeout(r, Duration::from_secs(120))?;
                wrong += u64::from(v != 2 * x);
                task_retries += u64::from(attempt);
            }
            next += batch.len() as u64;
            eprintln!("chaos: {next}/{tasks} tasks checked");
        }
        let squarer = Squarer::options()
            .num_cpus(1.0)
            .max_restarts(-1)
            .max_task_retries(-1)
            .remote();
        let mut call_retries = 0u64;
        for x in 0..calls {
            let give_up = Instant::now() + Duration::from_secs(60);
            loop {
                match ray::get_timeout(&squarer.square.remote(x), Duration::from_secs(30)) {
                    Ok(v) => {
                        wrong += u64::from(v != x * x);
                        break;
                    }
                    Err(ray::Error::ActorDied { .. } | ray::Error::ActorUnavailable { .. })
                        if Instant::now() < give_up =>
                    {
                        call_retries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut remade = 0u64;
        for (i, b) in (0..).zip(&blocks) {
            let (data, attempt) = ray::get_timeout(b, Duration::from_secs(120))?;
            wrong +=
                u64::from(data.len() != 128 << 10 || data.iter().any(|&x| x != (i % 251) as u8));
            remade += u64::from(attempt > 0);
        }
        eprintln!("chaos: {n_blocks} blocks checked ({remade} made again)");
        Ok((wrong, task_retries, call_retries, remade))
    })();
    done.store(true, Ordering::SeqCst);
    let workers = killer
        .join()
        .map_err(|_| anyhow::anyhow!("the killer thread panicked"))??;
    drop(workers);
    let (wrong, task_retries, call_retries, remade) = outcome?;
    println!(
        "chaos: tasks {tasks}, task retries {task_retries}, actor calls {calls}, call retries {call_retries}, blocks {n_blocks}, remade {remade}, kills {}, wrong {wrong}, wall {:.1} s",
        kills.load(Ordering::SeqCst),
        t0.elapsed().as_secs_f64()
    );
    ray::shutdown();
    anyhow::ensure!(wrong == 0, "{wrong} results were wrong");
    Ok(())
}
