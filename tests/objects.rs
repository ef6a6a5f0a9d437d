//! Objects: put/get, wait, reference counting and memory, zero-copy reads, serializing
//! refs, and awaiting refs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ray::Error;
use ray::prelude::*;
use serde::{Deserialize, Serialize};

const MIB: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: f64,
    label: String,
    tags: Vec<u16>,
}

#[test]
fn put_get_round_trip() {
    let _ray = common::init(2.0);
    let p = Point {
        x: 1.5,
        label: "a".into(),
        tags: vec![1, 2],
    };
    let r = ray::put(p.clone());
    assert!(r.is_ready());
    assert_eq!(ray::get(&r).unwrap(), p);
    assert_eq!(*r.get_arc().unwrap(), p);
    assert_eq!(ray::get(&ray::put(String::from("text"))).unwrap(), "text");
    assert_eq!(ray::get(&ray::put(())).unwrap(), ());
    assert_eq!(
        ray::get(&ray::put(Some(vec![1u8; 3]))).unwrap(),
        Some(vec![1u8; 3])
    );
    // Every put is a new object.
    let a = ray::put(1u8);
    let b = ray::put(1u8);
    assert_ne!(a.id(), b.id());
    assert_eq!(a.clone(), a);
}

static WAIT_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn gated(x: i32) -> i32 {
    common::hold(&WAIT_GATE);
    x
}

#[ray::remote]
fn failing() -> Result<i32, String> {
    Err("bad".into())
}

#[test]
fn wait_splits_ready_and_not_ready_in_input_order() {
    let _ray = common::init(4.0);
    let refs = vec![
        gated.remote(0),
        ray::put(1),
        ray::put(2),
        gated.remote(3),
        failing.remote(),
    ];
    // k = 2: returns once two are ready, with exactly the first two ready refs (as in
    // Ray); everything else, ready or not, is in `not_ready`, in input order.
    let (ready, not_ready) = ray::wait(&refs, 2, None).unwrap();
    assert_eq!(ready, refs[1..3]);
    assert_eq!(
        not_ready,
        vec![refs[0].clone(), refs[3].clone(), refs[4].clone()]
    );

    // A failed object counts as ready.
    let (ready, not_ready) = ray::wait(&refs, 3, Some(common::LONG)).unwrap();
    assert_eq!(
        ready,
        vec![refs[1].clone(), refs[2].clone(), refs[4].clone()]
    );
    assert_eq!(not_ready, vec![refs[0].clone(), refs[3].clone()]);

    // Not enough become ready: the timeout ends the wait with the split so far.
    let t0 = Instant::now();
    let (ready, not_ready) = ray::wait(&refs, 4, Some(Duration::from_millis(100))).unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(100),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "returned late: {waited:?}");
    assert_eq!(
        ready,
        vec![refs[1].clone(), refs[2].clone(), refs[4].clone()]
    );
    assert_eq!(not_ready, vec![refs[0].clone(), refs[3].clone()]);

    // A zero timeout polls.
    let (ready, _) = ray::wait(&refs, 5, Some(Duration::ZERO)).unwrap();
    assert_eq!(ready.len(), 3);

    WAIT_GATE.store(true, Ordering::SeqCst);
    let (ready, not_ready) = ray::wait(&refs, 5, Some(common::LONG)).unwrap();
    assert_eq!(ready, refs);
    assert!(not_ready.is_empty());
    assert_eq!(ray::get(&refs[..4]).unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn wait_with_num_returns_above_len_is_an_error() {
    let _ray = common::init(2.0);
    let refs = vec![ray::put(1u8), ray::put(2u8)];
    assert!(matches!(
        ray::wait(&refs, 3, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ray::wait(&refs, 3, Some(Duration::from_millis(1))),
        Err(Error::InvalidArgument(_))
    ));
    let none: Vec<ObjectRef<u8>> = Vec::new();
    assert!(ray::wait(&none, 1, None).is_err());
    let (ready, not_ready) = ray::wait(&none, 0, None).unwrap();
    assert!(ready.is_empty() && not_ready.is_empty());
}

#[test]
fn a_put_is_freed_when_its_last_ref_drops() {
    let _ray = common::init(2.0);
    let before = ray::memory_summary();
    let r = ray::put(vec![7u8; 64 * MIB]);
    let during = ray::memory_summary();
    assert!(
        during.bytes_used >= before.bytes_used + 64 * MIB,
        "{before:?} -> {during:?}"
    );
    assert!(
        during.bytes_used <= before.bytes_used + 64 * MIB + 4096,
        "{before:?} -> {during:?}"
    );
    assert_eq!(during.num_objects, before.num_objects + 1);
    assert_eq!(during.num_ready, before.num_ready + 1);
    let clones = vec![r.clone(), r.clone()];
    drop(r);
    assert_eq!(
        ray::memory_summary(),
        during,
        "freed while clones are alive"
    );
    assert_eq!(ray::get(&clones[1]).unwrap().len(), 64 * MIB);
    drop(clones);
    assert_eq!(ray::memory_summary(), before);
}

#[ray::remote]
fn make_buf(mib: usize) -> Vec<u8> {
    vec![3u8; mib * MIB]
}

#[test]
fn a_task_result_is_freed_when_its_ref_drops() {
    let _ray = common::init(2.0);
    let before = ray::memory_summary().bytes_used;
    let r = make_buf.remote(8);
    assert_eq!(r.get_arc().unwrap().len(), 8 * MIB);
    assert!(ray::memory_summary().bytes_used >= before + 8 * MIB);
    drop(r);
    assert!(
        common::bytes_used_becomes(before),
        "{:?}",
        ray::memory_summary()
    );
    assert!(common::wait_until(common::LONG, || ray::memory_summary()
        .num_objects
        == 0));
}

static HOLDER_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn blocker() -> u8 {
    common::hold(&HOLDER_GATE);
    0
}

#[ray::remote]
fn len_of(v: Vec<u8>) -> usize {
    v.len()
}

#[test]
fn a_pending_task_keeps_its_argument_alive() {
    let _ray = common::init(1.0);
    let before = ray::memory_summary().bytes_used;
    let busy = blocker.remote();
    assert!(common::available_becomes("CPU", 0.0));
    let buf = ray::put(vec![1u8; 16 * MIB]);
    let len = len_of.remote(&buf);
    drop(buf);
    // The queued task still holds the object.
    assert!(!len.is_ready());
    assert!(ray::memory_summary().bytes_used >= before + 16 * MIB);
    HOLDER_GATE.store(true, Ordering::SeqCst);
    assert_eq!(ray::get_timeout(&len, common::LONG).unwrap(), 16 * MIB);
    assert_eq!(ray::get(&busy).unwrap(), 0);
    drop((len, busy));
    // Once it ran, nothing holds the argument any more.
    assert!(
        common::bytes_used_becomes(before),
        "{:?}",
        ray::memory_summary()
    );
}

#[test]
fn a_huge_put_is_zero_copy() {
    let _ray = common::init(2.0);
    let v = vec![1u8; 1 << 30];
    let ptr = v.as_ptr();
    let t0 = Instant::now();
    let r = ray::put(v);
    let arc = r.get_arc().unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(arc.as_ptr(), ptr, "the value was copied");
    assert_eq!(arc.len(), 1 << 30);
    assert_eq!(arc[(1 << 30) - 1], 1);
    // Generous: a copy or an encoding of 1 GiB would take far longer in a debug build.
    assert!(
        elapsed < Duration::from_millis(500),
        "put + get_arc of 1 GiB took {elapsed:?}"
    );
    // Two reads share one allocation.
    assert!(std::sync::Arc::ptr_eq(&arc, &r.get_arc().unwrap()));
    assert!(ray::memory_summary().bytes_used >= 1 << 30);
}

#[ray::remote]
fn decode_and_get(bytes: Vec<u8>) -> String {
    let r: ObjectRef<String> = rmp_serde::from_slice(&bytes).unwrap();
    ray::get(&r).unwrap()
}

#[test]
fn object_ref_serde_round_trip() {
    let _ray = common::init(2.0);
    let r = ray::put("payload".to_string());
    let bytes = rmp_serde::to_vec(&r).unwrap();
    let back: ObjectRef<String> = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back.id(), r.id());
    assert_eq!(ray::get(&back).unwrap(), "payload");
    // The decoded ref joins the reference count: the object lives while it does.
    drop(r);
    assert_eq!(ray::get(&back).unwrap(), "payload");
    // Decoded inside a task, too.
    assert_eq!(
        ray::get(&decode_and_get.remote(bytes.clone())).unwrap(),
        "payload"
    );
    // A task's return ref travels the same way.
    #[ray::remote]
    fn shout(s: String) -> String {
        s.to_uppercase()
    }
    let t = shout.remote(&back);
    let t_bytes = rmp_serde::to_vec(&t).unwrap();
    assert_eq!(
        ray::get(&decode_and_get.remote(t_bytes)).unwrap(),
        "PAYLOAD"
    );
    // Once every ref is gone the object is gone: decoding says so instead of dangling.
    drop(back);
    // The tasks that read it release their hold just after they finish (on their worker
    // thread), so the object goes away shortly after the last user ref.
    assert!(common::wait_until(common::LONG, || {
        rmp_serde::from_slice::<ObjectRef<String>>(&bytes).is_err()
    }));
}

#[test]
fn an_object_ref_can_be_decoded_only_inside_its_runtime() {
    let ray_guard = common::init(2.0);
    let r = ray::put(5u32);
    let bytes = rmp_serde::to_vec(&r).unwrap();
    ray::shutdown();
    assert!(rmp_serde::from_slice::<ObjectRef<u32>>(&bytes).is_err());
    // A new runtime is another node: the old ref's bytes do not decode there either.
    ray::init_with(ray::Config::new().num_cpus(1.0)).unwrap();
    assert!(rmp_serde::from_slice::<ObjectRef<u32>>(&bytes).is_err());
    drop(r);
    drop(ray_guard);
}

#[ray::remote]
async fn add_async(a: i64, b: i64) -> i64 {
    a + b
}

#[test]
fn object_refs_are_futures_for_any_executor() {
    let _ray = common::init(2.0);
    let put = ray::put(40i64);
    let task = add_async.remote(&put, 2);
    let failed = failing.remote();
    let (a, b, c) = futures::executor::block_on(async {
        let a = (&put).await;
        let b = task.await;
        let c = failed.await;
        (a, b, c)
    });
    assert_eq!(a.unwrap(), 40);
    assert_eq!(b.unwrap(), 42);
    assert!(matches!(c, Err(Error::TaskFailed { .. })));
    // `join_all` over many refs.
    let refs: Vec<_> = (0..20).map(|i| add_async.remote(i, i)).collect();
    let all = futures::executor::block_on(futures::future::join_all(
        refs.iter().map(|r| r.clone().into_future()),
    ));
    let all: Vec<i64> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, (0..20).map(|i| 2 * i).collect::<Vec<_>>());
}
