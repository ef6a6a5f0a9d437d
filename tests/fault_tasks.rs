//! Tasks whose node dies under them (an in-process `Cluster` node removed abruptly):
//! tried again on another node that fits (`max_retries`, default 3), or failed with
//! `NodeDied` when retries are off; and a ref whose owning node died gives `OwnerDied`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use ray::cluster_utils::{Cluster, NodeHandle};
use ray::prelude::*;

/// Where the first attempt started; later attempts run through.
static FIRST: Mutex<Option<ray::NodeId>> = Mutex::new(None);
static RELEASE: AtomicBool = AtomicBool::new(false);

/// Doubles `x`, holding the first attempt until `RELEASE` (so its node can be removed
/// while it runs).
#[ray::remote]
fn double_slowly(x: u64) -> (ray::NodeId, u64, u32) {
    let here = ray::runtime_context().node_id();
    let first = {
        let mut f = FIRST.lock();
        let first = f.is_none();
        f.get_or_insert(here);
        first
    };
    if first {
        common::hold(&RELEASE);
    }
    (here, x * 2, ray::runtime_context().attempt())
}

/// Waits for the first attempt to start and removes its node.
fn remove_first_node(cluster: &mut Cluster, nodes: &[NodeHandle]) -> ray::NodeId {
    assert!(common::wait_until(common::LONG, || FIRST.lock().is_some()));
    let first = FIRST.lock().expect("started");
    let victim = nodes
        .iter()
        .find(|n| n.node_id() == first)
        .expect("a cluster node");
    cluster.remove_node(victim);
    first
}

#[test]
fn a_task_whose_node_dies_is_retried_elsewhere_with_the_right_result() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&cluster.address());
    let r = double_slowly.options().resource("r", 1.0).remote(21);
    let dead = remove_first_node(&mut cluster, &nodes);
    let (ran_on, value, attempt) = ray::get_timeout(&r, Duration::from_secs(30)).unwrap();
    assert_eq!(value, 42);
    // The second try, and the task knows it.
    assert_eq!(attempt, 1);
    assert_ne!(ran_on, dead);
    assert!(nodes.iter().any(|n| n.node_id() == ran_on));
    RELEASE.store(true, Ordering::SeqCst);
}

#[test]
fn without_retries_a_task_whose_node_dies_fails_with_node_died() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let r = double_slowly
        .options()
        .resource("r", 1.0)
        .max_retries(0)
        .remote(1);
    let dead = remove_first_node(&mut cluster, &nodes);
    let err = ray::get_timeout(&r, Duration::from_secs(30)).unwrap_err();
    assert!(
        matches!(err, ray::Error::NodeDied { node_id } if node_id == dead),
        "{err:?}"
    );
    RELEASE.store(true, Ordering::SeqCst);
}

/// Puts a value on the node that runs it and returns the encoded ref (as a user could
/// keep it in a file), not a live ref: nothing on the driver holds the value.
#[ray::remote]
fn put_here(v: String) -> Result<serde_bytes::ByteBuf, String> {
    let r = ray::put(v);
    rmp_serde::to_vec(&r)
        .map(serde_bytes::ByteBuf::from)
        .map_err(|e| e.to_string())
}

#[test]
fn a_ref_whose_owner_died_gives_owner_died() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&cluster.address());
    let bytes = ray::get(
        &put_here
            .options()
            .resource("r", 1.0)
            .remote("hi".to_string()),
    )
    .unwrap();
    // Where did it run? Remove both nodes: the owner is one of them.
    for n in &nodes {
        cluster.remove_node(n);
    }
    let r: ray::ObjectRef<String> = rmp_serde::from_slice(&bytes).unwrap();
    let err = ray::get_timeout(&r, Duration::from_secs(20)).unwrap_err();
    assert!(
        matches!(err, ray::Error::OwnerDied { object_id } if object_id == r.id()),
        "{err:?}"
    );
}
