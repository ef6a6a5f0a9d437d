//! Resource requests: infeasible requests, admission control, custom resources, and the
//! CPU a task blocked in `get` lends to its children.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ray::prelude::*;
use ray::{Config, Error};

#[ray::remote]
fn one() -> u8 {
    1
}

#[test]
fn a_request_larger_than_the_node_is_infeasible_not_a_hang() {
    let _ray = common::init_with(Config::new().num_cpus(2.0).resource("special", 1.0));
    let t0 = Instant::now();
    let cases = [
        one.options().num_cpus(64.0).remote(),
        one.options().num_gpus(1.0).remote(),
        one.options().resource("tpu", 1.0).remote(),
        one.options().resource("special", 2.0).remote(),
    ];
    for r in &cases {
        match ray::get_timeout(r, common::LONG) {
            Err(Error::Infeasible { function, .. }) => assert_eq!(function, "one"),
            other => panic!("expected Infeasible, got {other:?}"),
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "infeasible took {:?}",
        t0.elapsed()
    );
    let msg = ray::get(&cases[0]).unwrap_err().to_string();
    assert!(msg.contains("CPU"), "{msg}");
    // The node still works, and nothing leaked.
    assert_eq!(
        ray::get(
            &one.options()
                .num_cpus(2.0)
                .resource("special", 1.0)
                .remote()
        )
        .unwrap(),
        1
    );
    assert!(common::available_becomes("CPU", 2.0));
}

static SPANS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

#[ray::remote]
fn timed(ms: u64) -> u64 {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    SPANS.lock().unwrap().push((start, Instant::now()));
    ms
}

#[test]
fn tasks_wait_for_resources() {
    let _ray = common::init(2.0);
    let refs: Vec<_> = (0..4)
        .map(|_| timed.options().num_cpus(2.0).remote(40))
        .collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![40; 4]);
    let mut spans = SPANS.lock().unwrap().clone();
    assert_eq!(spans.len(), 4);
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "two 2-CPU tasks overlapped on a 2-CPU node: {w:?}"
        );
    }
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Returns whether `n` copies of this task were running at the same time.
#[ray::remote]
fn rendezvous(n: usize) -> bool {
    RUNNING.fetch_add(1, Ordering::SeqCst);
    common::wait_until(Duration::from_secs(3), || {
        RUNNING.load(Ordering::SeqCst) >= n
    })
}

#[test]
fn tasks_that_fit_together_run_together() {
    let _ray = common::init(2.0);
    // The control for `tasks_wait_for_resources`: two 1-CPU tasks do overlap.
    let refs: Vec<_> = (0..2)
        .map(|_| rendezvous.options().num_cpus(1.0).remote(2))
        .collect();
    assert_eq!(
        ray::get_timeout(&refs, common::LONG).unwrap(),
        vec![true, true]
    );
}

static SPECIAL_NOW: AtomicUsize = AtomicUsize::new(0);
static SPECIAL_MAX: AtomicUsize = AtomicUsize::new(0);
static SPECIAL_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn uses_special() -> f64 {
    let now = SPECIAL_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    SPECIAL_MAX.fetch_max(now, Ordering::SeqCst);
    common::hold(&SPECIAL_GATE);
    std::thread::sleep(Duration::from_millis(5));
    SPECIAL_NOW.fetch_sub(1, Ordering::SeqCst);
    ray::runtime_context().task_id().map_or(0.0, |_| 1.0)
}

#[test]
fn custom_resources_from_config_limit_concurrency() {
    let _ray = common::init_with(Config::new().num_cpus(4.0).resource("special", 1.0));
    assert_eq!(ray::cluster_resources().unwrap().get("special"), Some(&1.0));
    assert_eq!(common::available("special"), 1.0);
    let refs: Vec<_> = (0..3)
        .map(|_| {
            uses_special
                .options()
                .num_cpus(0.5)
                .resource("special", 1.0)
                .remote()
        })
        .collect();
    // One holds the resource; the others queue although CPUs are free.
    assert!(common::available_becomes("special", 0.0));
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .queued
        == 2));
    assert_eq!(common::available("CPU"), 3.5);
    SPECIAL_GATE.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![1.0; 3]);
    assert_eq!(
        SPECIAL_MAX.load(Ordering::SeqCst),
        1,
        "two tasks held the single `special`"
    );
    assert!(common::available_becomes("special", 1.0));
    // Fractional requests share the resource.
    SPECIAL_MAX.store(0, Ordering::SeqCst);
    let refs: Vec<_> = (0..4)
        .map(|_| {
            uses_special
                .options()
                .num_cpus(0.0)
                .resource("special", 0.25)
                .remote()
        })
        .collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![1.0; 4]);
}

static FULL_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn gated() -> u8 {
    common::hold(&FULL_GATE);
    0
}

#[ray::remote]
async fn gated_async() -> u8 {
    while !FULL_GATE.load(Ordering::SeqCst) {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    0
}

#[ray::remote]
fn fails() -> Result<u8, String> {
    Err("no".into())
}

#[test]
fn available_resources_return_to_full_after_tasks_end() {
    let _ray = common::init_with(
        Config::new()
            .num_cpus(4.0)
            .num_gpus(1.0)
            .resource("special", 2.0),
    );
    let full = ray::available_resources().unwrap();
    assert_eq!(full, ray::cluster_resources().unwrap());
    assert_eq!(full["CPU"], 4.0);
    let a = gated
        .options()
        .num_cpus(1.5)
        .resource("special", 1.0)
        .remote();
    let b = gated_async.options().num_cpus(0.5).num_gpus(0.5).remote();
    assert!(common::wait_until(common::LONG, || {
        let now = ray::available_resources().unwrap();
        now["CPU"] == 2.0 && now["GPU"] == 0.5 && now["special"] == 1.0
    }));
    FULL_GATE.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&a, common::LONG).unwrap(), 0);
    assert_eq!(ray::get_timeout(&b, common::LONG).unwrap(), 0);
    assert!(common::wait_until(
        common::LONG,
        || ray::available_resources().unwrap() == full
    ));
    // Failed and panicking tasks give their resources back too.
    assert!(ray::get(&fails.options().num_cpus(4.0).remote()).is_err());
    assert!(common::wait_until(
        common::LONG,
        || ray::available_resources().unwrap() == full
    ));
}

#[ray::remote]
fn fib(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    let a = fib.remote(n - 1);
    let b = fib.remote(n - 2);
    ray::get(&a).unwrap() + ray::get(&b).unwrap()
}

#[test]
fn nested_blocking_gets_do_not_deadlock() {
    let _ray = common::init(1.0);
    let r = fib.options().num_cpus(1.0).remote(5);
    assert_eq!(ray::get_timeout(&r, Duration::from_secs(20)).unwrap(), 5);
    assert!(common::available_becomes("CPU", 1.0));
    assert_eq!(ray::task_summary().finished, 15, "fib(5) is 15 tasks");
}

#[test]
fn memory_is_a_resource_tasks_can_ask_for() {
    let _ray = common::init_with(Config::new().num_cpus(2.0).memory(4e9));
    assert_eq!(ray::cluster_resources().unwrap()["memory"], 4e9);
    assert_eq!(ray::get(&one.options().memory(1e9).remote()).unwrap(), 1);
    match ray::get_timeout(&one.options().memory(8e9).remote(), common::LONG) {
        Err(Error::Infeasible { requested, .. }) => assert!(requested.contains("memory")),
        other => panic!("expected Infeasible, got {other:?}"),
    }
}

#[test]
fn a_node_offers_memory_by_default() {
    let _ray = common::init(1.0);
    let memory = ray::cluster_resources().unwrap()["memory"];
    assert!(memory > 0.0, "{memory}");
    assert_eq!(ray::get(&one.options().memory(1e6).remote()).unwrap(), 1);
}
