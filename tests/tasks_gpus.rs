//! GPU ids: a `num_gpus` task or actor is told which GPUs it holds
//! (`runtime_context().gpu_ids()`): whole GPUs are its own, fractions share one, and the
//! ids come back when the work ends.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use ray::Config;
use ray::prelude::*;

static GATE: AtomicBool = AtomicBool::new(false);

/// Waits for `GATE` (so that several hold their GPUs at once), then says which it held.
#[ray::remote]
fn held_gpus() -> Vec<u32> {
    common::hold(&GATE);
    ray::runtime_context().gpu_ids()
}

#[ray::remote]
async fn held_gpus_async() -> Vec<u32> {
    ray::runtime_context().gpu_ids()
}

pub struct OnGpu;

#[ray::remote]
impl OnGpu {
    pub fn new() -> Self {
        OnGpu
    }

    pub fn gpus(&self) -> Vec<u32> {
        ray::runtime_context().gpu_ids()
    }
}

#[test]
fn whole_gpus_are_distinct_and_halves_share_one() {
    let _ray = common::init_with(Config::new().num_cpus(8.0).num_gpus(2.0));
    let halves: Vec<_> = (0..4)
        .map(|_| held_gpus.options().num_gpus(0.5).remote())
        .collect();
    assert!(common::available_becomes("GPU", 0.0));
    GATE.store(true, Ordering::SeqCst);
    let mut seen: Vec<Vec<u32>> = halves.iter().map(|r| ray::get(r).unwrap()).collect();
    seen.sort();
    // Four halves on two GPUs: two on each.
    assert_eq!(seen, vec![vec![0], vec![0], vec![1], vec![1]]);
    assert!(common::available_becomes("GPU", 2.0));

    GATE.store(false, Ordering::SeqCst);
    let wholes: Vec<_> = (0..2)
        .map(|_| held_gpus.options().num_gpus(1.0).remote())
        .collect();
    assert!(common::available_becomes("GPU", 0.0));
    GATE.store(true, Ordering::SeqCst);
    let mut ids: Vec<u32> = wholes.iter().flat_map(|r| ray::get(r).unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1]);
    assert_eq!(
        ray::get(&held_gpus.options().num_gpus(2.0).remote())
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        ray::get(&held_gpus_async.options().num_gpus(1.0).remote())
            .unwrap()
            .len(),
        1
    );
    // Work without `num_gpus` holds none.
    assert!(ray::get(&held_gpus.remote()).unwrap().is_empty());
    assert!(common::available_becomes("GPU", 2.0));
}

#[test]
fn an_actor_holds_its_gpu_for_its_lifetime() {
    let _ray = common::init_with(Config::new().num_cpus(4.0).num_gpus(1.0));
    let a = OnGpu::options().num_gpus(1.0).remote();
    assert_eq!(ray::get(&a.gpus.remote()).unwrap(), vec![0]);
    assert!(common::available_becomes("GPU", 0.0));
    drop(a);
    assert!(common::available_becomes("GPU", 1.0));
}

#[ray::remote]
fn gpu_node() -> (ray::NodeId, Vec<u32>) {
    (
        ray::runtime_context().node_id(),
        ray::runtime_context().gpu_ids(),
    )
}

#[test]
fn a_gpu_task_in_a_cluster_without_gpus_waits_says_so_and_runs_when_one_joins() {
    use ray::cluster_utils::{Cluster, NodeConfig};
    common::tracing();
    // No GPUs on the head or the driver, also on a machine that has one.
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0).num_gpus(0.0)).unwrap();
    cluster.wait_for_nodes().unwrap();
    let _ray = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .num_gpus(0.0)
            .heartbeat_interval(std::time::Duration::from_millis(100))
            .node_timeout(std::time::Duration::from_secs(1)),
    );
    let r = gpu_node.options().num_gpus(1.0).remote();
    // No GPU anywhere: it waits, and the cluster reports the demand.
    assert!(common::wait_until(common::LONG, || ray::pending_demands()
        .unwrap()
        .iter()
        .any(|d| d.contains("GPU"))));
    assert!(!r.is_ready());
    let gpu_box = cluster
        .add_node(NodeConfig::new().num_cpus(1.0).num_gpus(1.0))
        .unwrap();
    let (ran_on, ids) = ray::get_timeout(&r, std::time::Duration::from_secs(20)).unwrap();
    assert_eq!(ran_on, gpu_box.node_id());
    assert_eq!(ids, vec![0]);
}
