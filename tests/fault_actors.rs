//! Actors whose node dies (an in-process `Cluster` node removed abruptly): with
//! `max_restarts` they come back on another node that fits, from their constructor
//! (fresh state), and their creator's handle reaches them there; without, calls fail
//! with `ActorDied`, never hang.

mod common;

use std::time::{Duration, Instant};

use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::prelude::*;

pub struct Tally {
    n: u64,
}

#[ray::remote]
impl Tally {
    pub fn new(start: u64) -> Self {
        Tally { n: start }
    }

    pub fn add(&mut self, k: u64) -> u64 {
        self.n += k;
        self.n
    }

    pub fn node(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }

    /// Adds `k`, the first time only after `GATE` opens (so its node can die meanwhile);
    /// returns where it ran.
    pub fn add_slowly(&mut self, k: u64) -> (u64, ray::NodeId) {
        if !STARTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            common::hold(&GATE);
        }
        self.n += k;
        (self.n, ray::runtime_context().node_id())
    }
}

static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn driver(cluster: &Cluster) -> common::Ray {
    common::join(&cluster.address())
}

fn remove(cluster: &mut Cluster, nodes: &[NodeHandle], id: ray::NodeId) {
    let victim = nodes
        .iter()
        .find(|n| n.node_id() == id)
        .expect("a cluster node");
    cluster.remove_node(victim);
}

#[test]
fn an_actor_with_max_restarts_comes_back_elsewhere_with_fresh_state() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster);
    let t = Tally::options()
        .resource("r", 1.0)
        .max_restarts(1)
        .remote(100);
    let first = ray::get(&t.node.remote()).unwrap();
    assert_eq!(ray::get(&t.add.remote(5)).unwrap(), 105);
    remove(&mut cluster, &nodes, first);
    // Calls made before the restart may fail (they were on their way to the dead node);
    // once it is back, the state is the constructor's again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        match ray::get_timeout(&t.add.remote(1), Duration::from_secs(10)) {
            Ok(n) => break n,
            Err(e) => {
                // Lost with the node while the actor restarts.
                assert!(matches!(e, ray::Error::ActorUnavailable { .. }), "{e:?}");
                assert!(Instant::now() < deadline, "the actor never came back");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(back, 101);
    let second = ray::get(&t.node.remote()).unwrap();
    assert_ne!(second, first);
    assert_eq!(ray::get(&t.add.remote(1)).unwrap(), 102);
}

/// Its constructor's large argument went as a ref: the creator keeps the object while the
/// actor may restart, even after dropping its own ref, and the new node pulls it.
#[test]
fn an_actor_made_from_a_large_ref_is_made_from_it_again_after_its_node_died() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster);
    let seed = ray::put(vec![4u8; 2 << 20]);
    let k = common::Keeper::options()
        .resource("r", 1.0)
        .max_restarts(1)
        .remote(&seed);
    drop(seed);
    let want = 4 * (2 << 20) as u64;
    let (first, sum) = ray::get_timeout(&k.sum.remote(), common::LONG).unwrap();
    assert_eq!(sum, want);
    remove(&mut cluster, &nodes, first);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (second, sum) = loop {
        match ray::get_timeout(&k.sum.remote(), Duration::from_secs(10)) {
            Ok(got) => break got,
            Err(e) => {
                assert!(matches!(e, ray::Error::ActorUnavailable { .. }), "{e:?}");
                assert!(Instant::now() < deadline, "the actor never came back");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_ne!(second, first);
    assert_eq!(sum, want, "made again from the same object");
}

#[test]
fn without_restarts_calls_to_an_actor_whose_node_died_fail() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster);
    let t = Tally::options().resource("r", 1.0).remote(0);
    let first = ray::get(&t.node.remote()).unwrap();
    remove(&mut cluster, &nodes, first);
    let err = ray::get_timeout(&t.add.remote(1), Duration::from_secs(20)).unwrap_err();
    assert!(matches!(err, ray::Error::ActorDied { .. }), "{err:?}");
}

#[test]
fn with_max_task_retries_a_call_in_flight_runs_again_on_the_restarted_actor() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _ray = driver(&cluster);
    let t = Tally::options()
        .resource("r", 1.0)
        .max_restarts(1)
        .max_task_retries(1)
        .remote(10);
    let first = ray::get(&t.node.remote()).unwrap();
    let r = t.add_slowly.remote(1);
    assert!(common::wait_until(common::LONG, || STARTED
        .load(std::sync::atomic::Ordering::SeqCst)));
    remove(&mut cluster, &nodes, first);
    // The call that was running when its node died runs again on the new instance.
    let (n, ran_on) = ray::get_timeout(&r, Duration::from_secs(30)).unwrap();
    assert_eq!(n, 11);
    assert_ne!(ran_on, first);
    GATE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// What `poke` returns once the handle reaches the restarted actor; until then each
/// call fails saying the actor is unavailable.
fn until_back(which: &str, poke: impl Fn() -> ObjectRef<u64>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ray::get_timeout(&poke(), Duration::from_secs(30)) {
            Ok(n) => return n,
            Err(e) => {
                // The handle's error, passed on as the calling method's error.
                assert!(e.to_string().contains("unavailable"), "{which}: {e}");
                assert!(Instant::now() < deadline, "{which} never got back");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Holds a handle to a `Tally` made elsewhere (a borrowed handle) and calls it.
pub struct Caller {
    tally: ActorHandle<Tally>,
}

#[ray::remote]
impl Caller {
    /// With the handle given, or else the one `ray::get_actor` finds by `name`.
    pub fn new(tally: Option<ActorHandle<Tally>>, name: String) -> Result<Self, String> {
        let tally = match tally {
            Some(t) => t,
            None => ray::get_actor::<Tally>(&name).map_err(|e| e.to_string())?,
        };
        Ok(Caller { tally })
    }

    /// Adds `k` through the borrowed handle: the new count, or its error's text.
    pub fn poke(&self, k: u64) -> std::result::Result<u64, String> {
        ray::get_timeout(&self.tally.add.remote(k), Duration::from_secs(20))
            .map_err(|e| e.to_string())
    }

    pub fn tally_node(&self) -> std::result::Result<ray::NodeId, String> {
        ray::get_timeout(&self.tally.node.remote(), Duration::from_secs(20))
            .map_err(|e| e.to_string())
    }
}

#[test]
fn handles_on_other_nodes_passed_or_found_by_name_follow_the_restarted_actor() {
    let (mut cluster, nodes) = common::two_nodes_with("r");
    // The borrower's node and the finder's: they can never host the tally.
    let third = cluster
        .add_node(NodeConfig::new().num_cpus(1.0).resource("c", 1.0))
        .unwrap();
    cluster
        .add_node(NodeConfig::new().num_cpus(1.0).resource("d", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    let _ray = driver(&cluster);
    let t = Tally::options()
        .name("followed")
        .resource("r", 1.0)
        .max_restarts(1)
        .remote(0);
    let first = ray::get(&t.node.remote()).unwrap();
    // A handle passed to one node, and one found by name (in the head's directory) on
    // another.
    let caller = Caller::options()
        .resource("c", 1.0)
        .remote(Some(t.clone()), String::new());
    let finder = Caller::options()
        .resource("d", 1.0)
        .remote(None, "followed".to_string());
    assert_eq!(ray::get(&caller.poke.remote(1)).unwrap(), 1);
    assert_eq!(ray::get(&finder.poke.remote(0)).unwrap(), 1);
    assert_eq!(ray::get(&caller.tally_node.remote()).unwrap(), first);
    remove(&mut cluster, &nodes, first);

    // Lost calls say the actor is unavailable; then both handles reach the new
    // instance (fresh state) on the other node.
    let back = until_back("the borrowed handle", || caller.poke.remote(10));
    assert_eq!(back, 10);
    assert_eq!(
        until_back("the handle found by name", || finder.poke.remote(0)),
        10
    );
    assert_eq!(ray::get(&caller.poke.remote(5)).unwrap(), 15);
    let moved_to = ray::get(&caller.tally_node.remote()).unwrap();
    assert_ne!(moved_to, first);
    assert_ne!(moved_to, third.node_id());
    // The creator's handle and the borrowed one reach the same instance.
    assert_eq!(ray::get(&t.add.remote(1)).unwrap(), 16);
}
