//! `ray::util::ActorPool` and `ray::util::Queue` with Ray's semantics: on one node, and
//! across the nodes of a `cluster_utils` cluster (the pool's actors on two nodes, the
//! queue's actor on one, its producer on the other).

mod common;

use std::time::{Duration, Instant};

use ray::prelude::*;
use ray::util::{ActorPool, Queue};

pub struct Worker {
    calls: u32,
}

#[ray::remote]
impl Worker {
    pub fn new() -> Self {
        Worker { calls: 0 }
    }

    /// `x` squared after `ms`, with how many calls this actor served and where.
    pub fn square(&mut self, x: u64, ms: u64) -> (u64, u32, ray::NodeId) {
        std::thread::sleep(Duration::from_millis(ms));
        self.calls += 1;
        (x * x, self.calls, ray::runtime_context().node_id())
    }
}

#[ray::remote]
fn produce(q: Queue<String>, from: u32, n: u32) -> ray::NodeId {
    for i in from..from + n {
        q.put(format!("item {i}")).unwrap();
    }
    ray::runtime_context().node_id()
}

#[ray::remote]
fn take(q: Queue<String>, timeout_ms: u64) -> Option<String> {
    q.get_timeout(Duration::from_millis(timeout_ms)).ok()
}

#[test]
fn a_pool_runs_in_order_queues_beyond_its_actors_and_frees_an_actor_when_its_result_is_taken() {
    let _ray = common::init(4.0);
    let mut pool = ActorPool::new((0..2).map(|_| Worker::remote()));
    assert!(pool.has_free() && !pool.has_next());
    // Five submissions on two actors: three wait, and start as results are taken.
    for x in 1..=5 {
        pool.submit(|a, x| a.square.remote(x, 20), x);
    }
    assert!(!pool.has_free());
    let squares: Vec<u64> = std::iter::from_fn(|| pool.get_next())
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(squares, [1, 4, 9, 16, 25]);
    assert!(pool.get_next().is_none() && pool.has_free());

    // `map` keeps order; `map_unordered` yields as they finish.
    let ordered: Vec<u64> = pool
        .map(|a, (x, ms)| a.square.remote(x, ms), [(1, 200), (2, 0)])
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(ordered, [1, 4]);
    let unordered: Vec<u64> = pool
        .map_unordered(|a, (x, ms)| a.square.remote(x, ms), [(1, 300), (2, 0)])
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(unordered, [4, 1]);

    // Timeouts: without the flag the result stays next; with it, it is dropped.
    pool.submit(|a, x| a.square.remote(x, 300), 3);
    let early = pool.get_next_timeout(Duration::from_millis(10), false);
    assert!(matches!(early, Some(Err(ray::Error::Timeout { .. }))));
    assert_eq!(pool.get_next().unwrap().unwrap().0, 9);
    pool.submit(|a, x| a.square.remote(x, 300), 4);
    pool.submit(|a, x| a.square.remote(x, 0), 5);
    let dropped = pool.get_next_timeout(Duration::from_millis(10), true);
    assert!(matches!(dropped, Some(Err(ray::Error::Timeout { .. }))));
    assert_eq!(pool.get_next().unwrap().unwrap().0, 25);
    assert!(pool.get_next().is_none());

    // An unordered take moves the ordered cursor past it, as in Ray: what it skipped is
    // left to `get_next_unordered`.
    pool.submit(|a, x| a.square.remote(x, 300), 6);
    pool.submit(|a, x| a.square.remote(x, 0), 7);
    assert_eq!(pool.get_next_unordered().unwrap().unwrap().0, 49);
    assert!(matches!(
        pool.get_next(),
        Some(Err(ray::Error::InvalidArgument(_)))
    ));
    assert_eq!(pool.get_next_unordered().unwrap().unwrap().0, 36);
    pool.submit(|a, x| a.square.remote(x, 0), 8);
    pool.submit(|a, x| a.square.remote(x, 300), 9);
    assert_eq!(pool.get_next_unordered().unwrap().unwrap().0, 64);
    assert_eq!(pool.get_next().unwrap().unwrap().0, 81);

    // Members: popped while idle, pushed back once, refused twice.
    let a = pool.pop_idle().unwrap();
    let b = pool.pop_idle().unwrap();
    assert!(pool.pop_idle().is_none());
    pool.push(a.clone()).unwrap();
    assert!(matches!(pool.push(a), Err(ray::Error::InvalidArgument(_))));
    pool.push(b).unwrap();
}

#[test]
fn an_actor_of_the_pool_that_dies_leaves_it() {
    let _ray = common::init(4.0);
    let mut pool = ActorPool::new((0..2).map(|_| Worker::remote()));
    pool.submit(
        |a, x| {
            ray::kill(a);
            a.square.remote(x, 0)
        },
        1,
    );
    let died = pool.get_next().unwrap();
    assert!(
        matches!(died, Err(ray::Error::ActorDied { .. })),
        "{died:?}"
    );
    // One actor is left: two calls run one after the other on it.
    pool.submit(|a, x| a.square.remote(x, 0), 2);
    pool.submit(|a, x| a.square.remote(x, 0), 3);
    let calls: Vec<u32> = std::iter::from_fn(|| pool.get_next())
        .map(|r| r.unwrap().1)
        .collect();
    assert_eq!(calls, [1, 2]);
}

#[test]
fn a_queue_blocks_when_full_or_empty_and_fails_at_once_without_waiting() {
    let _ray = common::init(4.0);
    let q: Queue<String> = Queue::new(2).unwrap();
    assert!(q.empty().unwrap() && !q.full().unwrap());
    // A producer of five into a queue of two waits for the consumer.
    let done = produce.remote(q.clone(), 0, 5);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(q.get_timeout(Duration::from_secs(10)).unwrap());
    }
    assert_eq!(got, (0..5).map(|i| format!("item {i}")).collect::<Vec<_>>());
    ray::get(&done).unwrap();

    q.put_nowait("a".into()).unwrap();
    q.put("b".into()).unwrap();
    assert!(q.full().unwrap());
    assert!(matches!(
        q.put_nowait("c".into()),
        Err(ray::Error::QueueFull)
    ));
    let t0 = Instant::now();
    assert!(matches!(
        q.put_timeout("c".into(), Duration::from_millis(200)),
        Err(ray::Error::QueueFull)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // Batches: all or nothing.
    assert!(matches!(q.get_nowait_batch(3), Err(ray::Error::QueueEmpty)));
    assert_eq!(q.get_nowait_batch(2).unwrap(), ["a", "b"]);
    assert!(matches!(
        q.put_nowait_batch(vec!["x".into(), "y".into(), "z".into()]),
        Err(ray::Error::QueueFull)
    ));
    assert_eq!(q.qsize().unwrap(), 0);
    assert!(matches!(q.get_nowait(), Err(ray::Error::QueueEmpty)));
    let t0 = Instant::now();
    assert!(matches!(
        q.get_timeout(Duration::from_millis(200)),
        Err(ray::Error::QueueEmpty)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(200));

    // Three consumers wait at once; each gets one of the items put later.
    let waiting: Vec<_> = (0..3).map(|_| take.remote(q.clone(), 10_000)).collect();
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..3 {
        q.put(format!("late {i}")).unwrap();
    }
    let mut late: Vec<String> = ray::get(&waiting).unwrap().into_iter().flatten().collect();
    late.sort();
    assert_eq!(late, ["late 0", "late 1", "late 2"]);

    // A queue of another item type reads the bytes as an error, not garbage.
    let wrong: Queue<u64> = Queue::new(0).unwrap();
    let as_text: Queue<String> = serde_roundtrip(&wrong);
    as_text.put("not a number".into()).unwrap();
    assert!(matches!(wrong.get(), Err(ray::Error::Serialization(_))));

    q.clone().shutdown();
    assert!(matches!(
        q.put("gone".into()),
        Err(ray::Error::ActorDied { .. })
    ));
}

/// The same queue actor, seen as a queue of another item type.
fn serde_roundtrip<A, B: serde::de::DeserializeOwned>(q: &Queue<A>) -> Queue<B> {
    let bytes = rmp_serde::to_vec(q).unwrap();
    rmp_serde::from_slice(&bytes).unwrap()
}

#[test]
fn across_nodes_a_pool_spreads_over_its_actors_and_a_queue_links_a_producer_to_a_consumer() {
    let (_cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&_cluster.address());
    let on = |i: usize| ray::SchedulingStrategy::NodeAffinity {
        node_id: nodes[i].node_id(),
        soft: false,
    };
    // A pool with one actor on each node: six calls, each actor serves three.
    let actors = (0..2).map(|i| {
        Worker::options()
            .scheduling_strategy(on(i))
            .max_concurrency(1)
            .remote()
    });
    let mut pool = ActorPool::new(actors);
    let got: Vec<_> = pool
        .map(|a, x| a.square.remote(x, 50), 1..=6)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [1, 4, 9, 16, 25, 36]
    );
    let places: std::collections::HashSet<_> = got.iter().map(|g| g.2).collect();
    assert_eq!(places.len(), 2, "both nodes served calls: {got:?}");

    // The queue lives on node 0, its producer runs on node 1, the consumer is here.
    let q: Queue<String> =
        Queue::with_options(3, ray::ActorOptions::default().scheduling_strategy(on(0))).unwrap();
    let producer = produce
        .options()
        .scheduling_strategy(on(1))
        .remote(q.clone(), 0, 10);
    let items: Vec<String> = (0..10)
        .map(|_| q.get_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    assert_eq!(
        items,
        (0..10).map(|i| format!("item {i}")).collect::<Vec<_>>()
    );
    assert_eq!(ray::get(&producer).unwrap(), nodes[1].node_id());
}
