//! `#[ray::method(..)]`: a method with several returns (`num_returns = N`: a tuple of
//! refs, each settled on its own) and streaming methods (`streaming`: an
//! `ObjectRefStream`, in order with the actor's other calls), on one node and on
//! another node.

mod common;

use ray::prelude::*;

pub struct Stats {
    seen: Vec<i64>,
}

#[ray::remote]
impl Stats {
    pub fn new() -> Self {
        Stats { seen: Vec::new() }
    }

    /// Records `x`; returns how many were seen and their sum.
    #[ray::method(num_returns = 2)]
    pub fn record(&mut self, x: i64) -> (usize, i64) {
        self.seen.push(x);
        (self.seen.len(), self.seen.iter().sum())
    }

    /// Three returns from a fallible method: an error fails every ref.
    #[ray::method(num_returns = 3)]
    pub fn split(&self, text: String) -> Result<(String, String, usize), String> {
        let (a, b) = text.split_once(' ').ok_or("no space")?;
        Ok((a.to_string(), b.to_string(), self.seen.len()))
    }

    /// Every value seen so far, one item each (a streaming method).
    #[ray::method(streaming)]
    pub fn replay(&self) -> impl Iterator<Item = i64> {
        self.seen.clone().into_iter()
    }

    /// Drains what was seen, one item each, from a `&mut self` method.
    #[ray::method(streaming)]
    pub fn drain(&mut self) -> impl Iterator<Item = i64> + use<> {
        std::mem::take(&mut self.seen).into_iter()
    }

    /// An async streaming method: `n` labels.
    #[ray::method(streaming)]
    pub async fn labels(&self, n: u32) -> impl futures::Stream<Item = String> {
        let base = self.seen.len();
        futures::stream::iter((0..n).map(move |i| format!("{base}-{i}")))
    }

    /// A streaming method that fails after its first item.
    #[ray::method(streaming)]
    pub fn broken(&self) -> impl Iterator<Item = u8> {
        (0..3u8).inspect(|i| assert!(*i < 1, "broke at {i}"))
    }

    /// Awaits nothing, but runs as an async method with two returns.
    #[ray::method(num_returns = 2)]
    pub async fn pair(&self, x: u8) -> (u8, String) {
        (x, format!("#{x}"))
    }
}

fn several_returns(s: &ActorHandle<Stats>) {
    let (n, sum) = s.record.remote(5);
    let _: (ObjectRef<usize>, ObjectRef<i64>) = (n.clone(), sum.clone());
    assert_eq!(ray::get(&n).unwrap(), 1);
    assert_eq!(ray::get(&sum).unwrap(), 5);
    let (n, sum) = s.record.remote(-2);
    assert_eq!((ray::get(&n).unwrap(), ray::get(&sum).unwrap()), (2, 3));
    let (a, b, seen) = s.split.remote("hello world".to_string());
    assert_eq!(ray::get(&a).unwrap(), "hello");
    assert_eq!(ray::get(&b).unwrap(), "world");
    assert_eq!(ray::get(&seen).unwrap(), 2);
    let (a, b, seen) = s.split.remote("nospace".to_string());
    for e in [
        ray::get(&a).unwrap_err(),
        ray::get(&b).unwrap_err(),
        ray::get(&seen).unwrap_err(),
    ] {
        assert!(e.to_string().contains("no space"), "{e}");
    }
    let (x, label) = s.pair.remote(7u8);
    assert_eq!(ray::get(&x).unwrap(), 7);
    assert_eq!(ray::get(&label).unwrap(), "#7");
    // A returned ref goes into another call as any ref does.
    let (_, sum) = s.record.remote(10);
    let (n, total) = s.record.remote(&sum);
    assert_eq!((ray::get(&n).unwrap(), ray::get(&total).unwrap()), (4, 26));
}

fn streams(s: &ActorHandle<Stats>) {
    for x in [3, 4] {
        let _ = s.record.remote(x);
    }
    // In order with the calls before and after it.
    let replay = s.replay.remote();
    let _ = s.record.remote(5);
    let items: Vec<i64> = replay.map(|r| ray::get(&r).unwrap()).collect();
    assert_eq!(items, [3, 4]);
    let labels: Vec<String> = s.labels.remote(2).map(|r| ray::get(&r).unwrap()).collect();
    assert_eq!(labels, ["3-0", "3-1"]);
    let drained: Vec<i64> = s.drain.remote().map(|r| ray::get(&r).unwrap()).collect();
    assert_eq!(drained, [3, 4, 5]);
    assert_eq!(s.replay.remote().count(), 0, "drained");
    let refs: Vec<ObjectRef<u8>> = s.broken.remote().collect();
    assert_eq!(refs.len(), 2, "one item and the error");
    assert_eq!(ray::get(&refs[0]).unwrap(), 0);
    let e = ray::get(&refs[1]).unwrap_err();
    assert!(e.to_string().contains("broke at 1"), "{e}");
    // A panic in a method crashes the actor, streaming or not.
    let (n, _) = s.record.remote(1);
    assert!(matches!(ray::get(&n), Err(ray::Error::ActorDied { .. })));
}

#[test]
fn streaming_methods_yield_in_order_with_the_other_calls() {
    let _ray = common::init(2.0);
    streams(&Stats::remote());
}

#[test]
fn streaming_methods_of_an_actor_on_another_node() {
    on_another_node(streams);
}

#[test]
fn a_method_with_several_returns_gives_a_ref_for_each() {
    let _ray = common::init(2.0);
    several_returns(&Stats::remote());
}

/// Runs `check` on a `Stats` on a node of a cluster that this driver is not.
fn on_another_node(check: fn(&ActorHandle<Stats>)) {
    let (cluster, nodes) = common::two_nodes_with("m");
    let _ray = common::join(&cluster.address());
    let s = Stats::options()
        .scheduling_strategy(ray::SchedulingStrategy::NodeAffinity {
            node_id: nodes[1].node_id(),
            soft: false,
        })
        .remote();
    check(&s);
}

#[test]
fn a_method_with_several_returns_on_another_node() {
    on_another_node(several_returns);
}
