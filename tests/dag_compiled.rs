//! Compiled graphs (`ray::dag`): linear chains, fan-out/fan-in, several outputs and
//! constants give what the same classic calls give; errors, panics and kills propagate
//! to the executions' refs; teardown frees the actors for classic calls; graphs that
//! cannot compile are `Err`s.

mod common;
mod dag_stage;

use std::future::IntoFuture;
use std::time::Duration;

use ray::Error;
use ray::dag::{DagError, DagOptions, InputNode, IntoNode, MultiOutputNode};
use ray::prelude::*;

use dag_stage::Stage;

#[test]
fn linear_chain_equals_classic_calls() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b, c) = (Stage::remote(1), Stage::remote(2), Stage::remote(3));
    let classic: Vec<i64> = (0..50)
        .map(|x| {
            let r = c.run.remote(b.run.remote(a.run.remote(x)));
            ray::get(&r).unwrap()
        })
        .collect();
    let inp = InputNode::new();
    let dag = c.run.bind(b.run.bind(a.run.bind(&inp)));
    let compiled = dag.compile().unwrap();
    let refs: Vec<_> = (0..50).map(|x| compiled.execute(x).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), classic);
    // A second compile of the same graph, after teardown, works as well.
    drop(compiled);
    let again = dag.compile().unwrap();
    assert_eq!(
        ray::get(&again.execute(1).unwrap()).unwrap(),
        2 * (2 * (2 + 1) + 2) + 3
    );
    drop(again);
    // Each actor ran 50 classic, 50 + 1 compiled calls: its state carried over.
    assert_eq!(ray::get(&a.calls.remote()).unwrap(), 101);
}

#[test]
fn every_thread_layout_gives_the_same_results() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b, c) = (Stage::remote(1), Stage::remote(2), Stage::remote(3));
    let inp = InputNode::new();
    let x = a.run.bind(&inp);
    let dag = MultiOutputNode::new([c.sum.bind(b.run.bind(&x), &x), c.run.bind(&x)]);
    for threads in [1, 2, 3, usize::MAX] {
        let compiled = dag
            .compile_with(DagOptions::new().loop_threads(threads).max_inflight(4))
            .unwrap();
        let refs: Vec<_> = (0..40).map(|i| compiled.execute(i).unwrap()).collect();
        for (i, r) in refs.iter().enumerate() {
            let x = 2 * i as i64 + 1;
            assert_eq!(
                ray::get(r).unwrap(),
                vec![(2 * x + 2) + x, 2 * x + 3],
                "{threads}"
            );
        }
    }
}

#[test]
fn fan_out_fan_in_and_constants() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b, c) = (Stage::remote(1), Stage::remote(10), Stage::remote(0));
    let inp = InputNode::new();
    let left = a.run.bind(&inp);
    let right = b.run.bind(&inp);
    let joined = c.sum.bind(&left, &right);
    let dag = c.sum.bind(&joined, 1000); // a constant argument
    let compiled = dag.compile().unwrap();
    for x in 0..20 {
        let got = ray::get(&compiled.execute(x).unwrap()).unwrap();
        assert_eq!(got, (2 * x + 1) + (2 * x + 10) + 1000);
    }
    drop(compiled);
    let classic = c
        .sum
        .remote(c.sum.remote(a.run.remote(3), b.run.remote(3)), 1000);
    assert_eq!(ray::get(&classic).unwrap(), 7 + 16 + 1000);
}

#[test]
fn multi_output_node() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(1), Stage::remote(5));
    let inp = InputNode::new();
    let x = a.run.bind(&inp);
    let dag = MultiOutputNode::new([x.clone(), b.run.bind(&x), b.sum.bind(&inp, &x)]);
    let compiled = dag.compile().unwrap();
    let many: Vec<Vec<CompiledRef>> = (0..10).map(|i| compiled.execute(i).unwrap()).collect();
    for (i, refs) in many.iter().enumerate() {
        let i = i as i64;
        let x = 2 * i + 1;
        assert_eq!(ray::get(refs).unwrap(), vec![x, 2 * x + 5, i + x]);
    }
}

type CompiledRef = ray::dag::CompiledRef<i64>;

#[test]
fn await_and_out_of_order_gets() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let compiled = a.run.bind(InputNode::new()).compile().unwrap();
    let refs: Vec<_> = (0..8).map(|i| compiled.execute(i).unwrap()).collect();
    // The last first: the earlier results wait on the driver's side.
    assert_eq!(ray::get(&refs[7]).unwrap(), 14);
    assert_eq!(ray::get(&refs[7]).unwrap(), 14); // gets are repeatable
    let mut refs = refs.into_iter();
    let first = refs.next().unwrap();
    assert_eq!(ray::__private::block_on(first.into_future()).unwrap(), 0);
    let rest: Vec<i64> = refs
        .map(|r| ray::__private::block_on(r.into_future()).unwrap())
        .collect();
    assert_eq!(rest, vec![2, 4, 6, 8, 10, 12, 14]);
}

#[test]
fn concurrent_getters_of_one_execution() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(0), Stage::remote(1));
    let inp = InputNode::new();
    let dag = MultiOutputNode::new([a.run.bind(&inp), b.run.bind(&inp)]);
    let compiled = dag.compile().unwrap();
    for round in 0..50 {
        let mut refs = compiled.execute(round).unwrap().into_iter();
        let (first, second) = (refs.next().unwrap(), refs.next().unwrap());
        // Each output read by its own thread (one of them awaiting): whichever drains
        // both must not leave the other waiting.
        std::thread::scope(|s| {
            let t = s.spawn(|| ray::get(&first).unwrap());
            let u = s.spawn(|| ray::__private::block_on(second.into_future()).unwrap());
            assert_eq!(t.join().unwrap(), 2 * round);
            assert_eq!(u.join().unwrap(), 2 * round + 1);
        });
    }
}

#[test]
fn back_pressure_bounds_inflight_executions() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let compiled = a
        .run
        .bind(InputNode::new())
        .compile_with(DagOptions::new().max_inflight(3))
        .unwrap();
    // Many more than 3, none read meanwhile: each execute waits for room.
    let refs: Vec<_> = (0..200).map(|i| compiled.execute(i).unwrap()).collect();
    let expected: Vec<i64> = (0..200).map(|i| 2 * i).collect();
    assert_eq!(ray::get(&refs).unwrap(), expected);
    assert!(matches!(
        a.run
            .bind(InputNode::new())
            .compile_with(DagOptions::new().max_inflight(0)),
        Err(Error::Dag(DagError::ZeroInflight))
    ));
}

#[test]
fn method_error_fails_only_its_execution() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(0), Stage::remote(0));
    let compiled = b
        .run
        .bind(a.checked.bind(InputNode::new()))
        .compile()
        .unwrap();
    let ok = compiled.execute(1).unwrap();
    let bad = compiled.execute(-1).unwrap();
    let after = compiled.execute(2).unwrap();
    assert_eq!(ray::get(&ok).unwrap(), 2);
    match ray::get(&bad).unwrap_err() {
        Error::TaskFailed {
            function, message, ..
        } => {
            assert_eq!(function, "Stage.checked");
            assert!(message.contains("-1 is negative"), "{message}");
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(ray::get(&after).unwrap(), 4);
    drop(compiled);
    // The downstream actor did not run for the failed execution.
    assert_eq!(ray::get(&b.calls.remote()).unwrap(), 2);
}

#[test]
fn panic_kills_the_actor_and_later_executions_fail() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(0), Stage::remote(0));
    let compiled = b
        .run
        .bind(a.explode.bind(InputNode::new()))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 2);
    let err = ray::get(&compiled.execute(13).unwrap()).unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("unlucky 13"), "{err}");
    let later = ray::get(&compiled.execute(2).unwrap()).unwrap_err();
    assert!(
        matches!(later, Error::ActorDied { actor_id, .. } if actor_id == a.id()),
        "{later:?}"
    );
    drop(compiled);
    // The panicking actor is dead (no restarts); the other one is back to classic calls.
    assert!(matches!(
        ray::get(&a.ping.remote()),
        Err(Error::ActorDied { .. })
    ));
    assert_eq!(ray::get(&b.ping.remote()).unwrap(), "pong");
}

#[test]
fn panic_restarts_the_actor_at_teardown_when_allowed() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::options().max_restarts(1).remote(0);
    let compiled = a.explode.bind(InputNode::new()).compile().unwrap();
    assert!(
        ray::get(&compiled.execute(13).unwrap())
            .unwrap_err()
            .is_panic()
    );
    drop(compiled);
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), "pong");
    assert_eq!(ray::get(&a.calls.remote()).unwrap(), 0); // a fresh instance
}

#[test]
fn killed_actor_fails_executions() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(0), Stage::remote(0));
    let compiled = b.run.bind(a.run.bind(InputNode::new())).compile().unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 4);
    ray::kill(&a);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let err = loop {
        // The kill reaches the loop between executions.
        match ray::get(&compiled.execute(1).unwrap()) {
            Ok(_) if std::time::Instant::now() < deadline => continue,
            Ok(v) => panic!("still running after kill: {v}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    drop(compiled);
    assert_eq!(ray::get(&b.ping.remote()).unwrap(), "pong");
}

#[test]
fn classic_calls_fail_while_compiled_and_work_after_teardown() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    // A call queued before compiling runs first.
    let before = a.run.remote(20);
    let compiled = a.run.bind(InputNode::new()).compile().unwrap();
    assert_eq!(ray::get(&before).unwrap(), 40);
    let err = ray::get(&a.ping.remote()).unwrap_err();
    assert!(matches!(err, Error::ActorUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("compiled graph"), "{err}");
    let r = compiled.execute(5).unwrap();
    drop(compiled);
    // Results of executions made before teardown stay readable.
    assert_eq!(ray::get(&r).unwrap(), 10);
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), "pong");
    assert_eq!(ray::get(&a.calls.remote()).unwrap(), 2);
}

#[test]
fn graphs_that_cannot_compile_are_errors() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let inp = InputNode::new();
    // One compiled graph per actor at a time.
    let first = a.run.bind(&inp).compile().unwrap();
    let busy = a.sum.bind(&inp, 1).compile();
    assert!(
        matches!(busy, Err(Error::Dag(DagError::ActorBusy { .. }))),
        "{busy:?}"
    );
    drop(first);
    // Two different inputs.
    let other = InputNode::new();
    let two = a.sum.bind(&inp, &other).compile();
    assert!(
        matches!(two, Err(Error::Dag(DagError::TwoInputs))),
        "{two:?}"
    );
    // A dead actor.
    let dead = Stage::remote(0);
    ray::kill(&dead);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ray::get(&dead.ping.remote()).is_ok() && std::time::Instant::now() < deadline {}
    let err = dead.run.bind(InputNode::new()).compile();
    assert!(matches!(err, Err(Error::ActorDied { .. })), "{err:?}");
    // A failed compile gave back the instances it had taken.
    let partial = dead.sum.bind(a.run.bind(&inp), 1).compile();
    assert!(partial.is_err());
    assert_eq!(ray::get(&a.ping.remote()).unwrap(), "pong");
    // Only constants: nothing drives the call but the input, which still works.
    let konst = a.sum.bind(1, 2).compile().unwrap();
    assert_eq!(ray::get(&konst.execute(0i64).unwrap()).unwrap(), 3);
    drop(konst);
    // The output must be a method call.
    let mixed = MultiOutputNode::new([a.run.bind(&inp), inp.clone().into_node()]).compile();
    assert!(
        matches!(mixed, Err(Error::Dag(DagError::OutputNotACall))),
        "{mixed:?}"
    );
}

#[test]
fn async_methods_in_a_graph() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let (a, b) = (Stage::remote(0), Stage::remote(0));
    let classic = ray::get(&b.later_mut.remote(a.later.remote(5))).unwrap();
    let compiled = b
        .later_mut
        .bind(a.later.bind(InputNode::new()))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(5).unwrap()).unwrap(), classic);
    let err = ray::get(&compiled.execute(-200).unwrap()).unwrap_err();
    assert!(matches!(err, Error::TaskFailed { .. }), "{err:?}");
    drop(compiled);
    assert_eq!(ray::get(&b.calls.remote()).unwrap(), 3);
}

#[test]
fn zero_argument_methods_run_once_per_execution() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let compiled = a.ping.bind::<u8>().compile().unwrap();
    let refs: Vec<_> = (0..3u8).map(|i| compiled.execute(i).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), vec!["pong"; 3]);
    assert!(ray::get_timeout(&refs[0], Duration::from_millis(1)).is_ok());
}

#[test]
fn submit_timeout_when_the_graph_stays_full() {
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let compiled = a
        .run
        .bind(InputNode::new())
        .compile_with(
            DagOptions::new()
                .max_inflight(1)
                .submit_timeout(Duration::from_secs(5)),
        )
        .unwrap();
    for i in 0..10 {
        assert_eq!(ray::get(&compiled.execute(i).unwrap()).unwrap(), 2 * i);
    }
    drop(compiled);
    let slow = a
        .nap
        .bind(InputNode::new())
        .compile_with(
            DagOptions::new()
                .max_inflight(1)
                .submit_timeout(Duration::from_millis(50)),
        )
        .unwrap();
    let first = slow.execute(500).unwrap();
    let err = slow.execute(0).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(ray::get(&first).unwrap(), 500);
    assert_eq!(ray::get(&slow.execute(1).unwrap()).unwrap(), 1);
}

#[test]
fn graphs_and_refs_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ray::dag::DagNode<i64, i64>>();
    send_sync::<InputNode<i64>>();
    send_sync::<ray::dag::CompiledDag<i64, ray::dag::DagNode<i64, i64>>>();
    send_sync::<CompiledRef>();
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0));
    let a = Stage::remote(0);
    let compiled = a.run.bind(InputNode::new()).compile().unwrap();
    // Several threads execute on one graph at once; each gets its own results.
    std::thread::scope(|s| {
        for t in 0..3i64 {
            let compiled = &compiled;
            s.spawn(move || {
                for i in 0..100 {
                    let x = t * 1000 + i;
                    assert_eq!(ray::get(&compiled.execute(x).unwrap()).unwrap(), 2 * x);
                }
            });
        }
    });
}
