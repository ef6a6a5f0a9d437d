//! How an actor ends. `ray::exit_actor()`: the calling call fails with `ActorDied`
//! naming the exit, the queued ones with `ActorDied`, and the actor does not restart.
//! `ray::kill_with(&a, no_restart = false)`: killed as a crash, it restarts while
//! `max_restarts` allows. Each on one node and on another node.

mod common;

use std::time::Duration;

use ray::prelude::*;
use ray::util::state::{Filter, ListOptions, list_actors};

pub struct Quitter {
    calls: u32,
}

#[ray::remote]
impl Quitter {
    pub fn new() -> Self {
        Quitter { calls: 0 }
    }

    pub fn work(&mut self, ms: u64) -> u32 {
        std::thread::sleep(Duration::from_millis(ms));
        self.calls += 1;
        self.calls
    }

    pub fn quit(&self) -> u32 {
        ray::exit_actor();
    }
}

fn exits_and_stays_dead(q: &ActorHandle<Quitter>) {
    assert_eq!(ray::get(&q.work.remote(0)).unwrap(), 1);
    let slow = q.work.remote(200);
    let quit = q.quit.remote();
    let queued = q.work.remote(0);
    assert_eq!(
        ray::get(&slow).unwrap(),
        2,
        "a call before the exit completes"
    );
    match ray::get(&quit) {
        Err(ray::Error::ActorDied { reason, .. }) => {
            assert!(reason.contains("exit_actor"), "{reason}")
        }
        other => panic!("expected ActorDied, got {other:?}"),
    }
    // A call queued behind the exit fails too (one still in the actor's mailbox says
    // only that the actor stopped before it ran).
    assert!(matches!(
        ray::get(&queued),
        Err(ray::Error::ActorDied { .. })
    ));
    // Not restarted, although max_restarts allows it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(
        ray::get_timeout(&q.work.remote(0), Duration::from_secs(10)),
        Err(ray::Error::ActorDied { .. })
    ));
    let dead = list_actors(&ListOptions::new().filter(Filter::eq("actor_id", q.id().to_string())))
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].state, "DEAD");
    assert_eq!(dead[0].restarts, 0);
}

/// Runs `check` on a `Quitter` with `max_restarts` on a node of a cluster that this
/// driver is not.
fn on_another_node(max_restarts: i32, check: fn(&ActorHandle<Quitter>)) {
    let (cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&cluster.address());
    let q = Quitter::options()
        .max_restarts(max_restarts)
        .scheduling_strategy(ray::SchedulingStrategy::NodeAffinity {
            node_id: nodes[1].node_id(),
            soft: false,
        })
        .remote();
    check(&q);
}

#[test]
fn an_actor_that_exits_fails_its_calls_and_does_not_restart() {
    let _ray = common::init(2.0);
    let q = Quitter::options().max_restarts(3).remote();
    exits_and_stays_dead(&q);
}

#[test]
fn an_actor_on_another_node_that_exits_fails_its_callers_calls() {
    on_another_node(3, exits_and_stays_dead);
}

#[test]
#[should_panic(expected = "outside an actor")]
fn exit_actor_outside_an_actor_panics() {
    let _ray = common::init(1.0);
    ray::exit_actor();
}

/// Killed as a crash twice with one restart allowed: back once (fresh state), then gone.
fn killed_restarts_once(q: &ActorHandle<Quitter>) {
    assert_eq!(ray::get(&q.work.remote(0)).unwrap(), 1);
    assert_eq!(ray::get(&q.work.remote(0)).unwrap(), 2);
    ray::kill_with(q, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let back = loop {
        match ray::get_timeout(&q.work.remote(0), Duration::from_secs(10)) {
            Ok(n) => break n,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "never back: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert_eq!(back, 1, "restarted from its constructor");
    let listed =
        list_actors(&ListOptions::new().filter(Filter::eq("actor_id", q.id().to_string())))
            .unwrap();
    assert_eq!(listed[0].restarts, 1, "{listed:?}");
    ray::kill_with(q, false);
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(
        ray::get_timeout(&q.work.remote(0), Duration::from_secs(10)),
        Err(ray::Error::ActorDied { .. })
    ));
}

#[test]
fn kill_without_no_restart_restarts_while_max_restarts_allows() {
    let _ray = common::init(2.0);
    let q = Quitter::options().max_restarts(1).remote();
    killed_restarts_once(&q);
}

#[test]
fn kill_without_no_restart_restarts_an_actor_on_another_node_in_place() {
    on_another_node(1, killed_restarts_once);
}
