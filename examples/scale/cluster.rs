//! The multi-process scale runs: many node processes on one machine, and one large object
//! broadcast to several of them. Worker nodes are this same binary started with
//! `RAY_NODE_MODE=worker` and `RAY_ADDRESS`, as in `examples/cluster.rs`: they join in
//! `ray::init()` and serve until killed.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ray::prelude::*;

use super::{peak_mib, proc_line, setting};

/// The process a task ran in.
#[ray::remote]
fn which_process() -> u32 {
    std::process::id()
}

/// The length of the broadcast object, with when (Unix time, ns) the task started: after
/// its argument arrived and was decoded.
#[ray::remote]
fn received(data: Arc<serde_bytes::ByteBuf>) -> (u64, u128, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (data.len() as u64, now, std::process::id())
}

/// The worker-node processes; killed when dropped, however the run ends.
struct Workers(Vec<Child>);

impl Workers {
    /// Starts `count` worker nodes of this binary that join `address`, one CPU each;
    /// `resource(i)` names a custom resource worker `i` offers, if any.
    fn start(
        count: usize,
        address: &str,
        resource: impl Fn(usize) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut workers = Workers(Vec::new());
        for i in 0..count {
            let mut cmd = Command::new(&exe);
            cmd.env("RAY_NODE_MODE", "worker")
                .env("RAY_ADDRESS", address)
                .env("RAY_NUM_CPUS", "1")
                .stdout(std::process::Stdio::null());
            if let Some(r) = resource(i) {
                cmd.env("RAY_RESOURCES", format!("{r}=1"));
            }
            workers.0.push(cmd.spawn()?);
        }
        Ok(workers)
    }

    /// Peak resident memory of each worker (VmHWM, MiB), read while it still runs.
    fn peaks(&self) -> Vec<f64> {
        self.0.iter().map(|c| peak_mib(Some(c.id()))).collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `count` nodes are alive (60 s at most).
fn wait_for_nodes(count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while ray::nodes()?.iter().filter(|n| n.alive).count() < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {count} nodes joined in 60 s",
            ray::nodes()?.iter().filter(|n| n.alive).count()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The head's cluster address.
fn cluster_address() -> anyhow::Result<String> {
    ray::runtime_context()
        .cluster_address()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the head has no cluster address"))
}

/// "min / median / max" of some MiB figures.
fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(lo), Some(mid), Some(hi)) => format!("{lo:.0} / {mid:.0} / {hi:.0}"),
        _ => "-".into(),
    }
}

/// A head and `SCALE_NODES - 1` worker-node processes; join time, then a batch of tasks
/// spread over every node.
pub fn many_nodes() -> anyhow::Result<()> {
    let nodes = setting("SCALE_NODES", 16).max(2) as usize;
    let tasks = setting("SCALE_NODE_TASKS", 20_000) as usize;
    ray::init_with(ray::Config::new().head().num_cpus(1.0))?;
    let t0 = Instant::now();
    let workers = Workers::start(nodes - 1, &cluster_address()?, |_| None)?;
    wait_for_nodes(nodes)?;
    let join = t0.elapsed().as_secs_f64();

    let t = Instant::now();
    let refs: Vec<_> = (0..tasks)
        .map(|_| {
            which_process
                .options()
                .scheduling_strategy(ray::SchedulingStrategy::Spread)
                .remote()
        })
        .collect();
    let pids = ray::get(&refs)?;
    let secs = t.elapsed().as_secs_f64();
    let mut per_process: BTreeMap<u32, usize> = BTreeMap::new();
    for p in pids {
        *per_process.entry(p).or_default() += 1;
    }
    let counts: Vec<f64> = per_process.values().map(|c| *c as f64).collect();
    let worker_peaks = workers.peaks();
    println!(
        "scale nodes: {nodes} node processes (head + {} workers, 1 CPU each) joined in \
         {join:.2} s; {tasks} tasks (SPREAD) in {secs:.2} s: {:.0} tasks/s, ran in {} \
         processes (tasks per process min / median / max {}); peak RSS head {:.0} MiB, \
         workers min / median / max {} MiB, all processes together {:.0} MiB",
        nodes - 1,
        tasks as f64 / secs,
        per_process.len(),
        spread(counts),
        peak_mib(None),
        spread(worker_peaks.clone()),
        peak_mib(None) + worker_peaks.iter().sum::<f64>()
    );
    drop(workers);
    ray::shutdown();
    Ok(())
}

/// One object of `SCALE_BCAST_MIB` MiB, put on the head and passed by ref to one task on
/// each of `SCALE_BCAST_NODES` worker-node processes.
pub fn broadcast() -> anyhow::Result<()> {
    let targets = setting("SCALE_BCAST_NODES", 8).max(1) as usize;
    let size = (setting("SCALE_BCAST_MIB", 1024) << 20) as usize;
    // Where the bytes live at the peak: the head holds the value, its one encoding
    // (which every task's request shares) and up to a QUIC send window per connection
    // (256 MiB); each worker holds one copy, the value taken out of the received bytes.
    // Refuse what would not fit rather than swap or be killed.
    let estimate = (3 + targets) * size;
    let available = proc_line("/proc/meminfo", "MemAvailable:")
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .map_or(0, |kib| kib << 10) as usize;
    anyhow::ensure!(
        estimate < available / 10 * 9,
        "broadcasting {} MiB to {targets} nodes needs about {} MiB at the peak \
         ((3 + nodes) × size), but only {} MiB are available",
        size >> 20,
        estimate >> 20,
        available >> 20
    );
    ray::init_with(ray::Config::new().head().num_cpus(0.0))?;
    let workers = Workers::start(targets, &cluster_address()?, |i| Some(format!("bcast{i}")))?;
    wait_for_nodes(targets + 1)?;
    // One small task on each target first, so connections are open before the clock runs.
    let warm: Vec<_> = (0..targets)
        .map(|i| {
            which_process
                .options()
                .resource(format!("bcast{i}"), 1.0)
                .remote()
        })
        .collect();
    ray::get(&warm)?;

    let big = ray::put(serde_bytes::ByteBuf::from(vec![7u8; size]));
    let start_unix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let t0 = Instant::now();
    let mut pending: Vec<_> = (0..targets)
        .map(|i| {
            received
                .options()
                .resource(format!("bcast{i}"), 1.0)
                .remote(&big)
        })
        .collect();
    let mut done = Vec::new();
    while !pending.is_empty() {
        let (ready, rest) = ray::wait(&pending, 1, None)?;
        let at = t0.elapsed().as_secs_f64();
        for r in ready {
            let (len, started, pid) = ray::get(&r)?;
            anyhow::ensure!(len == size as u64, "a node received {len} bytes");
            let arrived = started.saturating_sub(start_unix) as f64 / 1e9;
            done.push((arrived, at, pid));
        }
        pending = rest;
    }
    let total = t0.elapsed().as_secs_f64();
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    let per_node: Vec<String> = done
        .iter()
        .map(|(arrived, answered, _)| format!("{arrived:.2}/{answered:.2}"))
        .collect();
    let worker_peaks = workers.peaks();
    println!(
        "scale broadcast: {} MiB to {targets} worker nodes in {total:.2} s: {:.3} GB/s \
         aggregate ({:.3} GB/s per node); per node, seconds until its task started with \
         the value / until the head saw the answer: {}; peak RSS head {:.0} MiB, workers \
         min / median / max {} MiB",
        size >> 20,
        (targets * size) as f64 / 1e9 / total,
        size as f64 / 1e9 / total,
        per_node.join(", "),
        peak_mib(None),
        spread(worker_peaks)
    );
    drop(big);
    drop(workers);
    ray::shutdown();
    Ok(())
}
