//! Actors and objects across the nodes of an in-process `Cluster` (real QUIC on
//! 127.0.0.1): actors placed by resources, calls from other nodes kept in order, handles
//! and refs travelling inside values, named actors resolved from any node, and objects
//! freed on every node once no reference remains.

mod common;

use std::time::Duration;

use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::prelude::*;
use serde_bytes::ByteBuf;

pub struct Counter {
    n: u64,
    seen: Vec<u64>,
}

#[ray::remote]
impl Counter {
    pub fn new(start: u64) -> Self {
        Counter {
            n: start,
            seen: Vec::new(),
        }
    }

    /// Records `tag` and returns the count so far.
    pub fn incr(&mut self, tag: u64) -> u64 {
        self.n += 1;
        self.seen.push(tag);
        self.n
    }

    pub fn seen(&self) -> Vec<u64> {
        self.seen.clone()
    }

    pub fn node(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }

    pub async fn slow_echo(&self, s: String) -> String {
        futures_timer_free_sleep().await;
        s
    }

    pub fn fail(&self) -> Result<u64, String> {
        Err("asked to fail".into())
    }
}

/// A short async pause without a timer crate: yields a few times.
async fn futures_timer_free_sleep() {
    for _ in 0..10 {
        futures::future::ready(()).await;
    }
}

/// Keeps refs it is given (a borrower of objects owned elsewhere).
pub struct Keeper {
    kept: Vec<ray::ObjectRef<ByteBuf>>,
}

#[ray::remote]
impl Keeper {
    pub fn new() -> Self {
        Keeper { kept: Vec::new() }
    }

    pub fn keep(&mut self, refs: Vec<ray::ObjectRef<ByteBuf>>) -> Result<u64, String> {
        let values = ray::get(&refs).map_err(|e| e.to_string())?;
        self.kept.extend(refs);
        Ok(values.iter().map(|v| v.len() as u64).sum())
    }

    pub fn clear(&mut self) -> usize {
        let n = self.kept.len();
        self.kept.clear();
        n
    }
}

/// Holds a handle to a counter that lives on another node.
pub struct Holder {
    counter: Option<ActorHandle<Counter>>,
}

#[ray::remote]
impl Holder {
    pub fn new() -> Self {
        Holder { counter: None }
    }

    pub fn take(&mut self, c: ActorHandle<Counter>) {
        self.counter = Some(c);
    }

    pub fn call(&self) -> Result<u64, String> {
        let c = self.counter.as_ref().ok_or("no counter")?;
        ray::get(&c.incr.remote(0)).map_err(|e| e.to_string())
    }

    pub fn drop_it(&mut self) {
        self.counter = None;
    }
}

/// Calls the counter `n` times from whatever node runs this task, without waiting in
/// between, and returns what each call saw and where the task ran.
#[ray::remote]
fn hammer(c: ActorHandle<Counter>, from: u64, n: u64) -> Result<(ray::NodeId, Vec<u64>), String> {
    let refs: Vec<_> = (from..from + n).map(|i| c.incr.remote(i)).collect();
    let counts = ray::get(&refs).map_err(|e| e.to_string())?;
    Ok((ray::runtime_context().node_id(), counts))
}

/// Finds a named counter from whatever node runs this task and calls it.
#[ray::remote]
fn call_named(name: String) -> Result<(ray::NodeId, u64), String> {
    let c: ActorHandle<Counter> = ray::get_actor(&name).map_err(|e| e.to_string())?;
    let n = ray::get(&c.incr.remote(0)).map_err(|e| e.to_string())?;
    Ok((ray::runtime_context().node_id(), n))
}

/// Creates a named counter on the node that runs this task (it has the resource `b`).
#[ray::remote]
fn create_named_here(name: String) -> Result<ray::NodeId, String> {
    let c = Counter::options()
        .name(name)
        .detached()
        .resource("b", 0.5)
        .remote(100);
    ray::get(&c.ready()).map_err(|e| e.to_string())?;
    ray::get(&c.node.remote()).map_err(|e| e.to_string())
}

fn cluster() -> (Cluster, NodeHandle, NodeHandle) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let a = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("a", 1.0))
        .unwrap();
    let b = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("b", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    (cluster, a, b)
}

fn driver(cluster: &Cluster) -> common::Ray {
    common::join(&cluster.address())
}

#[test]
fn an_actor_on_one_node_serves_calls_from_a_task_on_another_in_order() {
    let (cluster, a, b) = cluster();
    let _ray = driver(&cluster);
    let c = Counter::options().resource("a", 1.0).remote(0);
    assert_eq!(ray::get(&c.node.remote()).unwrap(), a.node_id());
    // The driver's own calls keep their order.
    let first: Vec<_> = (0..50).map(|i| c.incr.remote(i)).collect();
    assert_eq!(ray::get(&first).unwrap(), (1..=50).collect::<Vec<_>>());
    // A task on node b calls the actor on node a through the handle it was given.
    let (ran_on, counts) = ray::get(&hammer.options().resource("b", 1.0).remote(
        c.clone(),
        50,
        200,
    ))
    .unwrap();
    assert_eq!(ran_on, b.node_id());
    assert_eq!(counts, (51..=250).collect::<Vec<_>>());
    // Every call ran once, in the order each caller made them.
    assert_eq!(
        ray::get(&c.seen.remote()).unwrap(),
        (0..250).collect::<Vec<_>>()
    );
    // Async methods, errors and readiness work across nodes too.
    assert_eq!(
        ray::get(&c.slow_echo.remote("hi".to_string())).unwrap(),
        "hi"
    );
    let err = ray::get(&c.fail.remote()).unwrap_err();
    assert!(err.to_string().contains("asked to fail"), "{err}");
    ray::get(&c.ready()).unwrap();
    // Two callers on two other nodes at once: each one's calls stay in its order.
    let t1 = hammer
        .options()
        .resource("b", 0.5)
        .remote(c.clone(), 1000, 100);
    let t2 = hammer
        .options()
        .resource("b", 0.5)
        .remote(c.clone(), 2000, 100);
    let (_, c1) = ray::get(&t1).unwrap();
    let (_, c2) = ray::get(&t2).unwrap();
    assert!(c1.windows(2).all(|w| w[0] < w[1]), "{c1:?}");
    assert!(c2.windows(2).all(|w| w[0] < w[1]), "{c2:?}");
    let seen = ray::get(&c.seen.remote()).unwrap();
    let of = |base: u64| {
        seen.iter()
            .copied()
            .filter(|t| (base..base + 100).contains(t))
            .collect::<Vec<_>>()
    };
    assert_eq!(of(1000), (1000..1100).collect::<Vec<_>>());
    assert_eq!(of(2000), (2000..2100).collect::<Vec<_>>());
}

#[test]
fn a_killed_remote_actor_fails_its_calls() {
    let (cluster, a, _b) = cluster();
    let _ray = driver(&cluster);
    let c = Counter::options().resource("a", 1.0).remote(0);
    assert_eq!(ray::get(&c.node.remote()).unwrap(), a.node_id());
    ray::kill(&c);
    let err = ray::get_timeout(&c.incr.remote(1), common::LONG).unwrap_err();
    assert!(matches!(err, ray::Error::ActorDied { .. }), "{err:?}");
}

#[test]
fn a_constructor_ref_argument_travels_to_the_node_the_actor_is_placed_on() {
    let (cluster, _a, _b) = cluster();
    let _ray = driver(&cluster);
    // A ref argument to the constructor travels by value.
    let start = ray::put(41u64);
    let c = Counter::options().resource("b", 1.0).remote(&start);
    assert_eq!(ray::get(&c.incr.remote(0)).unwrap(), 42);
}

#[test]
fn named_actors_resolve_from_any_node() {
    let (cluster, a, b) = cluster();
    let _ray = driver(&cluster);
    let _store = Counter::options()
        .name("counter-on-a")
        .resource("a", 1.0)
        .remote(10);
    // From a task on b, and from the driver.
    let (ran_on, n) = ray::get(
        &call_named
            .options()
            .resource("b", 1.0)
            .remote("counter-on-a".to_string()),
    )
    .unwrap();
    assert_eq!((ran_on, n), (b.node_id(), 11));
    let found: ActorHandle<Counter> = ray::get_actor("counter-on-a").unwrap();
    assert_eq!(ray::get(&found.node.remote()).unwrap(), a.node_id());
    assert_eq!(ray::get(&found.incr.remote(0)).unwrap(), 12);
    // The name is taken cluster-wide.
    let again = Counter::options().name("counter-on-a").remote(0);
    let err = ray::get(&again.ready()).unwrap_err();
    assert!(err.to_string().contains("counter-on-a"), "{err}");
    // A named actor created inside a task on b is found from the driver.
    let made_on = ray::get(
        &create_named_here
            .options()
            .resource("b", 0.5)
            .remote("made-on-b".to_string()),
    )
    .unwrap();
    assert_eq!(made_on, b.node_id());
    let there: ActorHandle<Counter> = ray::get_actor("made-on-b").unwrap();
    assert_eq!(ray::get(&there.incr.remote(0)).unwrap(), 101);
    assert!(ray::get_actor::<Counter>("nobody").is_err());
    // A killed named actor's name is free again.
    ray::kill(&there);
    assert!(common::wait_until(common::LONG, || {
        ray::get_actor::<Counter>("made-on-b").is_err()
    }));
}

#[test]
fn objects_are_freed_on_every_node_after_the_last_ref_drops() {
    let (cluster, a, b) = cluster();
    let _ray = driver(&cluster);
    const MB: usize = 1 << 20;
    let big = ray::put(ByteBuf::from(vec![7u8; 20 * MB]));
    let keeper = Keeper::options().resource("b", 1.0).remote();
    // The keeper on b pulls the object and keeps a copy while it holds the ref.
    assert_eq!(
        ray::get(&keeper.keep.remote(vec![big.clone()])).unwrap(),
        (20 * MB) as u64
    );
    assert!(common::wait_until(common::LONG, || common::store_bytes(
        b.node_id()
    ) >= (20 * MB) as u64));
    // The driver's ref goes; b's borrow keeps the value on the driver.
    let id = big.id();
    drop(big);
    std::thread::sleep(Duration::from_millis(300));
    assert!(ray::memory_summary().bytes_used >= 20 * MB);
    assert_eq!(ray::get(&keeper.clear.remote()).unwrap(), 1);
    // Once b dropped its copy and the driver's grace period ended, no node holds it.
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            ray::memory_summary().bytes_used < MB
                && common::store_bytes(a.node_id()) < MB as u64
                && common::store_bytes(b.node_id()) < MB as u64
        }),
        "object {id} still held: driver {} B, a {} B, b {} B",
        ray::memory_summary().bytes_used,
        common::store_bytes(a.node_id()),
        common::store_bytes(b.node_id())
    );
}

#[test]
fn an_actor_lives_while_a_handle_on_another_node_remains() {
    let (cluster, _a, _b) = cluster();
    let _ray = driver(&cluster);
    let c = Counter::options()
        .name("held-counter")
        .resource("a", 1.0)
        .remote(0);
    let holder = Holder::options().resource("b", 1.0).remote();
    ray::get(&holder.take.remote(c.clone())).unwrap();
    // The creator lets go; the holder on b still calls it after the grace period.
    drop(c);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(ray::get(&holder.call.remote()).unwrap(), 1);
    assert!(ray::get_actor::<Counter>("held-counter").is_ok());
    // The last handle goes: the actor stops, and its name with it.
    ray::get(&holder.drop_it.remote()).unwrap();
    assert!(common::wait_until(common::LONG, || {
        ray::get_actor::<Counter>("held-counter").is_err()
    }));
}

#[test]
fn a_drivers_actors_go_with_it_and_detached_ones_stay() {
    let (cluster, _a, _b) = cluster();
    {
        let _first = driver(&cluster);
        let owned = Counter::options()
            .name("owned")
            .resource("a", 1.0)
            .remote(0);
        let kept = Counter::options()
            .name("kept")
            .detached()
            .resource("b", 0.5)
            .remote(0);
        ray::get(&owned.ready()).unwrap();
        ray::get(&kept.ready()).unwrap();
        // The driver dies without letting go of its handles.
        std::mem::forget(owned);
        std::mem::forget(kept);
    }
    let _second = driver(&cluster);
    // Once the head takes the first driver's job as ended, its actor stops; the
    // detached one stays until killed.
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            ray::get_actor::<Counter>("owned").is_err()
        }),
        "{:?}",
        ray::jobs().unwrap()
    );
    let kept: ActorHandle<Counter> = ray::get_actor("kept").unwrap();
    assert_eq!(ray::get(&kept.incr.remote(0)).unwrap(), 1);
    assert!(ray::jobs().unwrap().iter().any(|j| !j.alive));
    ray::kill(&kept);
}
