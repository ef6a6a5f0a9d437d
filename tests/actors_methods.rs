//! `#[ray::method(..)]`: a method with several returns (`num_returns = N`: a tuple of
//! refs, each settled on its own), on one node and on another node.

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

#[test]
fn a_method_with_several_returns_gives_a_ref_for_each() {
    let _ray = common::init(2.0);
    several_returns(&Stats::remote());
}

#[test]
fn a_method_with_several_returns_on_another_node() {
    let (cluster, nodes) = common::two_nodes_with("m");
    let _ray = common::join(&cluster.address());
    let s = Stats::options()
        .scheduling_strategy(ray::SchedulingStrategy::NodeAffinity {
            node_id: nodes[1].node_id(),
            soft: false,
        })
        .remote();
    several_returns(&s);
}
