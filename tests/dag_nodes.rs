//! Compiled graphs whose actors live on two other nodes (`ray::dag`): each node runs its
//! part of the graph, and values between two actors on other nodes go node to node,
//! never through the driver (the driver's channels carry one start and the outputs per
//! execution). Results equal the classic calls; a method's error fails only its
//! execution; a killed actor or a dead node fails the executions through it; teardown
//! gives every node's actors back. The nodes are real nodes with their own QUIC
//! endpoints, in this process (`cluster_utils`). A node given a bad part or an
//! unexpected frame answers with a clear error and gives its actors back.

mod common;
mod dag_stage;

use std::time::{Duration, Instant};

use ray::Error;
use ray::cluster_utils::{Cluster, NodeConfig, NodeHandle};
use ray::dag::{DagOptions, InputNode, MultiOutputNode};
use ray::prelude::*;

use dag_stage::Stage;
use ray::transport::WireMessage::DagPart;
use ray::transport::{Channel, DagArg, DagOp, DagPartSpec, DagPeer, JoinAddress, WireMessage};
use serde_bytes::ByteBuf;

/// A head and two worker nodes (resources `n1` and `n2`).
fn cluster() -> (Cluster, NodeHandle, NodeHandle) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let n1 = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("n1", 1.0))
        .unwrap();
    let n2 = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("n2", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    (cluster, n1, n2)
}

fn on(resource: &str, add: i64) -> ActorHandle<Stage> {
    Stage::options().resource(resource, 0.25).remote(add)
}

#[test]
fn a_chain_on_one_remote_node_takes_one_round_trip() {
    let (cluster, n1, _) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b, c) = (on("n1", 1), on("n1", 2), on("n1", 3));
    for s in [&a, &b, &c] {
        assert_eq!(ray::get(&s.node.remote()).unwrap(), n1.node_id());
    }
    let classic: Vec<i64> = (0..20)
        .map(|x| ray::get(&c.run.remote(b.run.remote(a.run.remote(x)))).unwrap())
        .collect();
    let compiled = c
        .run
        .bind(b.run.bind(a.run.bind(InputNode::new())))
        .compile()
        .unwrap();
    let (sent, received) = compiled.driver_frames();
    let refs: Vec<_> = (0..20).map(|x| compiled.execute(x).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), classic);
    // One frame each way per execution: the start with its input, and the output. The
    // two hops between the actors stayed on their node.
    let (sent2, received2) = compiled.driver_frames();
    assert_eq!((sent2 - sent, received2 - received), (20, 20));

    let err = ray::get(&b.calls.remote()).unwrap_err();
    assert!(matches!(err, Error::ActorUnavailable { .. }), "{err:?}");
    drop(compiled);
    for s in [&a, &b, &c] {
        assert_eq!(ray::get(&s.calls.remote()).unwrap(), 40);
    }
}

#[test]
fn a_chain_across_two_nodes_goes_node_to_node() {
    let (cluster, n1, n2) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b, c) = (on("n1", 1), on("n2", 2), on("n1", 3));
    assert_eq!(ray::get(&b.node.remote()).unwrap(), n2.node_id());
    assert_eq!(ray::get(&c.node.remote()).unwrap(), n1.node_id());
    let classic: Vec<i64> = (0..30)
        .map(|x| ray::get(&c.run.remote(b.run.remote(a.run.remote(x)))).unwrap())
        .collect();
    let compiled = c
        .run
        .bind(b.run.bind(a.run.bind(InputNode::new())))
        .compile()
        .unwrap();
    let (sent, received) = compiled.driver_frames();
    let refs: Vec<_> = (0..30).map(|x| compiled.execute(x).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), classic);
    // Per execution the driver starts both parts and reads one output: a→b and b→c
    // went between the nodes.
    let (sent2, received2) = compiled.driver_frames();
    assert_eq!((sent2 - sent, received2 - received), (60, 30));
    drop(compiled);
    for s in [&a, &b, &c] {
        assert_eq!(ray::get(&s.calls.remote()).unwrap(), 60);
    }
}

#[test]
fn fan_out_and_fan_in_across_nodes_and_the_driver() {
    let (cluster, _, _) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(100);
    let (a, b, c, d) = (on("n1", 1), on("n2", 2), on("n1", 3), on("n2", 4));
    let inp = InputNode::new();
    let x = a.run.bind(&inp);
    let y = b.run.bind(&inp);
    let z = local.run.bind(&y);
    let dag = MultiOutputNode::new([
        c.sum.bind(&x, &y),
        d.sum.bind(&x, &z),
        local.sum.bind(&y, 1000),
        d.sum.bind(c.run.bind(&z), -1),
    ]);
    let compiled = dag.compile().unwrap();
    for i in [0i64, 5, -7] {
        let (xv, yv) = (2 * i + 1, 2 * i + 2);
        let zv = 2 * yv + 100;
        let refs = compiled.execute(i).unwrap();
        assert_eq!(
            ray::get(&refs).unwrap(),
            vec![xv + yv, xv + zv, yv + 1000, 2 * zv + 3 - 1]
        );
    }
    drop(compiled);
    assert_eq!(ray::get(&c.calls.remote()).unwrap(), 3);
    assert_eq!(ray::get(&local.calls.remote()).unwrap(), 3);
}

#[test]
fn a_method_error_on_the_middle_node_fails_only_its_execution() {
    let (cluster, _, _) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b, c) = (on("n1", 0), on("n2", 0), on("n1", 0));
    let compiled = c
        .run
        .bind(b.checked.bind(a.run.bind(InputNode::new())))
        .compile()
        .unwrap();
    let refs: Vec<_> = [1i64, -3, 4]
        .iter()
        .map(|&x| compiled.execute(x).unwrap())
        .collect();
    assert_eq!(ray::get(&refs[0]).unwrap(), 4);
    match ray::get(&refs[1]) {
        Err(Error::TaskFailed {
            function, message, ..
        }) => {
            assert_eq!(function, "Stage.checked");
            assert!(message.contains("-6 is negative"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(ray::get(&refs[2]).unwrap(), 16);
    drop(compiled);
    // The failed execution never reached c.
    assert_eq!(ray::get(&c.calls.remote()).unwrap(), 2);
    assert_eq!(ray::get(&b.calls.remote()).unwrap(), 3);
}

#[test]
fn killing_an_actor_on_a_remote_node_fails_the_next_executions() {
    let (cluster, _, _) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b, c) = (on("n1", 0), on("n2", 0), on("n1", 0));
    let compiled = c
        .run
        .bind(b.run.bind(a.run.bind(InputNode::new())))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 8);
    ray::kill(&b);
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        // The kill reaches b's node between executions.
        match ray::get(&compiled.execute(1).unwrap()) {
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(v) => panic!("still running after kill: {v}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    let later = ray::get(&compiled.execute(2).unwrap()).unwrap_err();
    assert!(matches!(later, Error::ActorDied { .. }), "{later:?}");
    drop(compiled);
    // The others are back with their hosts.
    assert_eq!(ray::get(&a.sum.remote(1, 2)).unwrap(), 3);
    assert_eq!(ray::get(&c.sum.remote(1, 2)).unwrap(), 3);
}

#[test]
fn a_dead_node_in_the_middle_fails_executions_and_teardown_ends() {
    let (mut cluster, _, n2) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b, c) = (on("n1", 0), on("n2", 0), on("n1", 0));
    let compiled = c
        .run
        .bind(b.run.bind(a.run.bind(InputNode::new())))
        .compile()
        .unwrap();
    assert_eq!(ray::get(&compiled.execute(1).unwrap()).unwrap(), 8);
    cluster.remove_node(&n2);
    let r = compiled.execute(1).unwrap();
    let err = ray::get_timeout(&r, Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    let err = ray::get_timeout(&compiled.execute(2).unwrap(), Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, Error::ActorDied { .. }), "{err:?}");
    drop(compiled);
    assert_eq!(ray::get(&a.calls.remote()).unwrap(), 3);
}

#[test]
fn an_actor_busy_on_one_node_fails_the_compile_and_frees_the_other_nodes() {
    let (cluster, _, _) = cluster();
    let _ray = common::join(&cluster.address());
    let (a, b) = (on("n1", 0), on("n2", 0));
    let first = b.run.bind(InputNode::new()).compile().unwrap();
    let err = b
        .run
        .bind(a.run.bind(InputNode::new()))
        .compile()
        .unwrap_err();
    assert!(
        err.to_string().contains("already runs a compiled graph"),
        "{err}"
    );
    // a was lent for the failed graph and is back.
    assert_eq!(ray::get(&a.sum.remote(2, 2)).unwrap(), 4);
    assert_eq!(ray::get(&first.execute(1).unwrap()).unwrap(), 2);
}

fn bytes<T: serde::Serialize>(v: &T) -> ByteBuf {
    ByteBuf::from(rmp_serde::to_vec(v).unwrap())
}

async fn recv(channel: &mut Channel) -> Option<WireMessage> {
    actix_rt::time::timeout(Duration::from_secs(10), channel.recv())
        .await
        .expect("the node answers in time")
        .unwrap()
}

#[test]
fn bad_parts_and_unexpected_frames_get_clear_errors() {
    common::tracing();
    let head = NodeConfig::new().num_cpus(1.0).resource("h", 1.0);
    let cluster = Cluster::new(head).unwrap();
    let _ray = common::join(&cluster.address());
    // An actor on the head, which a bare peer reaches with the join address.
    let far = on("h", 1);
    assert_eq!(
        ray::get(&far.node.remote()).unwrap(),
        cluster.head_node_id().unwrap()
    );
    let actor_id = far.id();
    // An id no actor has.
    let stranger: ray::ActorId =
        rmp_serde::from_slice(&rmp_serde::to_vec(&0xdead_beef_u64).unwrap()).unwrap();
    let join: JoinAddress = cluster.address().parse().unwrap();
    let me = ray::runtime_context().node_id();
    let part = |n: u64, actor_id, args: Vec<DagArg>| DagPart {
        part: DagPartSpec {
            graph: (me, n),
            max_inflight: 4,
            ops: vec![
                DagOp::Call {
                    actor_id,
                    method: "Stage.run".into(),
                    args,
                    trigger: false,
                },
                DagOp::Send {
                    value: 0,
                    edge: 0,
                    to: DagPeer::Driver,
                },
            ],
        },
    };
    actix_rt::System::new().block_on(async move {
        let (peer, _endpoint) = common::bare_peer(&join, me).await;

        // An actor the node does not host, and a step reading a value never made.
        let mut ch = peer
            .open_channel(&part(1, stranger, vec![DagArg::Input]), &Default::default())
            .await
            .unwrap();
        match recv(&mut ch).await {
            Some(WireMessage::DagReply { result: Err(e) }) => {
                let e = Error::from(e);
                assert!(matches!(e, Error::ActorNotFound { .. }), "{e:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(recv(&mut ch).await, None);
        let mut ch = peer
            .open_channel(
                &part(2, actor_id, vec![DagArg::Value(3)]),
                &Default::default(),
            )
            .await
            .unwrap();
        match recv(&mut ch).await {
            Some(WireMessage::DagReply { result: Err(e) }) => {
                let e = Error::from(e);
                assert!(e.to_string().contains("cannot run its part"), "{e}")
            }
            other => panic!("unexpected {other:?}"),
        }

        // A part that asks for u32::MAX executions in flight (a ring of that many slots),
        // and a flood of empty parts: each refused with a clear error, no thread started.
        let mut greedy = part(4, actor_id, vec![DagArg::Input]);
        if let DagPart { part } = &mut greedy {
            part.max_inflight = u32::MAX;
        }
        let mut ch = peer
            .open_channel(&greedy, &Default::default())
            .await
            .unwrap();
        match recv(&mut ch).await {
            Some(WireMessage::DagReply { result: Err(e) }) => {
                let e = Error::from(e);
                assert!(e.to_string().contains("max_inflight 4294967295"), "{e}")
            }
            other => panic!("unexpected {other:?}"),
        }
        for n in 0..200 {
            let empty = DagPart {
                part: DagPartSpec {
                    graph: (me, 1000 + n),
                    max_inflight: 4,
                    ops: Vec::new(),
                },
            };
            let mut ch = peer
                .open_channel(&empty, &Default::default())
                .await
                .unwrap();
            match recv(&mut ch).await {
                Some(WireMessage::DagReply { result: Err(e) }) => {
                    let e = Error::from(e);
                    assert!(e.to_string().contains("a part with no steps"), "{e}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }

        // A good part: one execution, then input that does not decode.
        let mut ch = peer
            .open_channel(&part(3, actor_id, vec![DagArg::Input]), &Default::default())
            .await
            .unwrap();
        assert!(matches!(
            recv(&mut ch).await,
            Some(WireMessage::DagReply { result: Ok(_) })
        ));
        let start = |input| WireMessage::DagExecute { input };
        ch.send(&start(Ok(bytes(&20i64)))).await.unwrap();
        match recv(&mut ch).await {
            Some(WireMessage::DagValue {
                edge: 0,
                result: Ok(b),
            }) => {
                assert_eq!(rmp_serde::from_slice::<i64>(&b).unwrap(), 41)
            }
            other => panic!("unexpected {other:?}"),
        }
        ch.send(&start(Ok(bytes(&"not a number")))).await.unwrap();
        match recv(&mut ch).await {
            Some(WireMessage::DagValue {
                edge: 0,
                result: Err(e),
            }) => {
                let e = Error::from(e);
                assert!(matches!(e, Error::Serialization(_)), "{e:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
        // A frame the part does not expect ends it; the actor goes back to its host.
        ch.send(&WireMessage::Ack).await.unwrap();
        assert_eq!(recv(&mut ch).await, None);
    });
    // One call ran: the input that did not decode never reached the method.
    assert_eq!(ray::get(&far.calls.remote()).unwrap(), 1);
}

#[test]
fn back_pressure_and_thread_layouts_hold_across_nodes() {
    let (cluster, _, _) = cluster();
    let _ray = common::join(&cluster.address());
    let local = Stage::remote(0);
    let (a, b) = (on("n1", 1), on("n2", 2));
    let expected: Vec<i64> = (0..40).map(|x| 2 * (2 * (2 * x + 1) + 2)).collect();
    for opts in [
        DagOptions::new().max_inflight(2),
        DagOptions::new().max_inflight(3).loop_threads(usize::MAX),
    ] {
        let compiled = local
            .run
            .bind(b.run.bind(a.run.bind(InputNode::new())))
            .compile_with(opts)
            .unwrap();
        // More executions than may be in flight: each `execute` waits for room.
        let refs: Vec<_> = (0..40).map(|x| compiled.execute(x).unwrap()).collect();
        assert_eq!(ray::get(&refs).unwrap(), expected);
    }
    assert_eq!(ray::get(&b.calls.remote()).unwrap(), 80);
}
