//! Work between two worker processes right after one of them joined: actor calls after
//! a name lookup, a task sent from one worker to the other, and a large result pulled
//! back, each the first use of the link between them. The caller's copy of the node
//! table may not list the new worker yet; that must read as "not reachable yet", never
//! as "dead". The test keeps every core busy meanwhile, as a loaded machine would.
//!
//! The worker processes are this test binary itself, started with `RAY_NODE_MODE=worker`
//! and told to run only this test, whose first line turns them into worker nodes: every
//! process then has the same functions, as the single-binary model requires.

mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Tally;
use ray::prelude::*;

/// A result large enough to stay on the node that made it (read by pulling it).
#[ray::remote]
fn bytes_here(n: usize) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![7u8; n])
}

/// Runs on the calling worker: finds the named actor on the other worker, calls it,
/// sends a task there and pulls its large result back.
#[ray::remote]
fn use_the_other_worker(name: String, resource: String, calls: u64) -> Result<(u64, u64), String> {
    let tally: ActorHandle<Tally> = ray::get_actor(&name).map_err(|e| e.to_string())?;
    let refs: Vec<_> = (1..=calls).map(|i| tally.add.remote(i)).collect();
    let totals = ray::get_timeout(&refs, common::LONG).map_err(|e| format!("actor calls: {e}"))?;
    // The actor holds the other half of the worker's resource.
    let there = bytes_here
        .options()
        .resource(&resource, 0.5)
        .remote(1 << 20);
    let bytes =
        ray::get_timeout(&there, common::LONG).map_err(|e| format!("task and pull: {e}"))?;
    let sum = bytes.iter().map(|b| u64::from(*b)).sum();
    Ok((totals.last().copied().unwrap_or(0), sum))
}

/// Spinning threads on every core until dropped.
struct Busy(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Busy {
    fn every_core() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Busy(stop, threads)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

const TEST: &str = "a_worker_uses_another_that_just_joined";
/// Slow heartbeats: a view refreshed only by them lags a join by up to 2 s, which is
/// the window this test works in.
const HEARTBEAT_MS: &str = "2000";

fn start_worker(address: &str, resource: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture"])
        .env("RAY_NODE_MODE", "worker")
        .env("RAY_ADDRESS", address)
        .env("RAY_NUM_CPUS", "1")
        .env("RAY_RESOURCES", format!("{resource}=1"))
        .env("RAY_HEARTBEAT_MS", HEARTBEAT_MS)
        .env("RAY_NODE_TIMEOUT_MS", "10000")
        .spawn()
        .expect("start a worker process")
}

fn wait_for_nodes(n: usize) {
    let alive = || ray::nodes().unwrap().iter().filter(|n| n.alive).count();
    assert!(
        common::wait_until(Duration::from_secs(60), || alive() == n),
        "{:?}",
        ray::nodes()
    );
}

#[test]
fn a_worker_uses_another_that_just_joined() {
    if std::env::var("RAY_NODE_MODE").is_ok() {
        // A worker process: joins the cluster and serves until killed.
        ray::init().expect("join as a worker node");
        return;
    }
    let _busy = Busy::every_core();
    let _ray = common::init_with(
        ray::Config::new()
            .head()
            .num_cpus(0.0)
            .heartbeat_interval(Duration::from_millis(2000))
            .node_timeout(Duration::from_secs(10)),
    );
    let address = ray::runtime_context()
        .cluster_address()
        .expect("the head's address")
        .to_string();
    // Killed when the test ends, however it ends.
    let mut workers = vec![common::KillOnDrop(start_worker(&address, "caller"))];
    wait_for_nodes(2);
    for round in 0..4u64 {
        // A new worker joins after the caller: the caller's table does not list it
        // until it learns of the join.
        let resource = format!("callee{round}");
        workers.push(common::KillOnDrop(start_worker(&address, &resource)));
        wait_for_nodes(3 + round as usize);
        let name = format!("tally{round}");
        let tally = Tally::options()
            .name(&name)
            .resource(&resource, 0.5)
            .remote();
        assert_eq!(
            ray::get_timeout(&tally.add.remote(0), common::LONG).unwrap(),
            0
        );
        let calls = 50;
        let used = use_the_other_worker
            .options()
            .resource("caller", 1.0)
            .remote(name, resource, calls);
        let (total, sum) = ray::get_timeout(&used, 2 * common::LONG)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(total, calls * (calls + 1) / 2, "round {round}");
        assert_eq!(sum, 7 << 20, "round {round}");
    }
}
