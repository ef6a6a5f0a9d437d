//! A cluster of three OS processes on 127.0.0.1. This program starts a head node in its
//! own process, then two worker-node processes of *its own binary* (Rust cannot ship
//! closures, so every node runs the same build: a process started with
//! `RAY_NODE_MODE=worker` and `RAY_ADDRESS` joins the cluster in `ray::init()` and serves
//! tasks until killed). It runs tasks pinned to each worker, passes an object across,
//! places an actor on one worker and calls it from a task on the other, and prints where
//! each ran.
//!
//! Run: `cargo run --example cluster`. With `CLUSTER_HOLD=1` it then prints the join
//! address and the workers' pids and keeps the cluster up until its stdin closes (the
//! multi-process test uses this to kill a worker with SIGKILL).

use std::io::Read;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ray::prelude::*;

/// Where a task ran: its label, process id and node.
#[ray::remote]
fn where_am_i(label: String) -> (String, u32, ray::NodeId) {
    (label, std::process::id(), ray::runtime_context().node_id())
}

/// Sums a buffer that was put on another node.
#[ray::remote]
fn byte_sum(data: Arc<serde_bytes::ByteBuf>) -> (u64, u32) {
    (data.iter().map(|b| u64::from(*b)).sum(), std::process::id())
}

/// A counter that reports where it lives.
pub struct Tally {
    total: u64,
}

#[ray::remote]
impl Tally {
    pub fn new() -> Self {
        Tally { total: 0 }
    }

    pub fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }

    pub fn home(&self) -> (u32, ray::NodeId) {
        (std::process::id(), ray::runtime_context().node_id())
    }
}

/// Calls the named tally from whatever node runs this task; returns the last total and
/// this task's process.
#[ray::remote]
fn add_to_tally(times: u64) -> Result<(u64, u32), String> {
    let tally: ActorHandle<Tally> = ray::get_actor("tally").map_err(|e| e.to_string())?;
    let refs: Vec<_> = (1..=times).map(|i| tally.add.remote(i)).collect();
    let totals = ray::get(&refs).map_err(|e| e.to_string())?;
    Ok((totals.last().copied().unwrap_or(0), std::process::id()))
}

/// Kills the worker processes when the example ends, however it ends.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() -> anyhow::Result<()> {
    // In a worker process this joins the cluster and never returns.
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init()?;
        return Ok(());
    }
    ray::init_with(ray::Config::new().head().num_cpus(1.0))?;
    let address = ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the head has no cluster address"))?;
    println!(
        "head {} in process {}",
        ray::runtime_context().node_id(),
        std::process::id()
    );
    let exe = std::env::current_exe()?;
    let mut workers = Workers(Vec::new());
    for name in ["worker1", "worker2"] {
        workers.0.push(
            Command::new(&exe)
                .env("RAY_NODE_MODE", "worker")
                .env("RAY_ADDRESS", &address)
                .env("RAY_NUM_CPUS", "1")
                .env("RAY_RESOURCES", format!("{name}=1"))
                .spawn()?,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ray::nodes()?.iter().filter(|n| n.alive).count() < 3 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers did not join in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{} nodes alive", ray::nodes()?.len());

    for name in ["worker1", "worker2"] {
        let r = where_am_i
            .options()
            .resource(name, 1.0)
            .remote(name.to_string());
        let (label, pid, node) = ray::get(&r)?;
        println!("task for {label} ran in process {pid} on node {node}");
    }
    let (_, pid, node) = ray::get(&where_am_i.remote("head".to_string()))?;
    println!("task for head ran in process {pid} on node {node}");

    let data = ray::put(serde_bytes::ByteBuf::from(vec![1u8; 10 << 20]));
    let (sum, pid) = ray::get(&byte_sum.options().resource("worker2", 1.0).remote(&data))?;
    println!("10 MiB object summed to {sum} in process {pid}");

    // An actor that needs `worker1` lives in that process; a task in worker2's process
    // finds it by name and calls it 100 times, in order.
    let tally = Tally::options()
        .name("tally")
        .resource("worker1", 0.5)
        .remote();
    let (pid, node) = ray::get(&tally.home.remote())?;
    println!("actor tally lives in process {pid} on node {node}");
    let (total, pid) = ray::get(&add_to_tally.options().resource("worker2", 1.0).remote(100))?;
    println!("task in process {pid} called the actor 100 times: total {total}");
    anyhow::ensure!(total == 5050, "calls were lost or repeated");

    if std::env::var("CLUSTER_HOLD").is_ok() {
        println!("ready {address}");
        for w in &workers.0 {
            println!("worker pid {}", w.id());
        }
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    drop(workers);
    ray::shutdown();
    Ok(())
}
