//! Large objects passed to tasks on other nodes travel as references: each node pulls
//! one copy, decodes it once and lends it to every task there that takes it; a large
//! result made on one node goes straight to the node of the task that reads it, never
//! through the driver that owns it; and a task whose arguments were sent by reference is
//! made again when its result is lost.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

const MIB: usize = 1 << 20;

/// How many times a `Counted` was decoded, on any node (they share this process).
static DECODES: AtomicUsize = AtomicUsize::new(0);

/// Bytes that count their decodings.
#[derive(Clone, Serialize)]
struct Counted(#[serde(with = "serde_bytes")] Vec<u8>);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DECODES.fetch_add(1, Ordering::SeqCst);
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        Ok(Counted(bytes.into_vec()))
    }
}

/// Where it ran, where the bytes it read are, and their sum. Slow enough that every
/// task sent at once is on its node before the first one ends.
#[ray::remote]
fn inspect(c: &Counted) -> (ray::NodeId, u64, u64) {
    std::thread::sleep(Duration::from_millis(300));
    let sum = c.0.iter().map(|&b| u64::from(b)).sum();
    (ray::runtime_context().node_id(), c.0.as_ptr() as u64, sum)
}

/// A head with no CPUs, and nodes `a` and `b` with 2 CPUs and their own resource.
fn cluster() -> (Cluster, NodeHandle, NodeHandle, common::Ray) {
    cluster_with(ray::Config::new())
}

/// [`cluster`], its driver started from `driver`.
fn cluster_with(driver: ray::Config) -> (Cluster, NodeHandle, NodeHandle, common::Ray) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(0.0)).expect("a head");
    let mut node = |r: &str| {
        cluster
            .add_node(NodeConfig::new().num_cpus(2.0).resource(r, 8.0))
            .expect("a node")
    };
    let (a, b) = (node("a"), node("b"));
    cluster.wait_for_nodes().expect("nodes joined");
    let driver = common::init_with(
        driver
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(Duration::from_secs(1)),
    );
    (cluster, a, b, driver)
}

#[test]
fn a_large_argument_is_pulled_and_decoded_once_per_node_for_all_its_tasks() {
    let (_cluster, a, b, _driver) = cluster();
    let data = ray::put(Counted(vec![3; 2 * MIB]));
    let calls: Vec<_> = ["a", "b"]
        .iter()
        .flat_map(|r| (0..6).map(|_| inspect.options().resource(*r, 1.0).remote(&data)))
        .collect();
    let results = ray::get(&calls).unwrap();
    for (node, tasks) in [(a.node_id(), &results[..6]), (b.node_id(), &results[6..])] {
        assert!(
            tasks
                .iter()
                .all(|(n, _, sum)| *n == node && *sum == 6 * MIB as u64)
        );
        // One copy on the node, lent to each task: the same bytes for all.
        assert!(
            tasks.iter().all(|(_, at, _)| *at == tasks[0].1),
            "the tasks on {node} read different copies: {tasks:?}"
        );
    }
    assert_eq!(
        DECODES.load(Ordering::SeqCst),
        2,
        "one decoding per node for 12 tasks (by value, each task decoded its own)"
    );
}

/// A large result, made on whichever node runs it.
#[ray::remote]
fn made(seed: u8) -> Vec<u8> {
    vec![seed; 8 * MIB]
}

#[ray::remote]
fn total(v: &[u8]) -> (ray::NodeId, u64) {
    (
        ray::runtime_context().node_id(),
        v.iter().map(|&b| u64::from(b)).sum(),
    )
}

#[test]
fn a_result_goes_from_node_to_node_without_passing_through_its_owner() {
    let (_cluster, a, b, _driver) = cluster();
    let r = made.options().resource("a", 1.0).remote(5);
    // Made, and left where it was made (`fetch_local = false`).
    let (ready, _) =
        ray::wait_with(std::slice::from_ref(&r), 1, Some(common::LONG), false).unwrap();
    assert_eq!(ready.len(), 1);
    assert!(ray::memory_summary().bytes_used < MIB);
    // Read on the other node, and on the node that made it (which lends its own copy).
    let there = total.options().resource("b", 1.0).remote(&r);
    let here = total.options().resource("a", 1.0).remote(&r);
    let expect = 5 * 8 * MIB as u64;
    assert_eq!(ray::get(&there).unwrap(), (b.node_id(), expect));
    assert_eq!(ray::get(&here).unwrap(), (a.node_id(), expect));
    // The driver owns the result but never held its bytes.
    assert!(
        ray::memory_summary().bytes_used < MIB,
        "the driver holds {} B",
        ray::memory_summary().bytes_used
    );
    // Read by the driver itself: it comes here, and the node that made it lets go.
    assert_eq!(ray::get(&r).unwrap().len(), 8 * MIB);
    assert!(ray::memory_summary().bytes_used >= 8 * MIB);
    assert!(common::wait_until(common::LONG, || common::store_bytes(
        a.node_id()
    ) < MIB as u64));
}

/// How many times `tripled` ran, and where it ran last.
static RUNS: AtomicUsize = AtomicUsize::new(0);
static RAN_ON: parking_lot::Mutex<Option<ray::NodeId>> = parking_lot::Mutex::new(None);

/// Three times as large as its argument: the node holds more once the result is kept
/// than its copy of the argument alone.
#[ray::remote]
fn tripled(v: &[u8]) -> Vec<u8> {
    *RAN_ON.lock() = Some(ray::runtime_context().node_id());
    RUNS.fetch_add(1, Ordering::SeqCst);
    v.repeat(3)
}

#[test]
fn a_lost_result_of_a_task_that_took_a_reference_is_made_again() {
    common::tracing();
    let (mut cluster, nodes) = common::two_nodes_with("r");
    let _driver = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(Duration::from_secs(1)),
    );
    // The driver's only ref to the argument goes: the lineage keeps it.
    let r = tripled
        .options()
        .resource("r", 1.0)
        .remote(ray::put(vec![21u8; MIB]));
    assert!(common::wait_until(common::LONG, || RUNS
        .load(Ordering::SeqCst)
        == 1));
    let holder = RAN_ON.lock().expect("ran");
    assert!(common::wait_until(common::LONG, || common::store_bytes(
        holder
    ) >= 3 * MIB as u64));
    let victim = nodes
        .iter()
        .find(|n| n.node_id() == holder)
        .expect("a node");
    cluster.remove_node(victim);

    let v = ray::get_timeout(&r, Duration::from_secs(30)).unwrap();
    assert!(v.len() == 3 * MIB && v.iter().all(|&b| b == 21));
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    assert_ne!(RAN_ON.lock().expect("ran"), holder);
}

/// The sum of an object shared by reference and of a buffer passed by value.
#[ray::remote]
fn weigh(shared: &[u8], own: serde_bytes::ByteBuf) -> u64 {
    shared.iter().chain(own.iter()).map(|&b| u64::from(b)).sum()
}

/// Tasks on one node taking the same object: their arguments are decoded at once, some
/// on the node's thread and some (those with a large value) on others, while the copies
/// of earlier rounds lose their last refs. Each task must read the object whole: one
/// copy per object on the node, never a second one that takes the first's slot.
#[test]
fn tasks_decoded_at_once_on_one_node_share_its_copy_of_their_argument() {
    let (_cluster, _a, _b, _driver) = cluster();
    let mut running = std::collections::VecDeque::new();
    let check = |(round, i, r, want): (u8, usize, ObjectRef<u64>, u64)| {
        let got = ray::get_timeout(&r, common::LONG);
        let got = got.unwrap_or_else(|e| panic!("round {round}, task {i}: {e}"));
        assert_eq!(got, want, "round {round}, task {i}");
    };
    for round in 0..40u8 {
        let shared = ray::put(vec![round; MIB / 2]);
        for i in 0..6usize {
            let own = serde_bytes::ByteBuf::from(vec![1u8; if i % 2 == 0 { MIB } else { 8 }]);
            let r = weigh
                .options()
                .resource("a", 1.0)
                .remote(&shared, own.clone());
            let want = u64::from(round) * (MIB / 2) as u64 + own.len() as u64;
            running.push_back((round, i, r, want));
        }
        // Two rounds in flight: the next round's copies are made as this one's go.
        while running.len() > 12 {
            running.pop_front().map(check);
        }
    }
    running.into_iter().for_each(check);
}

/// `len` bytes of `seed`, made on whichever node runs it.
#[ray::remote]
fn filled(seed: u8, len: usize) -> Vec<u8> {
    vec![seed; len]
}

/// `len` bytes of `seed` made on node `a` and left there (Ray's `fetch_local=False`).
fn held_on_a(seed: u8, len: usize) -> ObjectRef<Vec<u8>> {
    let r = filled.options().resource("a", 1.0).remote(seed, len);
    let (ready, _) =
        ray::wait_with(std::slice::from_ref(&r), 1, Some(common::LONG), false).unwrap();
    assert_eq!(ready.len(), 1);
    r
}

/// The driver's store never held a large argument it passed on.
fn driver_never_held_it() {
    let bytes = ray::memory_summary().bytes_used;
    assert!(
        bytes < MIB,
        "the driver pulled the argument: it holds {bytes} B"
    );
}

/// Opened when the tasks holding node `a`'s CPUs may end.
static A_FREE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds a CPU of its node until `A_FREE` opens.
#[ray::remote]
fn hold_cpu() {
    common::hold(&A_FREE);
}

/// A task that asks for nothing special goes where its large argument is: to the node
/// that made and holds it, even with the driver's own CPUs free. While that node is
/// busy it is placed as any task (here: the driver, which is free), as Ray spills back.
/// A result under 1 MiB does not pull its readers: they run on the driver while it is
/// free.
#[test]
fn a_task_goes_to_the_node_that_holds_its_large_argument() {
    let (_cluster, a, _b, _driver) = cluster_with(ray::Config::new().num_cpus(2.0));
    let me = ray::runtime_context().node_id();
    let held = |len: usize| held_on_a(3, len);
    let large = held(4 * MIB);
    for _ in 0..4 {
        let got = ray::get_timeout(&total.remote(&large), common::LONG).unwrap();
        assert_eq!(got, (a.node_id(), 3 * 4 * MIB as u64));
    }
    driver_never_held_it();
    let holding: Vec<_> = (0..2)
        .map(|_| hold_cpu.options().resource("a", 1.0).remote())
        .collect();
    let a_cpus = || {
        let nodes = ray::nodes().expect("nodes");
        let a = nodes.iter().find(|n| n.node_id == a.node_id()).expect("a");
        a.available.get("CPU").copied().unwrap_or(0.0)
    };
    assert!(common::wait_until(common::LONG, || a_cpus() == 0.0));
    let got = ray::get_timeout(&total.remote(&large), common::LONG).unwrap();
    assert_eq!(got, (me, 3 * 4 * MIB as u64), "waited for the busy node");
    A_FREE.store(true, std::sync::atomic::Ordering::SeqCst);
    ray::get(&holding).unwrap();
    let small = held(MIB / 2);
    for _ in 0..4 {
        let got = ray::get_timeout(&total.remote(&small), common::LONG).unwrap();
        assert_eq!(got, (me, 3 * (MIB / 2) as u64));
    }
}

/// The sums of the buffers it was given, in the order the calls ran.
pub struct Ledger {
    seen: Vec<u64>,
}

#[ray::remote]
impl Ledger {
    pub fn new() -> Self {
        Ledger { seen: Vec::new() }
    }

    /// Reads a buffer in place: a large one comes as a ref.
    pub fn add(&mut self, v: &[u8]) -> (ray::NodeId, u64) {
        let sum = v.iter().map(|&b| u64::from(b)).sum();
        self.seen.push(sum);
        (ray::runtime_context().node_id(), sum)
    }

    /// Takes its own copy of a buffer.
    pub fn add_owned(&mut self, v: Vec<u8>) -> u64 {
        let sum = v.iter().map(|&b| u64::from(b)).sum();
        self.seen.push(sum);
        sum
    }

    pub fn seen(&self) -> Vec<u64> {
        self.seen.clone()
    }
}

/// A call to an actor on another node takes a large object by reference, as a task
/// does: the actor's node pulls it from the node holding it, never through the driver,
/// and the call still runs in its turn: a call made after it with a small value waits.
#[test]
fn an_actor_on_another_node_reads_a_large_argument_from_where_it_is_in_call_order() {
    let (_cluster, _a, b, _driver) = cluster();
    let ledger = Ledger::options().resource("b", 1.0).remote();
    let held = held_on_a(2, 8 * MIB);
    let first = ledger.add.remote(&held);
    let second = ledger.add.remote(vec![7u8]);
    let big = (2 * 8 * MIB) as u64;
    assert_eq!(
        ray::get_timeout(&second, common::LONG).unwrap(),
        (b.node_id(), 7)
    );
    assert_eq!(
        ray::get_timeout(&first, common::LONG).unwrap(),
        (b.node_id(), big)
    );
    assert_eq!(ray::get(&ledger.seen.remote()).unwrap(), vec![big, 7]);
    driver_never_held_it();
    // The driver's own objects: borrowed as a ref, owned as a value; both whole.
    let put = ray::put(vec![3u8; 4 * MIB]);
    let four = (3 * 4 * MIB) as u64;
    assert_eq!(
        ray::get(&ledger.add.remote(&put)).unwrap(),
        (b.node_id(), four)
    );
    assert_eq!(ray::get(&ledger.add_owned.remote(&put)).unwrap(), four);
    assert_eq!(ray::get(&ledger.add_owned.remote(&held)).unwrap(), big);
    assert_eq!(
        ray::get(&ledger.seen.remote()).unwrap(),
        vec![big, 7, four, four, big]
    );
}

/// An actor created on another node takes a large constructor argument by reference
/// too: its node pulls the object from the node holding it, never through the driver.
#[test]
fn an_actor_on_another_node_is_made_from_a_large_argument_pulled_from_where_it_is() {
    let (_cluster, _a, b, _driver) = cluster();
    let held = held_on_a(2, 8 * MIB);
    let keeper = common::Keeper::options().resource("b", 1.0).remote(&held);
    let got = ray::get_timeout(&keeper.sum.remote(), common::LONG).unwrap();
    assert_eq!(got, (b.node_id(), (2 * 8 * MIB) as u64));
    driver_never_held_it();
}

/// The sums of `parts` equal parts of a buffer read in place, with where they were made.
#[ray::remote(streaming)]
fn part_sums(data: &[u8], parts: usize) -> impl Iterator<Item = (ray::NodeId, u64)> {
    let here = ray::runtime_context().node_id();
    let sums: Vec<u64> = data
        .chunks(data.len().div_ceil(parts))
        .map(|c| c.iter().map(|&b| u64::from(b)).sum())
        .collect();
    sums.into_iter().map(move |s| (here, s))
}

/// A generator placed on another node takes a large argument by reference as a task
/// does: its node pulls the object from the node holding it, never through the driver.
#[test]
fn a_generator_on_another_node_reads_a_large_argument_from_where_it_is() {
    let (_cluster, _a, b, _driver) = cluster();
    let held = held_on_a(2, 8 * MIB);
    let items: Vec<(ray::NodeId, u64)> = part_sums
        .options()
        .resource("b", 1.0)
        .remote(&held, 4)
        .map(|r| ray::get_timeout(&r, common::LONG).unwrap())
        .collect();
    assert_eq!(items, vec![(b.node_id(), (2 * 2 * MIB) as u64); 4]);
    driver_never_held_it();
}
