//! Chains of dependent tasks, which the node pipelines onto the worker producing their
//! arguments: results, root-cause errors, cancellation and nested blocking gets inside a
//! chain.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

#[ray::remote]
fn inc(x: u64) -> u64 {
    x + 1
}

#[ray::remote]
fn fail_at(x: u64, at: u64) -> Result<u64, String> {
    if x == at {
        return Err(format!("broke at {x}"));
    }
    Ok(x + 1)
}

static AFTER_FAILURE: AtomicUsize = AtomicUsize::new(0);

#[ray::remote]
fn counted(x: u64) -> u64 {
    AFTER_FAILURE.fetch_add(1, Ordering::SeqCst);
    x + 1
}

/// Blocks in `get` on a task of its own inside the chain.
#[ray::remote]
fn nested(x: u64) -> u64 {
    ray::get(&inc.remote(x)).expect("nested get")
}

#[test]
fn a_long_chain_gives_the_right_result_on_one_cpu() {
    let _ray = common::init(1.0);
    let mut r = inc.remote(0u64);
    for _ in 1..500 {
        r = inc.remote(&r);
    }
    assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), 500);
}

#[test]
fn a_failure_in_the_middle_reaches_the_end_without_running_the_rest() {
    let _ray = common::init(1.0);
    AFTER_FAILURE.store(0, Ordering::SeqCst);
    let mut r = inc.remote(0u64);
    for _ in 0..20 {
        r = fail_at.remote(&r, 10u64);
    }
    for _ in 0..20 {
        r = counted.remote(&r);
    }
    let err = ray::get_timeout(&r, common::LONG).unwrap_err();
    assert!(err.to_string().contains("broke at 10"), "{err}");
    assert_eq!(AFTER_FAILURE.load(Ordering::SeqCst), 0);
}

#[test]
fn a_chain_link_that_blocks_in_get_does_not_deadlock() {
    let _ray = common::init(1.0);
    let mut r = inc.remote(0u64);
    for i in 0..50 {
        r = if i % 10 == 5 {
            nested.remote(&r)
        } else {
            inc.remote(&r)
        };
    }
    assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), 51);
}

#[test]
fn cancelling_a_link_cancels_what_depends_on_it() {
    let _ray = common::init(1.0);
    let first = nested.remote(0u64);
    let second = inc.remote(&first);
    let third = inc.remote(&second);
    ray::cancel(&second, false).unwrap();
    assert!(
        ray::get_timeout(&second, common::LONG)
            .unwrap_err()
            .is_cancelled()
    );
    assert!(
        ray::get_timeout(&third, common::LONG)
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(ray::get_timeout(&first, common::LONG).unwrap(), 1);
}

#[ray::remote]
fn producer() -> u64 {
    1
}

#[ray::remote]
fn slow_consumer(x: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(300));
    x
}

#[test]
fn tasks_fanning_out_from_one_producer_still_run_in_parallel() {
    let _ray = common::init(2.0);
    // Warm the worker threads, so the timing below is only the consumers'.
    ray::get(&[inc.remote(0u64), inc.remote(0u64)]).unwrap();
    let t0 = std::time::Instant::now();
    let x = producer.remote();
    let consumers: Vec<_> = (0..4).map(|_| slow_consumer.remote(&x)).collect();
    assert_eq!(
        ray::get_timeout(&consumers, common::LONG).unwrap(),
        vec![1; 4]
    );
    // Four 300 ms tasks on two CPUs: ~600 ms in parallel, 1,200 ms one after another.
    let took = t0.elapsed();
    assert!(
        took < std::time::Duration::from_millis(850),
        "took {took:?}: the consumers did not use both CPUs"
    );
}
