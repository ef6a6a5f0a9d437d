//! Actor concurrency groups (Ray's `concurrency_groups`): each declared group runs up to
//! its own limit of calls at once, a full group holds back none of the others, and the
//! default group keeps the actor's `max_concurrency`. Overlap is measured by the actor
//! itself (how many calls of a group run at once, and the most seen), never inferred
//! from timings; every wait inside the actor gives up after a timeout, so a broken limit
//! fails an assertion instead of hanging. On one node and on another node.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ray::prelude::*;
use serde::{Deserialize, Serialize};

/// How long a call inside the actor waits for the others before giving up.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long the driver waits for a result.
const DEADLINE: Duration = Duration::from_secs(30);

/// The calls of one group: running now, the most seen running at once, started so far.
#[derive(Default)]
struct Probe {
    now: AtomicUsize,
    max: AtomicUsize,
    started: AtomicUsize,
}

impl Probe {
    fn enter(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the actor saw, per group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    pub io_now: usize,
    pub io_max: usize,
    pub io_started: usize,
    pub compute_now: usize,
    pub compute_max: usize,
    pub compute_started: usize,
    pub default_max: usize,
}

pub struct Downloader {
    io: Probe,
    compute: Probe,
    default: Probe,
    /// The io calls' gate: they wait until it opens (at most `PATIENCE`).
    open: AtomicBool,
    /// The compute calls' gate.
    open_compute: AtomicBool,
}

#[ray::remote(concurrency_groups(io = 2, compute = 4))]
impl Downloader {
    pub fn new() -> Self {
        Downloader {
            io: Probe::default(),
            compute: Probe::default(),
            default: Probe::default(),
            open: AtomicBool::new(false),
            open_compute: AtomicBool::new(false),
        }
    }

    /// Runs until the gate opens; returns its id.
    #[ray::method(concurrency_group = "io")]
    pub fn fetch(&self, id: u32) -> u32 {
        self.io.enter();
        let start = Instant::now();
        while !self.open.load(Ordering::SeqCst) && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.io.leave();
        id
    }

    /// With `wait`, runs until the compute gate opens, without blocking the actor's
    /// thread. Returns the most compute calls seen running at once.
    #[ray::method(concurrency_group = "compute")]
    pub async fn crunch(&self, wait: bool) -> usize {
        self.compute.enter();
        let start = Instant::now();
        while wait && !self.open_compute.load(Ordering::SeqCst) && start.elapsed() < PATIENCE {
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        self.compute.leave();
        self.compute.max.load(Ordering::SeqCst)
    }

    /// Default group: opens the compute gate.
    pub fn release_compute(&self) {
        self.open_compute.store(true, Ordering::SeqCst);
    }

    /// Default group: takes `ms` milliseconds.
    pub fn pause(&self, ms: u64) -> bool {
        self.default.enter();
        std::thread::sleep(Duration::from_millis(ms));
        self.default.leave();
        true
    }

    /// Default group: opens the io gate.
    pub fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Default group: what the actor saw so far.
    pub fn seen(&self) -> Seen {
        Seen {
            io_now: self.io.now.load(Ordering::SeqCst),
            io_max: self.io.max.load(Ordering::SeqCst),
            io_started: self.io.started.load(Ordering::SeqCst),
            compute_now: self.compute.now.load(Ordering::SeqCst),
            compute_max: self.compute.max.load(Ordering::SeqCst),
            compute_started: self.compute.started.load(Ordering::SeqCst),
            default_max: self.default.max.load(Ordering::SeqCst),
        }
    }
}

/// A class without async methods: its default group runs one call at a time.
pub struct Loader {
    io: Probe,
    default: Probe,
}

#[ray::remote(concurrency_groups(io = 2))]
impl Loader {
    pub fn new() -> Self {
        Loader {
            io: Probe::default(),
            default: Probe::default(),
        }
    }

    #[ray::method(concurrency_group = "io")]
    pub fn load(&self, ms: u64) -> bool {
        self.io.enter();
        std::thread::sleep(Duration::from_millis(ms));
        self.io.leave();
        true
    }

    pub fn pause(&self, ms: u64) -> bool {
        self.default.enter();
        std::thread::sleep(Duration::from_millis(ms));
        self.default.leave();
        true
    }

    /// The most io and default-group calls seen running at once.
    pub fn most(&self) -> (usize, usize) {
        (
            self.io.max.load(Ordering::SeqCst),
            self.default.max.load(Ordering::SeqCst),
        )
    }
}

fn seen(d: &ActorHandle<Downloader>) -> Seen {
    ray::get_timeout(&d.seen.remote(), DEADLINE).expect("seen (default group)")
}

/// Two io calls run at once, a third waits for them (limit 2); meanwhile compute and
/// default-group calls complete; once released, every io call finishes.
fn a_full_group_holds_back_only_its_own_calls(d: &ActorHandle<Downloader>) {
    let fetches: Vec<_> = (0..3).map(|i| d.fetch.remote(i)).collect();
    assert!(
        common::wait_until(DEADLINE, || seen(d).io_now == 2),
        "two io calls should run at once: {:?}",
        seen(d)
    );
    // io is full. A compute call (async) and default-group calls still run, although
    // they were submitted after the third io call.
    assert_eq!(
        ray::get_timeout(&d.crunch.remote(false), DEADLINE).expect("compute call while io is full"),
        1
    );
    assert!(ray::get_timeout(&d.pause.remote(1), DEADLINE).expect("default call while io is full"));
    let now = seen(d);
    assert_eq!(now.io_now, 2, "{now:?}");
    assert_eq!(
        now.io_started, 2,
        "the third io call waits for a slot: {now:?}"
    );

    ray::get_timeout(&d.release.remote(), DEADLINE).expect("release");
    assert_eq!(
        ray::get_timeout(&fetches, DEADLINE).expect("io calls"),
        vec![0, 1, 2]
    );
    let after = seen(d);
    assert_eq!(
        after.io_max, 2,
        "io never runs more than its limit: {after:?}"
    );
    assert_eq!(after.io_started, 3, "{after:?}");
}

#[test]
fn a_full_group_holds_back_neither_other_groups_nor_the_default_group() {
    let _ray = common::init(2.0);
    let d = Downloader::remote();
    a_full_group_holds_back_only_its_own_calls(&d);
}

#[test]
fn the_default_group_of_a_sync_actor_keeps_max_concurrency_one() {
    let _ray = common::init(2.0);
    let l = Loader::remote();
    let mut calls: Vec<_> = (0..3).map(|_| l.pause.remote(100)).collect();
    calls.extend((0..3).map(|_| l.load.remote(300)));
    assert_eq!(ray::get_timeout(&calls, DEADLINE).unwrap(), vec![true; 6]);
    let (io, default) = ray::get_timeout(&l.most.remote(), DEADLINE).unwrap();
    assert_eq!(default, 1, "default-group calls never overlap");
    assert_eq!(
        io, 2,
        "io calls overlap up to their limit, beside the default group"
    );
}

#[test]
fn the_default_group_takes_max_concurrency_from_the_options() {
    let _ray = common::init(2.0);
    // An async class's default is 1000; set to 1, its default-group calls run alone.
    let d = Downloader::options().max_concurrency(1).remote();
    let pauses: Vec<_> = (0..3).map(|_| d.pause.remote(100)).collect();
    assert_eq!(ray::get_timeout(&pauses, DEADLINE).unwrap(), vec![true; 3]);
    assert_eq!(seen(&d).default_max, 1, "default-group calls never overlap");
    let d = Downloader::options().max_concurrency(2).remote();
    let pauses: Vec<_> = (0..4).map(|_| d.pause.remote(300)).collect();
    assert_eq!(ray::get_timeout(&pauses, DEADLINE).unwrap(), vec![true; 4]);
    assert_eq!(
        seen(&d).default_max,
        2,
        "two default-group calls overlap, not more"
    );
}

#[test]
fn async_calls_of_a_group_overlap_up_to_its_limit() {
    let _ray = common::init(2.0);
    let d = Downloader::remote();
    let crunches: Vec<_> = (0..6).map(|_| d.crunch.remote(true)).collect();
    assert!(
        common::wait_until(DEADLINE, || seen(&d).compute_now == 4),
        "four compute calls should run at once: {:?}",
        seen(&d)
    );
    // All six were submitted before this look: two wait for a slot (limit 4).
    let now = seen(&d);
    assert_eq!(now.compute_started, 4, "{now:?}");
    ray::get_timeout(&d.release_compute.remote(), DEADLINE).unwrap();
    assert_eq!(ray::get_timeout(&crunches, DEADLINE).unwrap(), vec![4; 6]);
    let after = seen(&d);
    assert_eq!(
        (after.compute_max, after.compute_started),
        (4, 6),
        "{after:?}"
    );
}

#[test]
fn groups_hold_on_an_actor_on_another_node() {
    let (cluster, nodes) = common::two_nodes_with("r");
    let _ray = common::join(&cluster.address());
    let d = Downloader::options()
        .scheduling_strategy(ray::SchedulingStrategy::NodeAffinity {
            node_id: nodes[1].node_id(),
            soft: false,
        })
        .remote();
    a_full_group_holds_back_only_its_own_calls(&d);
}
