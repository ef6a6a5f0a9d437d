//! Several real nodes in one process (`cluster_utils::Cluster`), each with its own QUIC
//! endpoint on 127.0.0.1: placement by resources, results coming back, failure
//! detection, and joins refused for a wrong token.

mod common;

use std::time::Duration;

use ray::cluster_utils::{Cluster, NodeConfig};
use ray::prelude::*;

#[ray::remote]
fn where_am_i() -> ray::NodeId {
    ray::runtime_context().node_id()
}

#[ray::remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[ray::remote]
fn sum(v: Vec<f64>) -> Result<f64, String> {
    if v.is_empty() {
        return Err("nothing to sum".into());
    }
    Ok(v.iter().sum())
}

/// An `anyhow` error with context: its chain must reach the caller on another node.
#[ray::remote]
fn read_port(s: String) -> anyhow::Result<u16> {
    use anyhow::Context;
    s.parse::<u16>().context("reading the port")
}

#[ray::remote]
async fn remote_async(x: u32) -> u32 {
    x * 3
}

/// Reverses a buffer on whatever node runs it.
#[ray::remote]
fn reversed(b: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf {
    let mut v = b.into_vec();
    v.reverse();
    serde_bytes::ByteBuf::from(v)
}

/// Gets refs that arrived inside a value: their objects live on the caller's node.
#[ray::remote]
fn join_nested(parts: Vec<ray::ObjectRef<String>>) -> Result<String, String> {
    let values = ray::get(&parts).map_err(|e| e.to_string())?;
    Ok(values.join(" "))
}

#[ray::remote]
fn nested_len(b: Vec<ray::ObjectRef<serde_bytes::ByteBuf>>) -> Result<u64, String> {
    let v = ray::get(&b).map_err(|e| e.to_string())?;
    Ok(v.iter().map(|x| x.len() as u64).sum())
}

fn three_nodes() -> (
    Cluster,
    ray::cluster_utils::NodeHandle,
    ray::cluster_utils::NodeHandle,
) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let a = cluster
        .add_node(NodeConfig::new().num_cpus(1.0).resource("a", 1.0))
        .unwrap();
    let b = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("b", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    (cluster, a, b)
}

#[test]
fn resource_pinned_tasks_run_on_the_node_that_has_the_resource() {
    let (cluster, a, b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let nodes = ray::nodes().unwrap();
    assert_eq!(nodes.len(), 3);
    // The head's job table lists this driver (the cluster's own nodes are no jobs).
    let me = ray::runtime_context().job_id();
    assert!(common::wait_until(common::LONG, || {
        ray::jobs()
            .unwrap()
            .iter()
            .any(|j| j.job_id == me && j.alive && j.driver == ray::runtime_context().node_id())
    }));
    assert_eq!(ray::jobs().unwrap().len(), 1, "{:?}", ray::jobs().unwrap());
    assert!(nodes.iter().all(|n| n.alive));
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], 4.0);
    for _ in 0..3 {
        assert_eq!(
            ray::get(&where_am_i.options().resource("a", 1.0).remote()).unwrap(),
            a.node_id()
        );
        assert_eq!(
            ray::get(&where_am_i.options().resource("b", 1.0).remote()).unwrap(),
            b.node_id()
        );
    }
    // The driver offers no CPUs: plain tasks run on the cluster's nodes too.
    let refs: Vec<_> = (0..20).map(|i| add.remote(i, 1)).collect();
    assert_eq!(ray::get(&refs).unwrap(), (1..=20).collect::<Vec<_>>());
    assert_eq!(ray::get(&remote_async.remote(14)).unwrap(), 42);
    // Errors travel back as errors.
    let err = ray::get(&sum.remote(Vec::new())).unwrap_err();
    assert!(matches!(err, ray::Error::TaskFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("nothing to sum"));
    // An error's source chain crosses nodes with it.
    let err = ray::get(
        &read_port
            .options()
            .resource("b", 1.0)
            .remote("x".to_string()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("reading the port"), "{err}");
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(chain.contains("invalid digit"), "{chain}");
    // A ref argument is resolved on the caller and shipped by value.
    let v = ray::put(vec![1.5f64; 1000]);
    assert_eq!(
        ray::get(&sum.options().resource("b", 1.0).remote(&v)).unwrap(),
        1500.0
    );
    // SPREAD rotates over every node (one placement decision per task).
    let spread: std::collections::HashSet<_> = (0..6)
        .map(|_| {
            ray::get(
                &where_am_i
                    .options()
                    .scheduling_strategy(ray::SchedulingStrategy::Spread)
                    .remote(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(spread.len(), 3, "{spread:?}");
    // Node affinity.
    let strategy = ray::SchedulingStrategy::NodeAffinity {
        node_id: a.node_id(),
        soft: false,
    };
    assert_eq!(
        ray::get(&where_am_i.options().scheduling_strategy(strategy).remote()).unwrap(),
        a.node_id()
    );
}

#[test]
fn a_task_no_node_fits_waits_for_one_and_says_so() {
    let (mut cluster, _a, _b) = three_nodes();
    let _ray = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .heartbeat_interval(Duration::from_millis(100)),
    );
    // Nothing in the cluster has 8 CPUs: the task waits, and the cluster says why.
    let r = where_am_i.options().num_cpus(8.0).remote();
    assert!(matches!(
        ray::get_timeout(&r, Duration::from_millis(300)),
        Err(ray::Error::Timeout { .. })
    ));
    assert!(
        common::wait_until(Duration::from_secs(10), || ray::pending_demands()
            .unwrap()
            .iter()
            .any(|d| d.contains("CPU: 8"))),
        "{:?}",
        ray::pending_demands().unwrap()
    );
    // A node that fits joins: the task runs there, and the demand is gone.
    let big = cluster.add_node(NodeConfig::new().num_cpus(8.0)).unwrap();
    assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), big.node_id());
    assert!(common::wait_until(Duration::from_secs(10), || {
        ray::pending_demands().unwrap().is_empty()
    }));
    // Hard affinity to a node that does not exist fails at once instead.
    let nowhere = ray::SchedulingStrategy::NodeAffinity {
        node_id: big.node_id(),
        soft: false,
    };
    cluster.remove_node(&big);
    assert!(common::wait_until(Duration::from_secs(10), || {
        ray::nodes()
            .unwrap()
            .iter()
            .any(|n| n.node_id == big.node_id() && !n.alive)
    }));
    assert!(matches!(
        ray::get_timeout(
            &where_am_i.options().scheduling_strategy(nowhere).remote(),
            common::LONG
        ),
        Err(ray::Error::NodeDied { .. })
    ));
}

#[test]
fn a_100_mb_object_goes_to_another_node_and_back_intact() {
    let (cluster, _a, b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let data: Vec<u8> = (0..100_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let big = ray::put(serde_bytes::ByteBuf::from(data.clone()));
    // Larger than any frame: it streams as bulk data on its own QUIC stream.
    assert!(data.len() > ray::transport::MAX_FRAME_BYTES);
    let back = reversed.options().resource("b", 1.0).remote(&big);
    let got = back.get_arc().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(
        got.iter().rev().eq(data.iter()),
        "the object changed on the way"
    );
    let _ = b;
}

#[test]
fn refs_nested_in_values_are_fetched_from_the_node_that_holds_them() {
    let (cluster, _a, _b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let parts: Vec<_> = ["refs", "cross", "nodes"]
        .iter()
        .map(|s| ray::put(s.to_string()))
        .collect();
    let joined = join_nested
        .options()
        .resource("b", 1.0)
        .remote(parts.clone());
    assert_eq!(
        ray::get_timeout(&joined, common::LONG).unwrap(),
        "refs cross nodes"
    );
    // Larger than a frame: streamed as bulk data.
    let big = vec![ray::put(serde_bytes::ByteBuf::from(vec![3u8; 20 << 20]))];
    let n = nested_len.options().resource("a", 1.0).remote(big);
    assert_eq!(ray::get_timeout(&n, common::LONG).unwrap(), 20 << 20);
}

#[test]
fn a_removed_node_is_reported_dead() {
    let (mut cluster, a, _b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    cluster.remove_node(&a);
    let dead = common::wait_until(Duration::from_secs(10), || {
        ray::nodes()
            .unwrap()
            .iter()
            .any(|n| n.node_id == a.node_id() && !n.alive)
    });
    assert!(dead, "{:?}", ray::nodes());
    // Work needing its resource now has nowhere to go: it waits.
    assert!(matches!(
        ray::get_timeout(
            &where_am_i.options().resource("a", 1.0).remote(),
            Duration::from_millis(300)
        ),
        Err(ray::Error::Timeout { .. })
    ));
    // The rest of the cluster still works.
    assert_eq!(ray::get(&add.remote(2, 3)).unwrap(), 5);
}

#[test]
fn joining_with_a_wrong_token_is_refused() {
    let (cluster, _a, _b) = three_nodes();
    let _guard = common::exclusive();
    let addr = cluster.address();
    let (_, rest) = addr.split_once('@').unwrap();
    let wrong = format!("ray://not-the-token@{rest}");
    let err = ray::init_with(ray::Config::new().address(wrong)).unwrap_err();
    assert!(matches!(err, ray::Error::NotConnected(_)), "{err:?}");
    assert!(err.to_string().contains("token"), "{err}");
    assert!(!ray::is_initialized());
}

static BUSY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sleeps `ms`, then says where it ran.
#[ray::remote]
fn nap_where(ms: u64) -> ray::NodeId {
    std::thread::sleep(Duration::from_millis(ms));
    ray::runtime_context().node_id()
}

#[test]
fn tasks_spilled_one_at_a_time_stay_on_one_node_and_at_once_spread() {
    let (cluster, _a, _b) = three_nodes();
    // A driver with no CPU: every task spills to a node.
    let _ray = common::init_with(
        ray::Config::new()
            .address(cluster.address())
            .num_cpus(0.0)
            .heartbeat_interval(Duration::from_millis(100)),
    );
    // Each done before the next: where the last one went, its threads still awake.
    let homes: std::collections::HashSet<ray::NodeId> = (0..12)
        .map(|_| ray::get(&where_am_i.remote()).unwrap())
        .collect();
    assert_eq!(homes.len(), 1, "one at a time went to {homes:?}");
    // Submitted at once, each while the one before is out: not all to one node.
    let refs: Vec<_> = (0..3).map(|_| nap_where.remote(300)).collect();
    let homes: std::collections::HashSet<ray::NodeId> = ray::get_timeout(&refs, common::LONG)
        .unwrap()
        .into_iter()
        .collect();
    assert!(homes.len() >= 2, "at once went to {homes:?}");
}

/// Holds its node's CPU until `BUSY` is set.
#[ray::remote]
fn occupy() -> ray::NodeId {
    common::hold(&BUSY);
    ray::runtime_context().node_id()
}

/// Reads a large argument where it runs.
#[ray::remote]
fn where_with(b: std::sync::Arc<serde_bytes::ByteBuf>) -> (ray::NodeId, usize) {
    (ray::runtime_context().node_id(), b.len())
}

#[test]
fn a_task_with_large_arguments_waits_for_the_node_that_holds_them() {
    let (cluster, _a, _b) = three_nodes();
    // A driver with a CPU of its own: tasks it submits pack onto it while it is free.
    let _ray = common::init_with(ray::Config::new().address(cluster.address()).num_cpus(1.0));
    let me = ray::runtime_context().node_id();
    let here = ray::SchedulingStrategy::NodeAffinity {
        node_id: me,
        soft: false,
    };
    let blocker = occupy.options().scheduling_strategy(here).remote();
    // Its one CPU is taken once the blocker runs here.
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .running
        == 1));
    // Busy here: a small task spills to another node ...
    assert_ne!(ray::get(&where_am_i.remote()).unwrap(), me);
    // ... but one whose argument is 4 MiB waits for this node, where the argument is.
    let big = ray::put(serde_bytes::ByteBuf::from(vec![1u8; 4 << 20]));
    let r = where_with.remote(&big);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !r.is_ready(),
        "the task ran elsewhere while this node was busy"
    );
    BUSY.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ray::get(&blocker).unwrap(), me);
    assert_eq!(ray::get(&r).unwrap(), (me, 4 << 20));
}

/// Mixed arguments for another node: a small value, a large stored object that other
/// tasks take too, a buffer of numbers, and a large byte buffer last (taken out of the
/// received bytes rather than copied).
#[ray::remote]
fn digest(
    tag: String,
    shared: std::sync::Arc<serde_bytes::ByteBuf>,
    weights: Vec<f64>,
    last: serde_bytes::ByteBuf,
) -> (String, u64, f64, u64, ray::NodeId) {
    let total = |b: &[u8]| b.iter().map(|x| u64::from(*x)).sum::<u64>();
    (
        tag,
        total(&shared),
        weights.iter().sum(),
        total(&last),
        ray::runtime_context().node_id(),
    )
}

#[test]
fn one_large_object_passed_to_tasks_on_several_nodes_arrives_whole_on_each() {
    let (cluster, a, b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let bytes = |n: usize, k: u32| -> Vec<u8> {
        (0..n as u32)
            .map(|i| (i.wrapping_mul(k) >> 7) as u8)
            .collect()
    };
    let shared = bytes(6 << 20, 2_654_435_761);
    let last = bytes(3 << 20, 40_503);
    let total = |b: &[u8]| b.iter().map(|x| u64::from(*x)).sum::<u64>();
    let big = ray::put(serde_bytes::ByteBuf::from(shared.clone()));
    let last_ref = ray::put(serde_bytes::ByteBuf::from(last.clone()));
    let weights = vec![0.5f64, 1.5, -2.0, 8.0];
    let mut runs = Vec::new();
    for (i, (node, resource)) in [(a.node_id(), "a"), (b.node_id(), "b")]
        .into_iter()
        .cycle()
        .take(4)
        .enumerate()
    {
        let task = digest.options().resource(resource, 0.5);
        // The last buffer as a value, then as a ref to a stored object.
        let r = if i < 2 {
            task.remote(
                format!("t{i}"),
                &big,
                weights.clone(),
                serde_bytes::ByteBuf::from(last.clone()),
            )
        } else {
            task.remote(format!("t{i}"), &big, weights.clone(), &last_ref)
        };
        runs.push((i, node, r));
    }
    for (i, node, r) in runs {
        let (tag, s, w, l, ran_on) = ray::get_timeout(&r, common::LONG).unwrap();
        assert_eq!(tag, format!("t{i}"));
        assert_eq!(
            s,
            total(&shared),
            "task {i}: the shared object changed on the way"
        );
        assert_eq!(w, 8.0);
        assert_eq!(
            l,
            total(&last),
            "task {i}: the last buffer changed on the way"
        );
        assert_eq!(ran_on, node);
    }
}

/// A value that takes long to decode, as a large one does (1 GiB is about a second of
/// copying into fresh memory): 4 MiB that take 3 s.
#[derive(Clone, serde::Serialize)]
struct SlowToDecode(serde_bytes::ByteBuf);

impl<'de> serde::Deserialize<'de> for SlowToDecode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        std::thread::sleep(Duration::from_secs(3));
        serde_bytes::ByteBuf::deserialize(d).map(SlowToDecode)
    }
}

#[ray::remote]
fn make_slow() -> SlowToDecode {
    SlowToDecode(serde_bytes::ByteBuf::from(vec![5u8; 4 << 20]))
}

#[ray::remote]
fn slow_len(refs: Vec<ray::ObjectRef<SlowToDecode>>) -> Result<u64, String> {
    let v = ray::get(&refs[0]).map_err(|e| e.to_string())?;
    Ok(v.0.len() as u64)
}

/// Decoding a large value pulled from another node never runs on the thread that sends
/// the node's heartbeats: the puller stays alive through a decode three times longer than
/// the node timeout.
#[test]
fn a_long_decode_does_not_stop_heartbeats() {
    common::tracing();
    let mut cluster = Cluster::new(
        NodeConfig::new()
            .num_cpus(0.0)
            .node_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    cluster
        .add_node(NodeConfig::new().num_cpus(1.0).resource("maker", 1.0))
        .unwrap();
    let puller = cluster
        .add_node(NodeConfig::new().num_cpus(1.0).resource("puller", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let made = make_slow.options().resource("maker", 1.0).remote();
    ray::wait(std::slice::from_ref(&made), 1, None).unwrap();
    let len = slow_len
        .options()
        .resource("puller", 1.0)
        .remote(vec![made]);
    let t = std::time::Instant::now();
    loop {
        let done = ray::wait(
            std::slice::from_ref(&len),
            1,
            Some(Duration::from_millis(100)),
        )
        .unwrap();
        if !done.0.is_empty() {
            break;
        }
        let alive = ray::nodes()
            .unwrap()
            .iter()
            .any(|n| n.node_id == puller.node_id() && n.alive);
        assert!(
            alive,
            "the puller was marked dead {:?} into its pull",
            t.elapsed()
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the pull never ended"
        );
    }
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "the decode was not slow"
    );
    assert_eq!(ray::get(&len).unwrap(), 4 << 20);
}

static FLAKY_REMOTE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Fails its first two attempts (a panic, then an error), then answers.
#[ray::remote]
fn flaky_remote(tag: String) -> Result<String, String> {
    match FLAKY_REMOTE.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
        0 => panic!("first attempt panics"),
        1 => Err("second attempt fails".into()),
        _ => Ok(format!("{tag} on {}", ray::runtime_context().node_id())),
    }
}

#[test]
fn retry_exceptions_holds_for_a_task_on_another_node() {
    use std::sync::atomic::Ordering;
    let (cluster, _a, b) = three_nodes();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    // Retried by the node that sent it, on the node that has the resource.
    let r = flaky_remote
        .options()
        .resource("b", 1.0)
        .retry_exceptions(true)
        .max_retries(3)
        .remote("third".to_string());
    let got = ray::get_timeout(&r, common::LONG).unwrap();
    assert_eq!(got, format!("third on {}", b.node_id()));
    assert_eq!(FLAKY_REMOTE.load(Ordering::SeqCst), 3);
    // Without retry_exceptions the first error is final.
    FLAKY_REMOTE.store(1, Ordering::SeqCst);
    let r = flaky_remote
        .options()
        .resource("b", 1.0)
        .remote("x".to_string());
    let err = ray::get_timeout(&r, common::LONG).unwrap_err();
    assert!(err.to_string().contains("second attempt fails"), "{err}");
    assert_eq!(FLAKY_REMOTE.load(Ordering::SeqCst), 2);
    // retry_exceptions_if: an error it does not accept is final too.
    FLAKY_REMOTE.store(1, Ordering::SeqCst);
    let r = flaky_remote
        .options()
        .resource("b", 1.0)
        .retry_exceptions_if(|e| e.is_panic())
        .remote("y".to_string());
    assert!(ray::get_timeout(&r, common::LONG).is_err());
    assert_eq!(FLAKY_REMOTE.load(Ordering::SeqCst), 2);
    // Retries run out: the last error comes back after 1 + max_retries attempts.
    FLAKY_REMOTE.store(0, Ordering::SeqCst);
    let r = flaky_remote
        .options()
        .resource("b", 1.0)
        .retry_exceptions(true)
        .max_retries(1)
        .remote("z".to_string());
    let err = ray::get_timeout(&r, common::LONG).unwrap_err();
    assert!(err.to_string().contains("second attempt fails"), "{err}");
    assert_eq!(FLAKY_REMOTE.load(Ordering::SeqCst), 2);
}
