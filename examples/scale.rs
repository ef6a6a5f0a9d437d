//! Scale runs (issue #7), one per `SCALE_RUN` mode, each printing its figures and the
//! peak resident memory (VmHWM) of every process it used. Too heavy for CI, which only
//! builds this example; BENCHMARKS.md ("Scale") records one run of each.
//!
//! - `SCALE_RUN=tasks`: `SCALE_TASKS` (1,000,000) trivial tasks queued on one node at
//!   once, then all gotten.
//! - `SCALE_RUN=actors`: `SCALE_ACTORS` (10,000) actors alive on one node at once, each
//!   answering one call; created in waves of `SCALE_ACTOR_WAVE` (500) with a progress
//!   line per wave (count, rate, RSS, threads, open files), so a run that hits a limit
//!   shows how far it got. It prints the limits that bound threads first.
//! - `SCALE_RUN=nodes`: a head and `SCALE_NODES - 1` (15) worker-node processes of this
//!   binary on 127.0.0.1 (one CPU each); join time, then `SCALE_NODE_TASKS` (20,000)
//!   tasks spread over all of them.
//! - `SCALE_RUN=broadcast`: one `SCALE_BCAST_MIB` (1,024) MiB object passed by ref to a
//!   task on each of `SCALE_BCAST_NODES` (8) worker-node processes; total and per-node
//!   time. It refuses to start when its estimated peak memory does not fit in
//!   MemAvailable.
//!
//! Run: `cargo build --release --example scale`, then e.g.
//! `SCALE_RUN=tasks target/release/examples/scale`.

use std::time::Instant;

#[path = "scale/cluster.rs"]
mod cluster;

#[ray::remote]
fn noop() -> u8 {
    0
}

/// One of the many actors: it answers its call with its own number.
pub struct Member {
    i: u32,
}

#[ray::remote]
impl Member {
    pub fn new(i: u32) -> Self {
        Member { i }
    }
    pub fn ping(&self) -> u32 {
        self.i
    }
}

/// A setting from the environment, or its default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `KEY: N kB` (or plain `KEY: N`) line of a /proc status file; 0 when absent.
fn proc_status(pid: Option<u32>, key: &str) -> u64 {
    let path = pid.map_or("/proc/self/status".to_string(), |p| {
        format!("/proc/{p}/status")
    });
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| {
                v.trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// A process's peak resident memory (VmHWM) in MiB; `None`: this process.
fn peak_mib(pid: Option<u32>) -> f64 {
    proc_status(pid, "VmHWM") as f64 / 1024.0
}

/// A process's resident memory now (VmRSS) in MiB.
fn rss_mib(pid: Option<u32>) -> f64 {
    proc_status(pid, "VmRSS") as f64 / 1024.0
}

/// The first field after `key` on the first line of a /proc file that starts with it
/// (for /proc/self/limits: the soft limit), for the limits the actor run records.
fn proc_line(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l[key.len()..].split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "?".into())
}

/// How many memory mappings this process has (bounded by `vm.max_map_count`).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

/// How many file descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn main() -> anyhow::Result<()> {
    // A worker-node process of the cluster modes: joins and serves until killed.
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init()?;
        return Ok(());
    }
    let mode = std::env::var("SCALE_RUN").unwrap_or_default();
    match mode.as_str() {
        "tasks" => queued_tasks(),
        "actors" => many_actors(),
        "nodes" => cluster::many_nodes(),
        "broadcast" => cluster::broadcast(),
        _ => anyhow::bail!("set SCALE_RUN to tasks, actors, nodes or broadcast"),
    }
}

/// A million tasks queued on one node at once, then all gotten.
fn queued_tasks() -> anyhow::Result<()> {
    let total = setting("SCALE_TASKS", 1_000_000) as usize;
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let t0 = Instant::now();
    let refs: Vec<_> = (0..total).map(|_| noop.remote()).collect();
    let submitted = t0.elapsed().as_secs_f64();
    let rss_queued = rss_mib(None);
    let values = ray::get(&refs)?;
    let wall = t0.elapsed().as_secs_f64();
    anyhow::ensure!(values.len() == total, "results are missing");
    let rss_gotten = rss_mib(None);
    drop((refs, values));
    println!(
        "scale tasks: {total} tasks queued in {submitted:.2} s, all gotten after {wall:.2} s: \
         {:.0} tasks/s; RSS with all queued {rss_queued:.0} MiB, after the get {rss_gotten:.0} MiB, \
         after dropping the refs {:.0} MiB, peak {:.0} MiB",
        total as f64 / wall,
        rss_mib(None),
        peak_mib(None)
    );
    ray::shutdown();
    Ok(())
}

/// Ten thousand actors alive on one node at once, each answering one call.
fn many_actors() -> anyhow::Result<()> {
    let total = setting("SCALE_ACTORS", 10_000) as u32;
    let wave = setting("SCALE_ACTOR_WAVE", 500).max(1) as u32;
    eprintln!(
        "limits: threads-max {}, pid_max {}, vm.max_map_count {}, max user processes {}, \
         open files {}, RUST_MIN_STACK {}",
        proc_line("/proc/sys/kernel/threads-max", ""),
        proc_line("/proc/sys/kernel/pid_max", ""),
        proc_line("/proc/sys/vm/max_map_count", ""),
        proc_line("/proc/self/limits", "Max processes"),
        proc_line("/proc/self/limits", "Max open files"),
        std::env::var("RUST_MIN_STACK").unwrap_or_else(|_| "unset (2 MiB)".into()),
    );
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let (base_threads, base_fds) = (proc_status(None, "Threads"), open_fds());
    let t0 = Instant::now();
    let mut actors = Vec::with_capacity(total as usize);
    let mut failure = None;
    while (actors.len() as u32) < total && failure.is_none() {
        let from = actors.len() as u32;
        let to = (from + wave).min(total);
        let new: Vec<_> = (from..to).map(Member::remote).collect();
        let answers: Vec<_> = new.iter().map(|a| a.ping.remote()).collect();
        match ray::get(&answers) {
            Ok(got) => {
                anyhow::ensure!(got.iter().copied().eq(from..to), "a wrong answer");
                actors.extend(new);
            }
            Err(e) => failure = Some(e),
        }
        eprintln!(
            "{} actors alive after {:.2} s ({:.0}/s), RSS {:.0} MiB, {} threads, {} open files, {} mappings",
            actors.len(),
            t0.elapsed().as_secs_f64(),
            actors.len() as f64 / t0.elapsed().as_secs_f64(),
            rss_mib(None),
            proc_status(None, "Threads"),
            open_fds(),
            mappings()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let alive = actors.len();
    println!(
        "scale actors: {alive} of {total} actors alive at once, each answered one call, in \
         {secs:.2} s: {:.0} actors/s; {} threads ({} before the actors), {} open files \
         ({} before); RSS {:.0} MiB, peak {:.0} MiB ({:.1} KiB per actor){}",
        alive as f64 / secs,
        proc_status(None, "Threads"),
        base_threads,
        open_fds(),
        base_fds,
        rss_mib(None),
        peak_mib(None),
        peak_mib(None) * 1024.0 / alive.max(1) as f64,
        failure.map_or(String::new(), |e| format!("; stopped by: {e}"))
    );
    let t = Instant::now();
    drop(actors);
    ray::shutdown();
    eprintln!(
        "dropped and shut down in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
