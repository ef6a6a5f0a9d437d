//! Bad requests from a peer that has the cluster's token (a node of another build, or a
//! buggy one) get a clear error naming what is wrong, never a hang: unknown functions,
//! arguments of the wrong types, unknown actor classes and actors the node never hosted.

mod common;

use std::time::{Duration, Instant};

use ray::cluster_utils::{Cluster, NodeConfig};
use ray::transport::{JoinAddress, Peer, WireMessage};

#[ray::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

pub struct Box1;

#[ray::remote]
impl Box1 {
    pub fn new() -> Self {
        Box1
    }
    pub fn one(&self) -> u8 {
        1
    }
}

fn task_error(answer: WireMessage) -> ray::Error {
    match answer {
        WireMessage::TaskResult { error: Some(e), .. } => e.into(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The arguments of a call to another node as they travel: each one's MessagePack after
/// its length as a little-endian `u64`.
fn args(each: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in each {
        out.extend_from_slice(&(a.len() as u64).to_le_bytes());
        out.extend_from_slice(a);
    }
    out
}

/// One argument's MessagePack.
fn enc<T: serde::Serialize>(v: T) -> Vec<u8> {
    rmp_serde::to_vec(&v).unwrap()
}

async fn ask(peer: &Peer, msg: WireMessage, payload: &[u8]) -> WireMessage {
    peer.request_with(&msg, payload).await.unwrap().0
}

#[test]
fn bad_requests_get_errors_that_say_what_is_wrong() {
    common::tracing();
    let _guard = common::exclusive();
    let cluster = Cluster::new(
        NodeConfig::new()
            .num_cpus(1.0)
            .node_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let head = cluster.head_node_id().unwrap();
    let join: JoinAddress = cluster.address().parse().unwrap();
    // Actor ids the head never saw: those of lone actors of this process.
    let b1 = Box1::remote();
    let b2 = Box1::remote();
    let (dead_on_arrival, stranger) = (b1.id(), b2.id());
    let node_id = ray::runtime_context().node_id();
    let name = format!("{}::add", module_path!());
    actix_rt::System::new().block_on(async move {
        let (peer, _endpoint) = common::bare_peer(&join, node_id).await;
        // An unknown function: the error names it and the node.
        let run = |function: &str| WireMessage::RunTask {
            function: function.to_string(),
            resources: vec![("CPU".into(), 1.0)],
            attempt: 0,
            keep: None,
            capture: None,
            lent: vec![],
        };
        let e = task_error(ask(&peer, run("nowhere::missing"), &[]).await);
        assert!(
            matches!(&e, ray::Error::FunctionNotRegistered { function, node_id } if function == "nowhere::missing" && *node_id == head),
            "{e:?}"
        );
        // A known function with arguments of the wrong types, too few, too many, or cut
        // short; then the right ones.
        let wrong = args(&[enc("one"), enc(2.5f64)]);
        let few = args(&[enc(40i64)]);
        let many = args(&[enc(40i64), enc(2i64), enc(0i64)]);
        let mut short = args(&[enc(40i64), enc(2i64)]);
        short.pop();
        for (bad, says) in [
            (wrong, "argument 0"),
            (few, "argument 1: missing"),
            (many, "bytes left after the 2 arguments"),
            (short, "argument 1: truncated"),
        ] {
            let e = task_error(ask(&peer, run(&name), &bad).await);
            assert!(
                matches!(&e, ray::Error::Serialization(m) if m.contains(says)),
                "{says}: {e:?}"
            );
        }
        let right = args(&[enc(40i64), enc(2i64)]);
        let ok = ask(&peer, run(&name), &right).await;
        assert_eq!(ok, WireMessage::TaskResult { error: None, lent: vec![] });

        // An unknown actor class: the error names the class and the node.
        let options = rmp_serde::to_vec(&ray::ActorOptions::default()).unwrap();
        let create = WireMessage::CreateActor {
            class: "nowhere::Missing".into(),
            actor_id: dead_on_arrival,
            options,
            failed: None,
            resume: None,
            lent: vec![],
        };
        match ask(&peer, create, &[]).await {
            WireMessage::Error { message } => {
                assert!(message.contains("nowhere::Missing"), "{message}");
                assert!(message.contains(&head.to_string()), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let call = |actor_id| WireMessage::CallActor {
            actor_id,
            caller: 7,
            seq: 0,
            method: "one".into(),
            failed: false,
            lent: vec![],
        };
        let unit = args(&[]);
        // A call to that actor fails at once.
        let e = task_error(ask(&peer, call(dead_on_arrival), &unit).await);
        assert!(matches!(e, ray::Error::ActorDied { .. }), "{e:?}");
        // A call to an actor the node never heard of fails after the node timeout.
        let t = Instant::now();
        let e = task_error(ask(&peer, call(stranger), &unit).await);
        assert!(matches!(e, ray::Error::ActorNotFound { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    });
    drop((b1, b2));
}

/// A peer with the token cannot join in another node's name, nor take over a live
/// node's id (and with it its address and certificate pin).
#[test]
fn a_join_cannot_speak_for_another_node_or_replace_a_live_one() {
    common::tracing();
    let _guard = common::exclusive();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(0.0)).unwrap();
    let live = cluster.add_node(NodeConfig::new()).unwrap();
    cluster.wait_for_nodes().unwrap();
    let join: JoinAddress = cluster.address().parse().unwrap();
    let fingerprint = ray::build_fingerprint();
    actix_rt::System::new().block_on(async move {
        let me = node_id(0x5eed_0001);
        let (peer, endpoint) = common::bare_peer(&join, me).await;
        let node = |node_id| ray::transport::WireNode {
            node_id,
            addr: endpoint.local_addr().unwrap(),
            fingerprint: [7; 32],
            resources: vec![("CPU".into(), 64.0)],
            alive: true,
            load: Default::default(),
            build: Some(fingerprint),
            job: None,
            host: None,
        };
        for (claimed, says) in [
            (node_id(0x5eed_0002), "a node joins as itself"),
            (live.node_id(), "a node joins as itself"),
        ] {
            let msg = WireMessage::Join {
                node: node(claimed),
                fingerprint,
            };
            match ask(&peer, msg, &[]).await {
                WireMessage::Error { message } => assert!(message.contains(says), "{message}"),
                other => panic!("a join in another's name was answered {other:?}"),
            }
        }
        // A connection that *is* the live node's id: its join is refused too.
        let (twin, _twin_endpoint) = common::bare_peer(&join, live.node_id()).await;
        let msg = WireMessage::Join {
            node: node(live.node_id()),
            fingerprint,
        };
        match ask(&twin, msg, &[]).await {
            WireMessage::Error { message } => {
                assert!(message.contains("already a live member"), "{message}")
            }
            other => panic!("a join reusing a live id was answered {other:?}"),
        }
    });
    // The live node still serves.
    let nodes = cluster_nodes(&cluster);
    assert!(nodes.contains(&live.node_id()));
}

/// The live nodes, as a driver joining now sees them (the caller holds the test lock).
fn cluster_nodes(cluster: &Cluster) -> Vec<ray::NodeId> {
    ray::init_with(ray::Config::new().address(cluster.address())).unwrap();
    ray::nodes()
        .unwrap()
        .into_iter()
        .filter(|n| n.alive)
        .map(|n| n.node_id)
        .collect()
}

/// A node id of the given value (ids travel as their integer).
fn node_id(n: u64) -> ray::NodeId {
    rmp_serde::from_slice(&rmp_serde::to_vec(&n).unwrap()).unwrap()
}

/// Calls that arrive ahead of their turn wait, within bounds: a call too far ahead of
/// its caller's next one, or one more than the node keeps waiting, is refused at once
/// (naming the bound), and calls whose streams closed make room again.
#[test]
fn calls_out_of_order_wait_within_bounds() {
    common::tracing();
    let _guard = common::exclusive();
    let cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let join: JoinAddress = cluster.address().parse().unwrap();
    let lone = Box1::remote();
    let actor_id = lone.id();
    let node_id = ray::runtime_context().node_id();
    let class = format!("{}::Box1", module_path!());
    actix_rt::System::new().block_on(async move {
        let (peer, _endpoint) = common::bare_peer(&join, node_id).await;
        // The head hosts an actor for this peer.
        let create = WireMessage::CreateActor {
            class,
            actor_id,
            options: rmp_serde::to_vec(&ray::ActorOptions::default()).unwrap(),
            failed: None,
            resume: None,
            lent: vec![],
        };
        assert_eq!(ask(&peer, create, &args(&[])).await, WireMessage::Ack);
        let call = move |caller, seq| WireMessage::CallActor {
            actor_id,
            caller,
            seq,
            method: "one".into(),
            failed: false,
            lent: vec![],
        };
        let none = args(&[]);
        // In order: answered.
        let ok = ask(&peer, call(1, 0), &none).await;
        assert_eq!(ok, WireMessage::TaskResult { error: None, lent: vec![] });
        // Far ahead of the caller's next call: refused at once.
        let e = task_error(ask(&peer, call(1, 1 << 20), &none).await);
        assert!(
            matches!(&e, ray::Error::InvalidArgument(m) if m.contains("calls ahead")),
            "{e:?}"
        );
        // Nine calls of 128 MiB each that wait for a call 0 that never comes (from a
        // second connection): eight fill the node's 1 GiB for waiting arguments, and
        // whichever arrives last is refused at once.
        let (flood, _flood_endpoint) = common::bare_peer(&join, node_id).await;
        let big = std::sync::Arc::new(vec![0u8; 128 << 20]);
        let mut waiting: Vec<_> = (1..=9)
            .map(|seq| {
                let (flood, big) = (flood.clone(), big.clone());
                actix_rt::spawn(async move { flood.request_with(&call(2, seq), &big).await })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        let refused = loop {
            assert!(Instant::now() < deadline, "no call was refused");
            if let Some(i) = waiting.iter().position(|w| w.is_finished()) {
                break waiting.swap_remove(i).await.unwrap().unwrap().0;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        };
        let refused = task_error(refused);
        assert!(
            matches!(&refused, ray::Error::InvalidArgument(m) if m.contains("waiting for their turn")),
            "{refused:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        assert!(
            waiting.iter().all(|w| !w.is_finished()),
            "the other eight wait"
        );
        // Their connection closes: the node drops them, and a call may wait again.
        flood.close("done");
        for w in waiting {
            assert!(w.await.unwrap().is_err(), "a waiting call was answered");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for caller in 10.. {
            assert!(Instant::now() < deadline, "calls are still refused");
            // One byte: over the cap while the eight wait, and sent at once, so a
            // timeout here means the call was parked, not that its upload was slow.
            let msg = call(caller, 1);
            let again = peer.request_with(&msg, &big[..1]);
            match tokio::time::timeout(Duration::from_secs(2), again).await {
                // It waits for its turn: room was made.
                Err(_) => break,
                // The node has not seen the connection close yet.
                Ok(answer) => {
                    let e = task_error(answer.unwrap().0);
                    assert!(matches!(&e, ray::Error::InvalidArgument(_)), "{e:?}");
                    actix_rt::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        // The actor still serves its callers.
        let ok = ask(&peer, call(1, 1), &none).await;
        assert_eq!(ok, WireMessage::TaskResult { error: None, lent: vec![] });
    });
    drop(lone);
}

/// The head forgets dead nodes beyond `max_dead_nodes`, those that died first: a peer
/// that joins and leaves again and again cannot grow the node table without bound.
#[test]
fn the_head_keeps_only_the_latest_dead_nodes() {
    common::tracing();
    let _guard = common::exclusive();
    let cluster = Cluster::new(
        NodeConfig::new()
            .num_cpus(1.0)
            .node_timeout(Duration::from_secs(1))
            .max_dead_nodes(2),
    )
    .unwrap();
    let join: JoinAddress = cluster.address().parse().unwrap();
    let fingerprint = ray::build_fingerprint();
    let ids: Vec<ray::NodeId> = (1..=4).map(|i| node_id(0xdead_0000 + i)).collect();
    let joined = ids.clone();
    actix_rt::System::new().block_on(async move {
        let mut alive = Vec::new();
        for id in joined {
            let (peer, endpoint) = common::bare_peer(&join, id).await;
            let node = ray::transport::WireNode {
                node_id: id,
                addr: endpoint.local_addr().unwrap(),
                fingerprint: endpoint.join_address().unwrap().fingerprint,
                resources: vec![("CPU".into(), 1.0)],
                alive: true,
                load: Default::default(),
                build: Some(fingerprint),
                job: None,
                host: None,
            };
            let answer = ask(&peer, WireMessage::Join { node, fingerprint }, &[]).await;
            assert!(matches!(answer, WireMessage::View { .. }), "{answer:?}");
            alive.push((peer, endpoint));
            // Each one is last heard from later than the one before.
            actix_rt::time::sleep(Duration::from_millis(300)).await;
        }
        // They never send a heartbeat: all four die.
    });
    ray::init_with(ray::Config::new().address(cluster.address())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let nodes = ray::nodes().unwrap();
        let listed: Vec<_> = ids
            .iter()
            .map(|id| nodes.iter().find(|n| n.node_id == *id).map(|n| n.alive))
            .collect();
        if listed == [None, None, Some(false), Some(false)] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the four joiners are listed as {listed:?} (None: forgotten, Some(alive))"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The live nodes are all still there.
    assert!(ray::nodes().unwrap().iter().any(|n| n.alive));
}
