//! A worker node's program may start its runtime with `init_with` as well as `init`:
//! either way it joins the cluster and serves tasks instead of returning. The worker is
//! this test binary itself, started again with `RAY_NODE_MODE=worker`, as
//! `ray start --address .. -- PROGRAM` starts a user's program.

mod common;

use std::process::Command;
use std::time::Duration;

use ray::prelude::*;

const TEST: &str = "init_with_in_a_worker_process_serves_until_stopped";

#[ray::remote]
fn node_of() -> ray::NodeId {
    ray::runtime_context().node_id()
}

#[test]
fn init_with_in_a_worker_process_serves_until_stopped() {
    if std::env::var("RAY_NODE_MODE").is_ok() {
        // The worker: its own config (a resource the head lacks). Returning from here
        // would end the process and the node with it.
        ray::init_with(ray::Config::new().num_cpus(1.0).resource("configured", 1.0))
            .expect("join as a worker node");
        return;
    }
    let _ray = common::init_with(ray::Config::new().head().num_cpus(0.0));
    let address = ray::runtime_context()
        .cluster_address()
        .expect("the head's address")
        .to_string();
    let worker = common::KillOnDrop(
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", TEST, "--nocapture"])
            .env("RAY_NODE_MODE", "worker")
            .env("RAY_ADDRESS", &address)
            .spawn()
            .expect("start the worker process"),
    );
    let joined = || {
        ray::nodes()
            .unwrap()
            .iter()
            .any(|n| n.alive && n.resources.contains_key("configured"))
    };
    assert!(
        common::wait_until(Duration::from_secs(60), joined),
        "the worker never joined with its config: {:?}",
        ray::nodes()
    );
    // Still serving well after init_with returned in the worker.
    std::thread::sleep(Duration::from_secs(2));
    let on = ray::get_timeout(
        &node_of.options().resource("configured", 1.0).remote(),
        common::LONG,
    )
    .expect("a task on the worker");
    assert_ne!(on, ray::runtime_context().node_id());
    drop(worker);
}
