//! Refs handed from one node to another stay for the receiver however long it takes to
//! pull them, and no longer than it needs them. The driver here waits three times the
//! node timeout before every pull (`Config::testing_pull_delay`) and still gets every
//! value a worker node made and sent it a ref to (in a task's result, in an actor
//! method's result, nested inside another object); once it lets go, the worker frees
//! them all. The other way round, a worker node that pulls as late still gets the refs
//! an actor it hosts was created with.

mod common;

use std::time::Duration;

use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::prelude::*;
use serde_bytes::ByteBuf;

const MB: usize = 1 << 20;
/// The nodes' timeout (the old grace period for refs in messages).
const TIMEOUT: Duration = Duration::from_secs(1);

fn value(n: u8) -> ByteBuf {
    ByteBuf::from(vec![n; 2 * MB])
}

/// A ref to a value made on the node this runs on, inside the task's result.
#[ray::remote]
fn made_here(n: u8) -> Vec<ObjectRef<ByteBuf>> {
    vec![ray::put(value(n))]
}

/// Makes values on its node and sends refs to them.
pub struct Maker {
    kept: Option<ObjectRef<ByteBuf>>,
}

#[ray::remote]
impl Maker {
    pub fn new() -> Self {
        Maker { kept: None }
    }

    /// A ref to a new value made here.
    pub fn make(&self, n: u8) -> ObjectRef<ByteBuf> {
        ray::put(value(n))
    }

    /// A ref to a new value that holds a ref to another new value, both made here.
    pub fn nest(&self, n: u8) -> ObjectRef<Vec<ObjectRef<ByteBuf>>> {
        ray::put(vec![ray::put(value(n))])
    }

    /// The same ref each time (made on the first call), kept here too.
    pub fn share(&mut self) -> ObjectRef<ByteBuf> {
        self.kept.get_or_insert_with(|| ray::put(value(9))).clone()
    }

    pub fn forget(&mut self) -> bool {
        self.kept.take().is_some()
    }
}

/// Keeps the refs it was created with.
pub struct Holder {
    refs: Vec<ObjectRef<ByteBuf>>,
}

#[ray::remote]
impl Holder {
    pub fn new(refs: Vec<ObjectRef<ByteBuf>>) -> Self {
        Holder { refs }
    }

    /// The first ref's value, or why it could not be read.
    pub fn read(&self) -> Result<ByteBuf, String> {
        ray::get(&self.refs[0]).map_err(|e| e.to_string())
    }
}

/// A head with no CPUs and one worker node with resource `b`, and a driver whose every
/// pull waits `3 × TIMEOUT`.
fn cluster() -> (Cluster, NodeHandle, common::Ray) {
    common::tracing();
    let mut cluster =
        Cluster::new(NodeConfig::new().num_cpus(0.0).node_timeout(TIMEOUT)).expect("a head");
    let b = cluster
        .add_node(
            NodeConfig::new()
                .num_cpus(2.0)
                .resource("b", 1.0)
                .node_timeout(TIMEOUT),
        )
        .expect("a node");
    cluster.wait_for_nodes().expect("nodes joined");
    let driver = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(TIMEOUT)
            .testing_pull_delay(TIMEOUT * 3),
    );
    (cluster, b, driver)
}

#[test]
fn a_ref_pulled_after_more_than_the_node_timeout_still_gets_its_value() {
    let (_cluster, b, _driver) = cluster();
    // In a task's result: the task's own refs to the value are gone when it returns.
    let refs = ray::get(&made_here.options().resource("b", 0.5).remote(1)).unwrap();
    assert_eq!(ray::get(&refs[0]).unwrap(), value(1));
    // In an actor method's result.
    let maker = Maker::options().resource("b", 0.5).remote();
    let made = ray::get(&maker.make.remote(2)).unwrap();
    assert_eq!(ray::get(&made).unwrap(), value(2));
    // Nested: the inner ref arrives inside the outer value, pulled 3 timeouts later.
    let outer = ray::get(&maker.nest.remote(3)).unwrap();
    let inner = ray::get(&outer).unwrap();
    assert_eq!(ray::get(&inner[0]).unwrap(), value(3));
    // The same ref twice: the second joins the copy already here (and gives back the
    // borrow it came with).
    let first = ray::get(&maker.share.remote()).unwrap();
    let second = ray::get(&maker.share.remote()).unwrap();
    assert_eq!(ray::get(&second).unwrap(), value(9));
    assert_eq!(first.id(), second.id());
    // b keeps every value while the driver holds a ref: 4 values of 2 MiB.
    assert!(
        common::wait_until(common::LONG, || common::store_bytes(b.node_id())
            >= 8 * MB as u64),
        "b holds {} B",
        common::store_bytes(b.node_id())
    );
    // Once the driver lets go (and the actor forgets its own), b frees them all: no
    // borrow was counted twice or left behind.
    drop((refs, made, outer, inner, first, second));
    assert!(ray::get(&maker.forget.remote()).unwrap());
    assert!(
        common::wait_until(Duration::from_secs(20), || common::store_bytes(b.node_id())
            < MB as u64),
        "b still holds {} B",
        common::store_bytes(b.node_id())
    );
}

#[test]
fn an_actor_gets_the_refs_it_was_created_with_however_late_its_node_pulls() {
    common::tracing();
    let mut cluster =
        Cluster::new(NodeConfig::new().num_cpus(0.0).node_timeout(TIMEOUT)).expect("a head");
    cluster
        .add_node(
            NodeConfig::new()
                .num_cpus(2.0)
                .resource("b", 1.0)
                .node_timeout(TIMEOUT)
                .testing_pull_delay(TIMEOUT * 3),
        )
        .expect("a node");
    cluster.wait_for_nodes().expect("nodes joined");
    let _driver = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(TIMEOUT),
    );
    // The driver's only ref goes with the creation: nothing here keeps the value but the
    // loan to the actor's node, which pulls it three node timeouts later.
    let holder = Holder::options()
        .resource("b", 0.5)
        .remote(vec![ray::put(value(7))]);
    assert_eq!(ray::get(&holder.read.remote()).unwrap(), value(7));
}
