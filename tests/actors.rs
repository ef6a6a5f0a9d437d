//! Actors: ordering, constructors, names, kill, errors vs panics and restarts,
//! concurrency, handles as values, resources and lifetime.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use ray::Error;
use ray::prelude::*;

pub struct Counter {
    i: i64,
}

#[ray::remote]
impl Counter {
    pub fn new() -> Self {
        Counter { i: 0 }
    }
    pub fn get(&self) -> i64 {
        self.i
    }
    pub fn incr(&mut self, value: i64) {
        self.i += value
    }
    pub fn incr_get(&mut self, value: i64) -> i64 {
        self.i += value;
        self.i
    }
    pub fn checked_incr(&mut self, value: i64) -> Result<i64, String> {
        if value < 0 {
            return Err(format!("refusing to add {value}"));
        }
        self.i += value;
        Ok(self.i)
    }
    pub fn boom(&mut self) -> i64 {
        self.i = -1; // half-changed state, as after a crash
        panic!("counter exploded");
    }
    pub fn reconstructed(&self) -> bool {
        ray::runtime_context().was_current_actor_reconstructed()
    }
}

#[test]
fn calls_from_one_caller_run_in_order() {
    let _ray = common::init(2.0);
    let c: ActorHandle<Counter> = Counter::remote();
    for _ in 0..1000 {
        c.incr.remote(1);
    }
    assert_eq!(
        ray::get_timeout(&c.get.remote(), common::LONG).unwrap(),
        1000
    );
    let refs: Vec<ObjectRef<i64>> = (0..200).map(|_| c.incr_get.remote(1)).collect();
    let values = ray::get_timeout(&refs, common::LONG).unwrap();
    assert_eq!(values, (1001..=1200).collect::<Vec<_>>());
}

pub struct Account {
    owner: String,
    balance: i64,
}

#[ray::remote]
impl Account {
    pub fn new(owner: String, balance: i64) -> Result<Self, String> {
        if balance < 0 {
            return Err(format!("negative opening balance {balance}"));
        }
        Ok(Account { owner, balance })
    }
    pub fn describe(&self) -> String {
        format!("{}:{}", self.owner, self.balance)
    }
}

pub struct Fragile;

#[ray::remote]
impl Fragile {
    pub fn new() -> Self {
        panic!("fragile constructor");
    }
    pub fn ping(&self) -> u8 {
        1
    }
}

#[ray::remote]
fn opening_balance(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(20));
    x * 10
}

#[ray::remote]
fn broken_balance() -> Result<i64, String> {
    Err("no balance".into())
}

#[test]
fn constructor_arguments_may_be_values_and_refs() {
    let _ray = common::init(2.0);
    let a = Account::remote("ada".to_string(), 5);
    assert_eq!(ray::get(&a.describe.remote()).unwrap(), "ada:5");
    let owner = ray::put("bob".to_string());
    let b = Account::remote(&owner, opening_balance.remote(7));
    ray::get(&b.ready()).unwrap();
    assert_eq!(ray::get(&b.describe.remote()).unwrap(), "bob:70");
    // A failing constructor: the actor is dead, and says why.
    let bad = Account::remote("eve".to_string(), -1);
    assert!(matches!(
        ray::get(&bad.ready()),
        Err(Error::ActorDied { .. })
    ));
    let err = ray::get(&bad.describe.remote()).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    assert!(
        err.to_string().contains("negative opening balance -1"),
        "{err}"
    );
    // A panicking constructor: dead, with the panic message.
    let bad = Fragile::remote();
    let err = ray::get(&bad.ready()).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    assert!(err.to_string().contains("fragile constructor"), "{err}");
    // A failed constructor argument: dead too, with the cause.
    let bad = Account::remote("mallory".to_string(), broken_balance.remote());
    let err = ray::get(&bad.ready()).unwrap_err();
    assert!(err.to_string().contains("no balance"), "{err}");
}

#[test]
fn named_actors_are_found_by_name_and_type() {
    let _ray = common::init(2.0);
    let c = Counter::options().name("hits").remote();
    c.incr.remote(41);
    let same: ActorHandle<Counter> = ray::get_actor("hits").unwrap();
    assert_eq!(same.id(), c.id());
    assert_eq!(ray::get(&same.incr_get.remote(1)).unwrap(), 42);
    assert_eq!(ray::get(&c.get.remote()).unwrap(), 42);
    match ray::get_actor::<Counter>("misses") {
        Err(Error::ActorNotFound { name, .. }) => assert_eq!(name, "misses"),
        other => panic!("expected ActorNotFound, got {other:?}"),
    }
    assert!(
        ray::get_actor::<Account>("hits").is_err(),
        "found a Counter as an Account"
    );
}

#[test]
fn a_duplicate_name_fails_the_second_actor() {
    let _ray = common::init(2.0);
    let first = Counter::options().name("unique").remote();
    first.incr.remote(3);
    let second = Counter::options().name("unique").remote();
    let err = ray::get(&second.ready()).unwrap_err();
    assert!(err.to_string().contains("unique"), "{err}");
    assert!(ray::get(&second.get.remote()).is_err());
    // The first is unaffected and keeps the name.
    ray::get(&first.ready()).unwrap();
    assert_eq!(ray::get(&first.get.remote()).unwrap(), 3);
    let found: ActorHandle<Counter> = ray::get_actor("unique").unwrap();
    assert_eq!(found.id(), first.id());
}

#[test]
fn kill_makes_later_calls_fail_with_actor_died() {
    let _ray = common::init(2.0);
    let c = Counter::options().name("victim").max_restarts(5).remote();
    assert_eq!(ray::get(&c.incr_get.remote(1)).unwrap(), 1);
    ray::kill(&c);
    let err = ray::get_timeout(&c.get.remote(), common::LONG).unwrap_err();
    assert!(
        matches!(err, Error::ActorDied { actor_id, .. } if actor_id == c.id()),
        "{err:?}"
    );
    // Killed actors are not restarted, and their name is released.
    assert!(ray::get(&c.ready()).is_err());
    assert!(common::wait_until(common::LONG, || {
        ray::get_actor::<Counter>("victim").is_err()
    }));
    let again = Counter::options().name("victim").remote();
    ray::get(&again.ready()).unwrap();
}

#[test]
fn a_method_returning_err_keeps_the_actor_alive() {
    let _ray = common::init(2.0);
    let c = Counter::remote();
    assert_eq!(ray::get(&c.checked_incr.remote(5)).unwrap(), 5);
    match ray::get(&c.checked_incr.remote(-2)).unwrap_err() {
        Error::TaskFailed {
            function, message, ..
        } => {
            assert_eq!(function, "Counter.checked_incr");
            assert_eq!(message, "refusing to add -2");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert_eq!(ray::get(&c.checked_incr.remote(1)).unwrap(), 6);
    assert!(!ray::get(&c.reconstructed.remote()).unwrap());
}

#[test]
fn a_panic_restarts_the_actor_with_fresh_state() {
    let _ray = common::init(2.0);
    let c = Counter::options().max_restarts(1).remote();
    assert_eq!(ray::get(&c.incr_get.remote(5)).unwrap(), 5);
    assert!(!ray::get(&c.reconstructed.remote()).unwrap());
    let err = ray::get(&c.boom.remote()).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("counter exploded"), "{err}");
    // Re-created from its constructor: state reset, and it knows it was restarted.
    assert_eq!(ray::get_timeout(&c.get.remote(), common::LONG).unwrap(), 0);
    assert!(ray::get(&c.reconstructed.remote()).unwrap());
    assert_eq!(ray::get(&c.incr_get.remote(2)).unwrap(), 2);
    // The one restart is used up: the next panic is final.
    assert!(ray::get(&c.boom.remote()).unwrap_err().is_panic());
    assert!(matches!(
        ray::get_timeout(&c.get.remote(), common::LONG),
        Err(Error::ActorDied { .. })
    ));
}

#[test]
fn a_panic_without_restarts_kills_the_actor() {
    let _ray = common::init(2.0);
    let c = Counter::remote();
    c.incr.remote(1);
    assert!(ray::get(&c.boom.remote()).unwrap_err().is_panic());
    for _ in 0..3 {
        let err = ray::get_timeout(&c.get.remote(), common::LONG).unwrap_err();
        assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    }
    assert!(ray::get(&c.ready()).is_err());
    // Other actors are unaffected.
    let d = Counter::remote();
    assert_eq!(ray::get(&d.incr_get.remote(1)).unwrap(), 1);
}

pub struct Rendezvous {
    tx: Mutex<Option<oneshot::Sender<u32>>>,
    rx: Mutex<Option<oneshot::Receiver<u32>>>,
}

#[ray::remote]
impl Rendezvous {
    pub fn new() -> Self {
        let (tx, rx) = oneshot::channel();
        Rendezvous {
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(Some(rx)),
        }
    }
    /// Completes only once `signal` has run: deadlocks if calls run one at a time.
    pub async fn wait_for_signal(&self) -> Option<u32> {
        let rx = self.rx.lock().unwrap().take()?;
        rx.await.ok()
    }
    pub async fn signal(&self, v: u32) -> bool {
        let tx = self.tx.lock().unwrap().take();
        tx.is_some_and(|tx| tx.send(v).is_ok())
    }
}

#[test]
fn async_methods_overlap() {
    let _ray = common::init(2.0);
    let r = Rendezvous::remote();
    let waiting = r.wait_for_signal.remote();
    assert!(matches!(
        ray::get_timeout(&waiting, Duration::from_millis(20)),
        Err(Error::Timeout { .. })
    ));
    let signalled = r.signal.remote(17);
    assert_eq!(
        ray::get_timeout(&waiting, Duration::from_secs(5)).unwrap(),
        Some(17)
    );
    assert!(ray::get_timeout(&signalled, Duration::from_secs(5)).unwrap());
}

static SLEEPERS_NOW: AtomicUsize = AtomicUsize::new(0);
static SLEEPERS_MAX: AtomicUsize = AtomicUsize::new(0);

pub struct Sleeper;

#[ray::remote]
impl Sleeper {
    pub fn new() -> Self {
        Sleeper
    }
    pub fn nap(&self, ms: u64) -> u64 {
        let now = SLEEPERS_NOW.fetch_add(1, Ordering::SeqCst) + 1;
        SLEEPERS_MAX.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(ms));
        SLEEPERS_NOW.fetch_sub(1, Ordering::SeqCst);
        ms
    }
}

#[test]
fn max_concurrency_lets_sync_methods_overlap() {
    let _ray = common::init(2.0);
    SLEEPERS_MAX.store(0, Ordering::SeqCst); // statics are shared under `cargo test`
    let s = Sleeper::options().max_concurrency(4).remote();
    ray::get(&s.ready()).unwrap();
    let t0 = Instant::now();
    let refs: Vec<_> = (0..4).map(|_| s.nap.remote(200)).collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![200; 4]);
    let elapsed = t0.elapsed();
    assert!(
        elapsed < Duration::from_millis(600),
        "4 naps of 200 ms took {elapsed:?}"
    );
    assert_eq!(SLEEPERS_MAX.load(Ordering::SeqCst), 4);
}

#[test]
fn sync_methods_run_one_at_a_time_by_default() {
    let _ray = common::init(2.0);
    SLEEPERS_MAX.store(0, Ordering::SeqCst); // statics are shared under `cargo test`
    let s = Sleeper::remote();
    let refs: Vec<_> = (0..3).map(|_| s.nap.remote(30)).collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![30; 3]);
    assert_eq!(SLEEPERS_MAX.load(Ordering::SeqCst), 1);
}

pub struct AsyncCounter {
    i: u32,
    busy: bool,
}

#[ray::remote]
impl AsyncCounter {
    pub fn new() -> Self {
        AsyncCounter { i: 0, busy: false }
    }
    /// Exclusive across its await point: a second call must not start meanwhile.
    pub async fn slow_incr(&mut self) -> Result<u32, String> {
        if self.busy {
            return Err("overlapped".into());
        }
        self.busy = true;
        actix_rt::time::sleep(Duration::from_millis(2)).await;
        self.i += 1;
        self.busy = false;
        Ok(self.i)
    }
}

#[test]
fn async_mut_methods_run_alone_and_in_order() {
    let _ray = common::init(2.0);
    let a = AsyncCounter::remote();
    let refs: Vec<_> = (0..10).map(|_| a.slow_incr.remote()).collect();
    assert_eq!(
        ray::get_timeout(&refs, common::LONG).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
}

#[ray::remote]
fn bump(counter: ActorHandle<Counter>, times: i64) -> i64 {
    for _ in 0..times {
        counter.incr.remote(1);
    }
    ray::get(&counter.get.remote()).unwrap()
}

#[ray::remote]
fn bump_decoded(bytes: Vec<u8>) -> i64 {
    let counter: ActorHandle<Counter> = rmp_serde::from_slice(&bytes).unwrap();
    ray::get(&counter.incr_get.remote(100)).unwrap()
}

#[test]
fn handles_are_clone_and_serialize_and_work_inside_tasks() {
    let _ray = common::init(2.0);
    let c = Counter::remote();
    let c2 = c.clone();
    assert_eq!(c2.id(), c.id());
    assert_eq!(ray::get(&bump.remote(c2, 10)).unwrap(), 10);
    assert_eq!(ray::get(&bump.remote(ray::put(c.clone()), 5)).unwrap(), 15);
    let bytes = rmp_serde::to_vec(&c).unwrap();
    let decoded: ActorHandle<Counter> = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(decoded.id(), c.id());
    assert_eq!(ray::get(&decoded.get.remote()).unwrap(), 15);
    assert_eq!(ray::get(&bump_decoded.remote(bytes.clone())).unwrap(), 115);
    assert_eq!(ray::get(&c.get.remote()).unwrap(), 115);
    // A handle decoded as another class is an error.
    assert!(rmp_serde::from_slice::<ActorHandle<Account>>(&bytes).is_err());
}

pub struct Holder;

#[ray::remote]
impl Holder {
    pub fn new() -> Self {
        Holder
    }
    pub fn ping(&self) -> u8 {
        1
    }
}

#[ray::remote]
fn one_cpu_task() -> u8 {
    2
}

#[test]
fn an_actor_holds_its_cpus_until_killed() {
    let _ray = common::init(1.0);
    let h = Holder::options().num_cpus(1.0).remote();
    ray::get(&h.ready()).unwrap();
    assert_eq!(common::available("CPU"), 0.0);
    let task = one_cpu_task.remote();
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .queued
        == 1));
    assert!(matches!(
        ray::get_timeout(&task, Duration::from_millis(200)),
        Err(Error::Timeout { .. })
    ));
    assert_eq!(ray::get(&h.ping.remote()).unwrap(), 1);
    ray::kill(&h);
    assert_eq!(ray::get_timeout(&task, common::LONG).unwrap(), 2);
    assert!(common::available_becomes("CPU", 1.0));
    // An actor that can never fit is dead, not stuck.
    let big = Holder::options().num_cpus(8.0).remote();
    assert!(matches!(
        ray::get(&big.ready()),
        Err(Error::ActorDied { .. })
    ));
}

static WORKS_DONE: AtomicUsize = AtomicUsize::new(0);
static WORKER_DROPPED: AtomicBool = AtomicBool::new(false);

pub struct Worker;

impl Drop for Worker {
    fn drop(&mut self) {
        WORKER_DROPPED.store(true, Ordering::SeqCst);
    }
}

#[ray::remote]
impl Worker {
    pub fn new() -> Self {
        Worker
    }
    pub fn work(&mut self, i: u32) -> u32 {
        std::thread::sleep(Duration::from_millis(5));
        WORKS_DONE.fetch_add(1, Ordering::SeqCst);
        i * 2
    }
}

#[test]
fn dropping_all_handles_stops_the_actor_after_queued_calls() {
    let _ray = common::init(2.0);
    let w = Worker::options().name("worker").num_cpus(1.0).remote();
    let w2 = w.clone();
    let refs: Vec<_> = (0..10).map(|i| w.work.remote(i)).collect();
    drop(w);
    // Still alive through the clone.
    assert_eq!(ray::get(&w2.work.remote(100)).unwrap(), 200);
    assert!(!WORKER_DROPPED.load(Ordering::SeqCst));
    let more: Vec<_> = (10..20).map(|i| w2.work.remote(i)).collect();
    drop(w2);
    // Calls made before the drop complete.
    assert_eq!(
        ray::get_timeout(&refs, common::LONG).unwrap(),
        (0..10).map(|i| i * 2).collect::<Vec<_>>()
    );
    assert_eq!(
        ray::get_timeout(&more, common::LONG).unwrap(),
        (10..20).map(|i| i * 2).collect::<Vec<_>>()
    );
    assert_eq!(WORKS_DONE.load(Ordering::SeqCst), 21);
    // Then the actor stops: instance dropped, CPU released, name freed.
    assert!(common::wait_until(common::LONG, || WORKER_DROPPED.load(Ordering::SeqCst)));
    assert!(common::available_becomes("CPU", 2.0));
    assert!(common::wait_until(common::LONG, || {
        ray::get_actor::<Worker>("worker").is_err()
    }));
}

#[test]
fn a_detached_actor_outlives_its_handles() {
    let _ray = common::init(2.0);
    let c = Counter::options().name("kept").detached().remote();
    c.incr.remote(7);
    let id = c.id();
    drop(c);
    let found: ActorHandle<Counter> = ray::get_actor("kept").unwrap();
    assert_eq!(found.id(), id);
    assert_eq!(ray::get(&found.get.remote()).unwrap(), 7);
    ray::kill(&found);
    assert!(ray::get_timeout(&found.get.remote(), common::LONG).is_err());
}
