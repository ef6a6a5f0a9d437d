//! A cluster of separate OS processes: the `cluster` example runs a head and two
//! worker-node processes of its own binary; this test joins as a driver, checks the
//! work ran in three processes, kills one worker with SIGKILL and waits for the cluster
//! to report it dead.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Lines};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn line_starting(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
    seen: &mut Vec<String>,
) -> String {
    for line in lines.by_ref() {
        let line = line.expect("read example output");
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.trim().to_string();
        }
    }
    panic!(
        "the example ended before printing `{prefix}`; it printed:\n{}",
        seen.join("\n")
    );
}

#[test]
fn worker_processes_serve_tasks_and_actors_and_a_killed_one_is_reported_dead() {
    let mut child = Command::new(common::example("cluster"))
        .env("CLUSTER_HOLD", "1")
        .env("RAY_HEARTBEAT_MS", "100")
        .env("RAY_NODE_TIMEOUT_MS", "1000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the cluster example");
    let stdout = child.stdout.take().expect("stdout");
    let mut guard = common::KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let address = line_starting(&mut lines, "ready ", &mut seen);
    let pids: Vec<u32> = (0..2)
        .map(|_| {
            line_starting(&mut lines, "worker pid ", &mut seen)
                .parse()
                .expect("pid")
        })
        .collect();
    // The example's tasks ran in three different processes, two of them the workers.
    let ran_in: HashSet<u32> = seen
        .iter()
        .filter(|l| l.starts_with("task for "))
        .filter_map(|l| {
            l.split("in process ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(ran_in.len(), 3, "{seen:?}");
    assert!(pids.iter().all(|p| ran_in.contains(p)), "{seen:?}");
    let summed = format!("10 MiB object summed to 10485760 in process {}", pids[1]);
    assert!(seen.contains(&summed), "{seen:?}");
    // The actor lives in worker1's process; a task in worker2's process called it by
    // name, 100 calls in order.
    let lives = format!("actor tally lives in process {} on node", pids[0]);
    assert!(seen.iter().any(|l| l.starts_with(&lives)), "{seen:?}");
    let called = format!(
        "task in process {} called the actor 100 times: total 5050",
        pids[1]
    );
    assert!(seen.contains(&called), "{seen:?}");

    // This test process joins as a driver.
    let _ray = common::join(&address);
    let alive = || ray::nodes().unwrap().iter().filter(|n| n.alive).count();
    assert!(
        common::wait_until(Duration::from_secs(10), || alive() == 3),
        "{:?}",
        ray::nodes()
    );

    // SIGKILL one worker process: no goodbye, its connections just vanish.
    let status = Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let t0 = Instant::now();
    assert!(
        common::wait_until(Duration::from_secs(20), || alive() == 2),
        "still alive after {:?}: {:?}",
        t0.elapsed(),
        ray::nodes()
    );
    assert_eq!(ray::nodes().unwrap().iter().filter(|n| !n.alive).count(), 1);

    // Kill the head too: the surviving worker notices and exits by itself.
    let _ = guard.0.kill();
    let _ = guard.0.wait();
    let survivor = pids[1].to_string();
    let gone = common::wait_until(Duration::from_secs(20), || {
        !std::path::Path::new(&format!("/proc/{survivor}")).exists()
            || std::fs::read_to_string(format!("/proc/{survivor}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "worker {survivor} kept running after its head died");
    // The driver is told too: work that needs another node fails with a clear error
    // instead of waiting for a cluster that is gone.
    let err = ray::get_timeout(&one.remote(), Duration::from_secs(20)).unwrap_err();
    assert!(
        matches!(&err, ray::Error::NotConnected(m) if m.contains("head")),
        "{err:?}"
    );
}

/// Needs a CPU, which this driver does not offer: it can only run on another node.
#[ray::remote]
fn one() -> u8 {
    1
}
