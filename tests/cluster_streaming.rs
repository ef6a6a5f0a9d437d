//! Streaming generators placed on another node (the driver has no CPUs): items come
//! back as they are yielded, in order, large ones intact, refs inside them usable; a
//! generator waits for a slow consumer (`generator_backpressure_num_objects`); `wait`,
//! `cancel` and dropping the stream reach it there. Plus back-pressure, cancel and drop
//! on one node.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ray::prelude::*;

fn on_a_node<R>(check: impl FnOnce() -> R) -> R {
    let (cluster, _nodes) = common::two_nodes_with("s");
    let _ray = common::join(&cluster.address());
    check()
}

#[ray::remote(streaming)]
fn where_and_what(n: u32) -> impl Iterator<Item = (ray::NodeId, u32)> {
    let here = ray::runtime_context().node_id();
    (0..n).map(move |i| (here, i))
}

static GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote(streaming)]
fn first_then_wait() -> impl Iterator<Item = u32> {
    (0..2).inspect(|i| {
        if *i == 1 {
            common::hold(&GATE);
        }
    })
}

#[ray::remote(streaming)]
fn labelled(prefix: String, n: u32) -> impl futures::Stream<Item = String> {
    futures::stream::iter((0..n).map(move |i| format!("{prefix}{i}")))
}

#[ray::remote(streaming)]
fn big_items(mib: usize) -> impl Iterator<Item = Vec<u8>> {
    (0..2u8).map(move |k| (0..mib << 20).map(|i| (i % 251) as u8 ^ k).collect())
}

#[ray::remote(streaming)]
fn puts(n: u64) -> impl Iterator<Item = ObjectRef<u64>> {
    (0..n).map(|i| ray::put(i * 10))
}

#[ray::remote(streaming)]
fn fails_after(n: u32) -> impl Iterator<Item = u32> {
    (0..=n).inspect(move |i| {
        if *i == n {
            panic!("stopped at {i}");
        }
    })
}

#[test]
fn a_generator_on_another_node_streams_its_items_back_in_order() {
    on_a_node(|| {
        let me = ray::runtime_context().node_id();
        let items: Vec<(ray::NodeId, u32)> = where_and_what
            .remote(50)
            .map(|r| ray::get(&r).unwrap())
            .collect();
        assert_eq!(items.len(), 50);
        assert!(items.iter().all(|(n, _)| *n != me), "ran on another node");
        assert_eq!(
            items.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
        // Async generators, consumed as a `Stream`.
        let labels: Vec<String> = futures::executor::block_on(
            futures::StreamExt::collect::<Vec<_>>(labelled.remote("x".to_string(), 3)),
        )
        .iter()
        .map(|r| ray::get(r).unwrap())
        .collect();
        assert_eq!(labels, ["x0", "x1", "x2"]);
        assert_eq!(where_and_what.remote(0).count(), 0);
    });
}

#[test]
fn items_from_another_node_arrive_before_the_generator_finishes() {
    on_a_node(|| {
        let mut s = first_then_wait.remote();
        assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 0);
        assert!(
            !GATE.load(Ordering::SeqCst),
            "item 0 came while item 1 waits"
        );
        assert!(
            !s.wait(Some(Duration::from_millis(100))),
            "item 1 is not there"
        );
        GATE.store(true, Ordering::SeqCst);
        assert!(s.wait(Some(Duration::from_secs(20))));
        assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 1);
        assert!(s.next().is_none());
    });
}

#[test]
fn large_items_and_refs_inside_items_cross_nodes_intact() {
    on_a_node(|| {
        // 24 MiB items: several frames each.
        let items: Vec<Vec<u8>> = big_items
            .remote(24usize)
            .map(|r| ray::get(&r).unwrap())
            .collect();
        assert_eq!(items.len(), 2);
        for (k, item) in items.iter().enumerate() {
            assert_eq!(item.len(), 24 << 20);
            assert!(
                item.iter()
                    .enumerate()
                    .all(|(i, b)| *b == (i % 251) as u8 ^ k as u8)
            );
        }
        // Items that are refs to objects the generator's node put.
        let refs: Vec<ObjectRef<u64>> = puts.remote(3).map(|r| ray::get(&r).unwrap()).collect();
        assert_eq!(ray::get(&refs).unwrap(), [0, 10, 20]);
    });
}

#[test]
fn a_failing_generator_on_another_node_ends_with_its_error() {
    on_a_node(|| {
        let refs: Vec<ObjectRef<u32>> = fails_after.remote(2).collect();
        assert_eq!(refs.len(), 3, "two items and the error");
        assert_eq!(ray::get(&refs[..2]).unwrap(), [0, 1]);
        let err = ray::get(&refs[2]).unwrap_err();
        assert!(err.to_string().contains("stopped at 2"), "{err}");
    });
}

static MADE: AtomicU64 = AtomicU64::new(0);

#[ray::remote(streaming)]
fn counted() -> impl Iterator<Item = u64> {
    (0..).inspect(|_| {
        MADE.fetch_add(1, Ordering::SeqCst);
    })
}

/// Waits until `MADE` stops growing; its value then.
fn settles() -> u64 {
    let mut last = MADE.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = MADE.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// The generator runs at most `limit` items ahead of the consumer (one more may be
/// between its count and its wait), follows it as it takes more, and stops for good
/// when the stream is dropped.
fn backpressure_holds(limit: u64) {
    MADE.store(0, Ordering::SeqCst);
    let mut s = counted
        .options()
        .generator_backpressure_num_objects(limit)
        .remote();
    let started = Instant::now();
    while MADE.load(Ordering::SeqCst) < limit {
        assert!(started.elapsed() < Duration::from_secs(20), "never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let ahead = settles();
    assert!(
        (limit..=limit + 1).contains(&ahead),
        "{ahead} made with none taken"
    );
    let taken: Vec<u64> = (&mut s).take(10).map(|r| ray::get(&r).unwrap()).collect();
    assert_eq!(taken, (0..10).collect::<Vec<_>>());
    let ahead = settles();
    assert!(
        (10 + limit..=10 + limit + 1).contains(&ahead),
        "{ahead} made with 10 taken"
    );
    drop(s);
    let stopped = settles();
    assert!(stopped <= ahead + 1, "{stopped} made after the drop");
}

#[test]
fn backpressure_holds_a_generator_on_this_node() {
    let _ray = common::init(2.0);
    backpressure_holds(4);
}

#[test]
fn backpressure_holds_a_generator_on_another_node() {
    on_a_node(|| backpressure_holds(3));
}

/// An endless generator: cancelled, it stops, and its stream ends with the cancellation.
fn cancel_stops(on_another_node: bool) {
    MADE.store(0, Ordering::SeqCst);
    let mut s = counted.remote();
    assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 0);
    s.cancel();
    let rest: Vec<ObjectRef<u64>> = (&mut s).collect();
    let last = rest.last().expect("the stream ends with the cancellation");
    assert!(
        ray::get(last).unwrap_err().is_cancelled(),
        "on another node: {on_another_node}"
    );
    let stopped = settles();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        MADE.load(Ordering::SeqCst),
        stopped,
        "the generator stopped"
    );
}

#[test]
fn cancel_stops_a_generator_on_this_node() {
    let _ray = common::init(2.0);
    cancel_stops(false);
}

#[test]
fn cancel_stops_a_generator_on_another_node() {
    on_a_node(|| cancel_stops(true));
}
