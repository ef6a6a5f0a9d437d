//! Large task results stay on the node that made them until read (as in Ray); when that
//! node dies first, reading the result runs the task again elsewhere (lineage
//! reconstruction), or gives `ObjectLost` when it cannot be made again.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use ray::cluster_utils::{Cluster, NodeHandle};
use ray::prelude::*;

const MIB: usize = 1 << 20;

/// How many times `block` ran, and where it ran last (nodes share this process).
static RUNS: AtomicUsize = AtomicUsize::new(0);
static MADE_ON: Mutex<Option<ray::NodeId>> = Mutex::new(None);

/// One MiB that says which seed made it, with where and in which attempt.
#[ray::remote]
fn block(seed: u8) -> (ray::NodeId, u32, Vec<u8>) {
    let here = ray::runtime_context().node_id();
    *MADE_ON.lock() = Some(here);
    RUNS.fetch_add(1, Ordering::SeqCst);
    (here, ray::runtime_context().attempt(), vec![seed; MIB])
}

/// Waits until `block` ran once and its node reports holding the result; returns that
/// node.
fn held_on_its_node() -> ray::NodeId {
    assert!(common::wait_until(common::LONG, || RUNS
        .load(Ordering::SeqCst)
        == 1));
    let holder = MADE_ON.lock().expect("ran");
    assert!(
        common::wait_until(common::LONG, || common::store_bytes(holder) >= MIB as u64),
        "the result is not held on the node that made it"
    );
    holder
}

fn driver(cluster: &Cluster, lineage: usize) -> common::Ray {
    common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(Duration::from_secs(1))
            .max_lineage_bytes(lineage),
    )
}

fn remove(cluster: &mut Cluster, nodes: &[NodeHandle], id: ray::NodeId) {
    let victim = nodes.iter().find(|n| n.node_id() == id).expect("a node");
    cluster.remove_node(victim);
}

#[test]
fn a_result_whose_only_copy_died_with_its_node_is_made_again_on_get() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster, 1 << 30);
    let r = block.options().resource("r", 1.0).remote(7);
    let holder = held_on_its_node();
    // Until read, the value is not on the driver.
    assert!(ray::memory_summary().bytes_used < MIB);
    remove(&mut cluster, &nodes, holder);

    let (made_on, attempt, data) = ray::get_timeout(&r, Duration::from_secs(30)).unwrap();
    assert_ne!(made_on, holder);
    assert_eq!(attempt, 1, "made again, and the task knows it");
    assert!(data.len() == MIB && data.iter().all(|&b| b == 7));
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    // Read once, kept here: no third run, and the new holder let its copy go.
    assert_eq!(ray::get(&r).unwrap().2.len(), MIB);
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    assert!(ray::memory_summary().bytes_used >= MIB);
    assert!(common::wait_until(common::LONG, || common::store_bytes(
        made_on
    ) == 0));
}

#[test]
fn a_lost_result_with_no_retries_left_is_object_lost() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster, 1 << 30);
    let r = block.options().resource("r", 1.0).max_retries(0).remote(1);
    let holder = held_on_its_node();
    remove(&mut cluster, &nodes, holder);
    match ray::get_timeout(&r, Duration::from_secs(30)) {
        Err(ray::Error::ObjectLost { object_id, reason }) => {
            assert_eq!(object_id, r.id());
            assert!(reason.contains("max_retries"), "{reason}");
        }
        other => panic!("expected ObjectLost, got {other:?}"),
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}

#[test]
fn lineage_over_its_cap_is_not_kept() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    // No room for any lineage: the result cannot be made again.
    let _ray = driver(&cluster, 0);
    let r = block.options().resource("r", 1.0).remote(2);
    let holder = held_on_its_node();
    remove(&mut cluster, &nodes, holder);
    match ray::get_timeout(&r, Duration::from_secs(30)) {
        Err(ray::Error::ObjectLost { reason, .. }) => {
            assert!(reason.contains("max_lineage_bytes"), "{reason}")
        }
        other => panic!("expected ObjectLost, got {other:?}"),
    }
}

#[test]
fn a_held_result_is_freed_on_its_node_when_the_owner_drops_it_unread() {
    let (_cluster, _nodes) = common::two_nodes_with("r");
    let _ray = driver(&_cluster, 1 << 30);
    let r = block.options().resource("r", 1.0).remote(3);
    let holder = held_on_its_node();
    drop(r);
    assert!(
        common::wait_until(common::LONG, || common::store_bytes(holder) == 0),
        "the holder kept a result nobody holds a ref to"
    );
}

#[ray::remote]
fn length(data: (ray::NodeId, u32, Vec<u8>)) -> usize {
    data.2.len()
}

#[test]
fn a_held_result_passed_to_another_task_and_to_wait_arrives() {
    let (_cluster, _nodes) = common::two_nodes_with("r");
    let _ray = driver(&_cluster, 1 << 30);
    let r = block.options().resource("r", 1.0).remote(4);
    let holder = held_on_its_node();
    assert_eq!(
        ray::get(&length.options().resource("r", 1.0).remote(&r)).unwrap(),
        MIB
    );
    let (ready, _) = ray::wait(std::slice::from_ref(&r), 1, Some(common::LONG)).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(common::wait_until(common::LONG, || common::store_bytes(
        holder
    ) == 0));
}

/// Holds the node's only CPU for `ms` milliseconds.
#[ray::remote]
fn hold_cpu(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// The length of the first value, read only when the task runs (refs inside a `Vec` are
/// decoded, and pulled, by the task's body).
#[ray::remote]
fn first_len(refs: Vec<ray::ObjectRef<serde_bytes::ByteBuf>>) -> Result<u64, String> {
    let v = ray::get(&refs[0]).map_err(|e| e.to_string())?;
    Ok(v.len() as u64)
}

/// A ref sent to another node stays pinned until that node is done with the request
/// that carried it, however long the request waits there: here the receiving task
/// queues behind another for three node timeouts before it decodes and pulls the ref,
/// and the sender dropped its own ref right after sending.
#[test]
fn a_ref_pulled_long_after_it_was_sent_still_arrives() {
    let (cluster, _nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster, 1 << 30);
    // Both nodes busy for 3 s: whichever gets the reader queues it behind the holder.
    let busy: Vec<_> = (0..2)
        .map(|_| hold_cpu.options().resource("r", 1.0).remote(3_000))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let big = ray::put(serde_bytes::ByteBuf::from(vec![9u8; MIB]));
    let len = first_len
        .options()
        .resource("r", 1.0)
        .remote(vec![big.clone()]);
    drop(big);
    let got = ray::get_timeout(&len, Duration::from_secs(30));
    assert_eq!(got.expect("the ref arrived"), MIB as u64);
    for b in &busy {
        assert_eq!(ray::get(b).unwrap(), 3_000);
    }
}
