//! Remote functions: arguments, returns, errors, options, retries and `get` variants.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ray::Error;
use ray::prelude::*;

#[ray::remote]
fn square(x: i64) -> i64 {
    x * x
}

#[ray::remote]
async fn square_async(x: i64) -> i64 {
    x * x
}

#[ray::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[ray::remote]
fn concat(a: String, b: Vec<u32>) -> String {
    format!("{a}{}", b.len())
}

#[test]
fn sync_and_async_tasks_return_their_values() {
    let _ray = common::init(2.0);
    assert_eq!(ray::get(&square.remote(7)).unwrap(), 49);
    assert_eq!(ray::get(&square_async.remote(-8)).unwrap(), 64);
    assert_eq!(ray::get(&add.remote(40, 2)).unwrap(), 42);
    assert_eq!(
        ray::get(&concat.remote("n=".to_string(), vec![1, 2, 3])).unwrap(),
        "n=3"
    );
}

#[test]
fn object_ref_args_by_value_and_by_reference_are_resolved() {
    let _ray = common::init(2.0);
    let a = ray::put(5i64);
    let b = square.remote(3);
    // `&ObjectRef` and `ObjectRef` mix with plain values.
    assert_eq!(ray::get(&add.remote(&a, &b)).unwrap(), 14);
    assert_eq!(ray::get(&add.remote(a.clone(), 1)).unwrap(), 6);
    assert_eq!(ray::get(&add.remote(100, b)).unwrap(), 109);
    // `a` is still usable after being passed by reference and by clone.
    assert_eq!(ray::get(&a).unwrap(), 5);
    // A chain of refs: each task's result feeds the next.
    let mut r = ray::put(1i64);
    for _ in 0..10 {
        r = add.remote(&r, &r);
    }
    assert_eq!(ray::get(&r).unwrap(), 1024);
}

static SLOW_DONE: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn slow_value(x: i64) -> i64 {
    std::thread::sleep(Duration::from_millis(100));
    SLOW_DONE.fetch_add(1, Ordering::SeqCst);
    x
}

/// Records whether the producer had finished when this task body started.
#[ray::remote]
fn observe_dep(x: i64) -> (i64, usize) {
    (x, SLOW_DONE.load(Ordering::SeqCst))
}

#[test]
fn a_ref_argument_is_resolved_before_the_task_runs() {
    let _ray = common::init(4.0);
    let dep = slow_value.remote(11);
    let r = observe_dep.remote(&dep);
    let (value, producers_done) = ray::get(&r).unwrap();
    assert_eq!(value, 11);
    assert_eq!(
        producers_done, 1,
        "the consumer started before its argument was produced"
    );
}

#[ray::remote]
fn sum_refs(refs: Vec<ObjectRef<i64>>) -> (usize, i64) {
    // The refs arrive unresolved: the task gets them itself.
    let ready = refs.iter().filter(|r| r.is_ready()).count();
    let values = ray::get(&refs).unwrap();
    (ready, values.iter().sum())
}

static GATE_NESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[ray::remote]
fn gated(x: i64) -> i64 {
    common::hold(&GATE_NESTED);
    x
}

#[test]
fn refs_nested_inside_a_value_are_not_resolved() {
    let _ray = common::init(4.0);
    // The nested refs are still pending when the task starts: it must not wait for them.
    let refs: Vec<ObjectRef<i64>> = (1..=3).map(|i| gated.remote(i)).collect();
    let r = sum_refs.remote(refs.clone());
    // The outer task started (it does not depend on the nested refs) and blocks on them.
    assert!(matches!(
        ray::get_timeout(&r, Duration::from_millis(200)),
        Err(Error::Timeout { .. })
    ));
    GATE_NESTED.store(true, Ordering::SeqCst);
    let (ready_at_start, sum) = ray::get_timeout(&r, common::LONG).unwrap();
    assert_eq!(
        ready_at_start, 0,
        "nested refs were resolved before the task ran"
    );
    assert_eq!(sum, 6);
}

#[ray::remote]
fn checked_sqrt(x: f64) -> Result<f64, String> {
    if x < 0.0 {
        Err(format!("cannot take the root of {x}"))
    } else {
        Ok(x.sqrt())
    }
}

#[test]
fn a_returned_err_becomes_task_failed_with_function_and_message() {
    let _ray = common::init(2.0);
    assert_eq!(ray::get(&checked_sqrt.remote(16.0)).unwrap(), 4.0);
    let err = ray::get(&checked_sqrt.remote(-4.0)).unwrap_err();
    match &err {
        Error::TaskFailed {
            function, message, ..
        } => {
            assert_eq!(function, "checked_sqrt");
            assert_eq!(message, "cannot take the root of -4");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert!(!err.is_panic());
    assert!(err.to_string().contains("checked_sqrt"));
    assert!(err.to_string().contains("cannot take the root of -4"));
}

#[ray::remote]
fn explode(x: u32) -> u32 {
    if x > 0 {
        panic!("boom {x}");
    }
    x
}

#[ray::remote]
async fn explode_async(x: u32) -> u32 {
    if x > 0 {
        panic!("async boom {x}");
    }
    x
}

#[test]
fn a_panic_becomes_task_panicked() {
    let _ray = common::init(2.0);
    let err = ray::get(&explode.remote(3)).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    match &err {
        Error::TaskPanicked { function, message } => {
            assert_eq!(function, "explode");
            assert_eq!(message, "boom 3");
        }
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    let err = ray::get(&explode_async.remote(4)).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("async boom 4"));
    // The runtime (and its worker threads) survive a panicking task.
    assert_eq!(ray::get(&explode.remote(0)).unwrap(), 0);
    assert_eq!(ray::get(&square.remote(9)).unwrap(), 81);
}

static DOWNSTREAM_RAN: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn downstream(x: f64) -> f64 {
    DOWNSTREAM_RAN.fetch_add(1, Ordering::SeqCst);
    x + 1.0
}

#[test]
fn a_failed_argument_fails_the_task_with_the_root_cause_without_running_it() {
    let _ray = common::init(2.0);
    let bad = checked_sqrt.remote(-1.0);
    let r = downstream.remote(&bad);
    let r2 = downstream.remote(&r); // two levels down
    for r in [&r, &r2] {
        match ray::get(r).unwrap_err() {
            Error::TaskFailed {
                function, message, ..
            } => {
                assert_eq!(function, "checked_sqrt");
                assert_eq!(message, "cannot take the root of -1");
            }
            other => panic!("expected the root cause, got {other:?}"),
        }
    }
    let panicked = explode.remote(1);
    let r3 = square.remote(ray::put(2i64));
    assert_eq!(ray::get(&r3).unwrap(), 4);
    let r4 = downstream.remote(checked_sqrt.remote(4.0));
    assert_eq!(ray::get(&r4).unwrap(), 3.0);
    assert_eq!(
        DOWNSTREAM_RAN.load(Ordering::SeqCst),
        1,
        "only the healthy downstream ran"
    );
    // A panic upstream propagates as the panic.
    #[ray::remote]
    fn takes_u32(x: u32) -> u32 {
        DOWNSTREAM_RAN.fetch_add(1, Ordering::SeqCst);
        x
    }
    assert!(
        ray::get(&takes_u32.remote(&panicked))
            .unwrap_err()
            .is_panic()
    );
    assert_eq!(DOWNSTREAM_RAN.load(Ordering::SeqCst), 1);
}

#[ray::remote(num_returns = 2)]
fn div_mod(a: u64, b: u64) -> (u64, u64) {
    (a / b, a % b)
}

#[ray::remote(num_returns = 2)]
fn split_name(full: String) -> Result<(String, String), String> {
    let (a, b) = full
        .split_once(' ')
        .ok_or_else(|| format!("no space in `{full}`"))?;
    Ok((a.to_string(), b.to_string()))
}

#[test]
fn num_returns_two_gives_two_refs() {
    let _ray = common::init(2.0);
    let (q, r): (ObjectRef<u64>, ObjectRef<u64>) = div_mod.remote(17, 5);
    assert_eq!(ray::get(&q).unwrap(), 3);
    assert_eq!(ray::get(&r).unwrap(), 2);
    assert_ne!(q.id(), r.id());
    // Each return can feed a task on its own.
    #[ray::remote]
    fn mul(a: u64, b: u64) -> u64 {
        a * b
    }
    assert_eq!(ray::get(&mul.remote(&q, &r)).unwrap(), 6);

    let (first, last) = split_name.remote("Ada Lovelace".to_string());
    assert_eq!(ray::get(&first).unwrap(), "Ada");
    assert_eq!(ray::get(&last).unwrap(), "Lovelace");
    // An error fails both returns.
    let (first, last) = split_name.remote("Plato".to_string());
    for r in [first, last] {
        assert!(matches!(ray::get(&r), Err(Error::TaskFailed { .. })));
    }
}

#[test]
fn options_num_cpus_and_name() {
    let _ray = common::init(4.0);
    let r = square
        .options()
        .num_cpus(2.0)
        .name("square-two-cpus")
        .remote(12);
    assert_eq!(ray::get(&r).unwrap(), 144);
    let r = square.options().num_cpus(0.5).remote(3);
    assert_eq!(ray::get(&r).unwrap(), 9);
    // The name shows in the timeline.
    let path = std::env::temp_dir().join(format!("ray-options-name-{}.json", std::process::id()));
    let named = common::wait_until(common::LONG, || {
        ray::timeline(&path).unwrap();
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"name\":\"square-two-cpus\"")
    });
    let _ = std::fs::remove_file(&path);
    assert!(named, "the task name is missing from the timeline");
    // Bad options are an error, not a panic.
    assert!(matches!(
        ray::get(&square.options().num_cpus(-1.0).remote(1)),
        Err(Error::InvalidArgument(_))
    ));
}

static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn flaky(x: u32) -> Result<u32, String> {
    let n = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= 2 {
        Err(format!("attempt {n} failed"))
    } else {
        Ok(x * 10)
    }
}

static FLAKY_NO_RETRY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn flaky_no_retry() -> Result<u32, String> {
    FLAKY_NO_RETRY_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("always".to_string())
}

#[test]
fn retry_exceptions_retries_application_errors() {
    let _ray = common::init(2.0);
    let r = flaky
        .options()
        .retry_exceptions(true)
        .max_retries(2)
        .remote(4);
    assert_eq!(ray::get(&r).unwrap(), 40);
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);

    // Without retry_exceptions an application error is final.
    let r = flaky_no_retry.options().max_retries(5).remote();
    assert!(matches!(ray::get(&r), Err(Error::TaskFailed { .. })));
    assert_eq!(FLAKY_NO_RETRY_CALLS.load(Ordering::SeqCst), 1);

    // Retries run out: the last error is returned after 1 + max_retries attempts.
    let r = flaky_no_retry
        .options()
        .retry_exceptions(true)
        .max_retries(2)
        .remote();
    assert_eq!(
        ray::get(&r).unwrap_err(),
        Error::TaskFailed {
            function: "flaky_no_retry".into(),
            message: "always".into(),
            cause: None,
        }
    );
    assert_eq!(FLAKY_NO_RETRY_CALLS.load(Ordering::SeqCst), 4);
}

static PICKY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Fails with a transient error twice, then with a permanent one.
#[ray::remote]
fn picky() -> Result<u32, String> {
    match PICKY_CALLS.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Err("transient: try again".into()),
        _ => Err("permanent: give up".into()),
    }
}

fn transient(e: &Error) -> bool {
    e.to_string().contains("transient")
}

#[test]
fn retry_exceptions_if_retries_only_the_errors_it_accepts() {
    let _ray = common::init(2.0);
    let r = picky
        .options()
        .retry_exceptions_if(transient)
        .max_retries(10)
        .remote();
    // Two transient failures are retried; the permanent one is final at once.
    let err = ray::get(&r).unwrap_err();
    assert!(err.to_string().contains("permanent"), "{err}");
    assert_eq!(PICKY_CALLS.load(Ordering::SeqCst), 3);
}

#[test]
fn get_accepts_vec_slice_and_array() {
    let _ray = common::init(2.0);
    let refs: Vec<ObjectRef<i64>> = (0..5).map(|i| square.remote(i)).collect();
    assert_eq!(ray::get(&refs).unwrap(), vec![0, 1, 4, 9, 16]);
    assert_eq!(ray::get(&refs[1..4]).unwrap(), vec![1, 4, 9]);
    let arr: [ObjectRef<i64>; 3] = [square.remote(5), ray::put(-1), square.remote(6)];
    assert_eq!(ray::get(&arr).unwrap(), vec![25, -1, 36]);
    let empty: Vec<ObjectRef<i64>> = Vec::new();
    assert_eq!(ray::get(&empty).unwrap(), Vec::<i64>::new());
    // One failed ref fails the whole get.
    let mixed = vec![ray::put(1.0), checked_sqrt.remote(-9.0), ray::put(2.0)];
    assert!(matches!(ray::get(&mixed), Err(Error::TaskFailed { .. })));
}

static GATE_TIMEOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[ray::remote]
fn gated_u8() -> u8 {
    common::hold(&GATE_TIMEOUT);
    7
}

#[test]
fn get_timeout_gives_timeout_and_later_the_value() {
    let _ray = common::init(2.0);
    let r = gated_u8.remote();
    let t0 = Instant::now();
    let err = ray::get_timeout(&r, Duration::from_millis(50)).unwrap_err();
    let waited = t0.elapsed();
    assert_eq!(
        err,
        Error::Timeout {
            after: Duration::from_millis(50)
        }
    );
    assert!(
        waited >= Duration::from_millis(50),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "returned late: {waited:?}");
    // On a list too.
    let refs = vec![ray::put(1u8), r.clone()];
    assert!(matches!(
        ray::get_timeout(&refs, Duration::from_millis(20)),
        Err(Error::Timeout { .. })
    ));
    GATE_TIMEOUT.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), 7);
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), vec![1, 7]);
}

#[ray::remote]
async fn square_plus_one(x: i64) -> i64 {
    let child = square.remote(x);
    let nested = square_async.remote(x);
    child.await.unwrap() + (&nested).await.unwrap() - x * x + 1
}

#[ray::remote]
async fn await_failure() -> String {
    match checked_sqrt.remote(-2.0).await {
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn object_refs_can_be_awaited_inside_async_tasks() {
    let _ray = common::init(2.0);
    assert_eq!(ray::get(&square_plus_one.remote(6)).unwrap(), 37);
    // Many concurrent awaiting tasks (0 CPUs each, so all run at once): none blocks an
    // executor thread, or the async children on those executors could never run.
    let refs: Vec<_> = (0..32)
        .map(|i| square_plus_one.options().num_cpus(0.0).remote(i))
        .collect();
    let expected: Vec<i64> = (0..32).map(|i| i * i + 1).collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), expected);
    assert!(
        ray::get(&await_failure.remote())
            .unwrap()
            .contains("cannot take the root of -2")
    );
}

#[ray::remote]
async fn plus_one_later(x: i64) -> i64 {
    actix_rt::task::yield_now().await;
    x + 1
}

/// Blocks its executor thread in `ray::get` (what docs/tokio.md advises against) on an
/// async child it submitted.
#[ray::remote]
async fn blocks_on_its_child(x: i64) -> i64 {
    ray::get(&plus_one_later.remote(x)).unwrap_or(-1)
}

#[test]
fn async_tasks_blocking_their_threads_on_async_children_still_finish() {
    let _ray = common::init(2.0);
    // More parents than executor threads, all at once (0 CPUs each): every thread they
    // start on blocks, so their children must run on other threads.
    let refs: Vec<_> = (0..12)
        .map(|i| blocks_on_its_child.options().num_cpus(0.0).remote(i))
        .collect();
    let expected: Vec<i64> = (1..=12).collect();
    assert_eq!(ray::get_timeout(&refs, common::LONG).unwrap(), expected);
}

#[test]
fn an_async_task_blocked_in_get_lends_its_cpu_to_its_child() {
    // One CPU, which the parent holds until it blocks: as a sync task's, its CPU is
    // lent out while it waits, or its child could never start.
    let _ray = common::init(1.0);
    let r = blocks_on_its_child.remote(41);
    assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), 42);
    assert_eq!(ray::available_resources().unwrap().get("CPU"), Some(&1.0));
}

#[derive(Debug)]
struct Wrapped(std::io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the model")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[ray::remote]
fn load_model() -> Result<u8, Wrapped> {
    Err(Wrapped(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "weights.bin is missing",
    )))
}

#[ray::remote]
fn load_with_context() -> anyhow::Result<u8> {
    use anyhow::Context;
    Err(anyhow::anyhow!("disk unplugged"))
        .context("weights.bin is missing")
        .context("loading the model")
}

#[ray::remote]
fn boxed_error() -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(Wrapped(std::io::Error::other("no GPU memory"))))
}

#[ray::remote]
fn plain_error() -> Result<u8, String> {
    Err("just a string".into())
}

#[test]
fn a_task_error_keeps_its_source_chain() {
    use std::error::Error as _;
    let _ray = common::init(2.0);
    // A std error with a source.
    let err = ray::get(&load_model.remote()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task `load_model` failed: loading the model"
    );
    assert_eq!(err.source().unwrap().to_string(), "weights.bin is missing");
    assert!(err.source().unwrap().source().is_none());
    // anyhow's context chain, three deep; `{:#}` prints all of it.
    let err = ray::get(&load_with_context.remote()).unwrap_err();
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(
        chain.ends_with("loading the model: weights.bin is missing: disk unplugged"),
        "{chain}"
    );
    // A boxed error: its own source too.
    let err = ray::get(&boxed_error.remote()).unwrap_err();
    assert_eq!(err.source().unwrap().to_string(), "no GPU memory");
    // A String error has no chain.
    let err = ray::get(&plain_error.remote()).unwrap_err();
    assert!(err.source().is_none());
}
