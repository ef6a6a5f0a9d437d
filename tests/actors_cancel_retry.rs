//! Actors: cancelling queued and running method calls, and `max_task_retries` keeping
//! queued calls alive across a restart.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ray::Error;
use ray::prelude::*;

static RAN: AtomicUsize = AtomicUsize::new(0);

pub struct Slow {
    n: u64,
}

#[ray::remote]
impl Slow {
    pub fn new() -> Self {
        Slow { n: 0 }
    }
    pub fn block(&mut self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        self.n += 1;
        self.n
    }
    pub fn count(&mut self) -> u64 {
        RAN.fetch_add(1, Ordering::SeqCst);
        self.n += 1;
        self.n
    }
    pub async fn forever(&self) -> u64 {
        actix_rt::time::sleep(Duration::from_secs(3600)).await;
        0
    }
    pub fn crash(&mut self) -> u64 {
        panic!("slow crashed");
    }
}

#[test]
fn a_queued_actor_call_is_cancelled_without_running() {
    let _ray = common::init(2.0);
    let a = Slow::remote();
    let busy = a.block.remote(300);
    let queued = a.count.remote();
    ray::cancel(&queued, false).unwrap();
    let err = ray::get_timeout(&queued, common::LONG).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(ray::get(&busy).unwrap(), 1);
    // The actor goes on, and the cancelled call never ran.
    assert_eq!(ray::get(&a.count.remote()).unwrap(), 2);
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
}

#[test]
fn a_running_async_actor_call_is_aborted() {
    let _ray = common::init(2.0);
    let a = Slow::remote();
    let r = a.forever.remote();
    assert!(matches!(
        ray::get_timeout(&r, Duration::from_millis(50)),
        Err(Error::Timeout { .. })
    ));
    ray::cancel(&r, false).unwrap();
    assert!(
        ray::get_timeout(&r, common::LONG)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(ray::get(&a.block.remote(0)).unwrap(), 1);
}

#[test]
fn cancelling_a_put_object_is_an_error() {
    let _ray = common::init(1.0);
    let r = ray::put(1u8);
    assert!(matches!(
        ray::cancel(&r, false),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(ray::get(&r).unwrap(), 1);
}

#[test]
fn max_task_retries_keeps_queued_calls_across_a_restart() {
    let _ray = common::init(2.0);
    let a = Slow::options().max_restarts(1).max_task_retries(1).remote();
    let gate = a.block.remote(100);
    let crash = a.crash.remote();
    let after: Vec<_> = (0..3).map(|_| a.count.remote()).collect();
    assert_eq!(ray::get(&gate).unwrap(), 1);
    assert!(ray::get(&crash).unwrap_err().is_panic());
    // Queued behind the crash, they run on the fresh instance, in order.
    assert_eq!(
        ray::get_timeout(&after, common::LONG).unwrap(),
        vec![1, 2, 3]
    );

    let b = Slow::options().max_restarts(1).remote();
    // Keep the actor busy so that both calls below are submitted before the crash.
    let busy = b.block.remote(100);
    let crash = b.crash.remote();
    let lost = b.count.remote();
    assert_eq!(ray::get(&busy).unwrap(), 1);
    assert!(ray::get(&crash).unwrap_err().is_panic());
    assert!(matches!(
        ray::get_timeout(&lost, common::LONG),
        Err(Error::ActorDied { .. })
    ));
    assert_eq!(ray::get(&b.count.remote()).unwrap(), 1);
}
