//! `ray::cancel` on pending, running async and running sync tasks.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ray::Error;

static BLOCKER_GATE: AtomicBool = AtomicBool::new(false);
static QUEUED_RAN: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn blocker() -> u8 {
    common::hold(&BLOCKER_GATE);
    1
}

#[ray::remote]
fn queued(x: u32) -> u32 {
    QUEUED_RAN.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn cancelling_a_pending_task_drops_it_unrun() {
    let _ray = common::init(1.0);
    QUEUED_RAN.store(0, Ordering::SeqCst); // statics are shared under `cargo test`
    let long = blocker.remote();
    assert!(
        common::available_becomes("CPU", 0.0),
        "the blocker never started"
    );
    let victim = queued.remote(1);
    let survivor = queued.remote(2);
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .queued
        == 2));
    ray::cancel(&victim, false).unwrap();
    let err = ray::get_timeout(&victim, common::LONG).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(matches!(err, Error::Cancelled { task_id } if task_id == victim.id().task_id()));
    // Let the queue drain: the survivor (queued after the victim) runs, the victim never.
    BLOCKER_GATE.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&long, common::LONG).unwrap(), 1);
    assert_eq!(ray::get_timeout(&survivor, common::LONG).unwrap(), 2);
    assert_eq!(
        ray::get_timeout(&queued.remote(3), common::LONG).unwrap(),
        3
    );
    assert_eq!(
        QUEUED_RAN.load(Ordering::SeqCst),
        2,
        "the cancelled task ran"
    );
    assert!(ray::get(&victim).unwrap_err().is_cancelled());
    assert!(common::available_becomes("CPU", 1.0));
}

static DEP_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn slow_dep() -> u32 {
    common::hold(&DEP_GATE);
    5
}

#[test]
fn cancelling_a_task_waiting_for_its_arguments_drops_it_unrun() {
    let _ray = common::init(2.0);
    QUEUED_RAN.store(0, Ordering::SeqCst); // statics are shared under `cargo test`
    let dep = slow_dep.remote();
    let victim = queued.remote(&dep);
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .waiting_for_deps
        == 1));
    ray::cancel(&victim, false).unwrap();
    assert!(
        ray::get_timeout(&victim, common::LONG)
            .unwrap_err()
            .is_cancelled()
    );
    DEP_GATE.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&dep, common::LONG).unwrap(), 5);
    assert_eq!(
        ray::get_timeout(&queued.remote(&dep), common::LONG).unwrap(),
        5
    );
    assert_eq!(
        QUEUED_RAN.load(Ordering::SeqCst),
        1,
        "the cancelled task ran"
    );
}

static ASYNC_STARTED: AtomicBool = AtomicBool::new(false);
static ASYNC_FINISHED: AtomicBool = AtomicBool::new(false);

#[ray::remote]
async fn sleepy() -> u32 {
    ASYNC_STARTED.store(true, Ordering::SeqCst);
    actix_rt::time::sleep(Duration::from_secs(30)).await;
    ASYNC_FINISHED.store(true, Ordering::SeqCst);
    1
}

#[test]
fn cancelling_a_running_async_task_aborts_it_promptly() {
    let _ray = common::init(2.0);
    let r = sleepy.remote();
    assert!(common::wait_until(common::LONG, || ASYNC_STARTED.load(Ordering::SeqCst)));
    assert_eq!(common::available("CPU"), 1.0);
    let t0 = Instant::now();
    ray::cancel(&r, true).unwrap();
    let err = ray::get_timeout(&r, common::LONG).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "cancel took {:?}",
        t0.elapsed()
    );
    // The future was dropped: its CPU comes back and its tail never runs.
    assert!(common::available_becomes("CPU", 2.0));
    assert!(!ASYNC_FINISHED.load(Ordering::SeqCst));
    assert_eq!(ray::task_summary().running, 0);
}

static SYNC_STARTED: AtomicBool = AtomicBool::new(false);
static SYNC_SAW_CANCEL: AtomicBool = AtomicBool::new(false);
static SYNC_RETURNED: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn busy() -> u32 {
    SYNC_STARTED.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + common::LONG;
    while Instant::now() < deadline {
        if ray::runtime_context().is_canceled() {
            SYNC_SAW_CANCEL.store(true, Ordering::SeqCst);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    SYNC_RETURNED.store(true, Ordering::SeqCst);
    7
}

#[test]
fn cancelling_a_running_sync_task_flags_it_and_fails_the_caller() {
    let _ray = common::init(2.0);
    let r = busy.remote();
    assert!(common::wait_until(common::LONG, || SYNC_STARTED.load(Ordering::SeqCst)));
    assert!(!SYNC_SAW_CANCEL.load(Ordering::SeqCst));
    let t0 = Instant::now();
    ray::cancel(&r, false).unwrap();
    let err = ray::get_timeout(&r, common::LONG).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "cancel took {:?}",
        t0.elapsed()
    );
    // The body sees the flag, returns, and its late result is ignored.
    assert!(common::wait_until(common::LONG, || SYNC_SAW_CANCEL.load(Ordering::SeqCst)));
    assert!(common::wait_until(common::LONG, || SYNC_RETURNED.load(Ordering::SeqCst)));
    assert!(common::available_becomes("CPU", 2.0));
    assert!(ray::get(&r).unwrap_err().is_cancelled());
}

#[test]
fn cancelling_a_finished_task_keeps_its_value() {
    let _ray = common::init(1.0);
    let r = queued.remote(9);
    assert_eq!(ray::get(&r).unwrap(), 9);
    ray::cancel(&r, false).unwrap();
    assert_eq!(ray::get(&r).unwrap(), 9);
}

static CHILDREN_STARTED: AtomicUsize = AtomicUsize::new(0);
static CHILDREN_STOPPED: AtomicUsize = AtomicUsize::new(0);

/// Runs until cancelled, then counts itself.
#[ray::remote]
fn child() -> u8 {
    CHILDREN_STARTED.fetch_add(1, Ordering::SeqCst);
    while !ray::runtime_context().is_canceled() {
        std::thread::sleep(Duration::from_millis(2));
    }
    CHILDREN_STOPPED.fetch_add(1, Ordering::SeqCst);
    0
}

/// Submits three children, then waits for them (in `get`, its CPU lent out).
#[ray::remote]
fn parent() -> Vec<u8> {
    let kids: Vec<_> = (0..3).map(|_| child.remote()).collect();
    ray::get(&kids).unwrap_or_default()
}

#[test]
fn cancel_is_recursive_as_rays_default_and_can_leave_children_running() {
    let _ray = common::init(8.0);
    CHILDREN_STOPPED.store(0, Ordering::SeqCst);
    CHILDREN_STARTED.store(0, Ordering::SeqCst);
    let running = |n: usize| common::wait_until(common::LONG, || ray::task_summary().running == n);

    // `cancel` (recursive): the parent's children stop too. (A child batched behind
    // another on one worker never starts once cancelled: every started one stops.)
    let q = parent.remote();
    assert!(running(4), "the parent and its three children run");
    ray::cancel(&q, false).unwrap();
    assert!(ray::get(&q).unwrap_err().is_cancelled());
    assert!(running(0), "the cancelled parent's children stop");
    let stopped = CHILDREN_STOPPED.load(Ordering::SeqCst);
    assert!(stopped >= 1, "a child ran and stopped");
    assert_eq!(stopped, CHILDREN_STARTED.load(Ordering::SeqCst));

    // Without recursion the children run on after their parent is cancelled.
    let p = parent.remote();
    assert!(running(4), "the next parent and its three children run");
    ray::cancel_with(&p, false, false).unwrap();
    assert!(ray::get(&p).unwrap_err().is_cancelled());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(CHILDREN_STOPPED.load(Ordering::SeqCst), stopped);
    assert!(ray::task_summary().running >= 3, "the children still run");
}
