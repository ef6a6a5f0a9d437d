//! A cluster across separate network stacks: a head, two workers and a driver, each on
//! a host of its own (a network namespace with its own address on one bridge, where
//! 127.0.0.1 is nobody else's). The head (`ray start --head`) and one worker find their
//! addresses themselves; the other worker and the driver are given theirs. Work crosses
//! hosts every way (tasks, 64 MiB objects both ways, a named actor called from another
//! worker, a generator and an actor reading another host's object where it is, a
//! compiled graph through actors on both workers), the CLI reads the cluster from the driver's host, then a whole worker host
//! is killed: its task runs again on the other worker, its restartable actor comes back
//! there, and `ray status` reports the node dead.
//!
//! The worker programs and the driver are this test binary, started with
//! `RAY_NODE_MODE=worker` (by `ray start --address .. -- PROGRAM`) or
//! `RAY_TEST_ROLE=driver` and told to run only this test.
#![cfg(feature = "cli")] // needs the `ray` binary (scripts/test.sh builds every feature)

mod common;
mod dag_stage;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Tally;
use common::netns::Hosts;
use dag_stage::Stage;
use ray::dag::InputNode;
use ray::prelude::*;

const TEST: &str = "a_cluster_spans_four_hosts_and_survives_losing_one";
const MIB64: usize = 64 << 20;

#[ray::remote]
fn where_am_i() -> ray::NodeId {
    ray::runtime_context().node_id()
}

/// Runs until file `gate` exists (the hosts share the file system): it is still running
/// when its host is killed.
#[ray::remote]
fn slow_where(gate: String) -> ray::NodeId {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&gate).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    ray::runtime_context().node_id()
}

#[ray::remote]
fn make_bytes(n: usize) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![5u8; n])
}

#[ray::remote]
fn byte_sum(data: Arc<serde_bytes::ByteBuf>) -> u64 {
    data.iter().map(|b| u64::from(*b)).sum()
}

#[ray::remote]
fn sum_where(data: Arc<serde_bytes::ByteBuf>) -> (ray::NodeId, u64) {
    let sum = data.iter().map(|b| u64::from(*b)).sum();
    (ray::runtime_context().node_id(), sum)
}

/// Finds the named tally on the other worker and calls it in order.
#[ray::remote]
fn add_to_tally(times: u64) -> Result<u64, String> {
    let tally: ActorHandle<Tally> = ray::get_actor("tally").map_err(|e| e.to_string())?;
    let refs: Vec<_> = (1..=times).map(|i| tally.add.remote(i)).collect();
    let totals = ray::get(&refs).map_err(|e| e.to_string())?;
    // In order: each call saw every earlier one.
    let in_order = totals.windows(2).all(|w| w[1] > w[0]);
    in_order
        .then(|| totals.last().copied().unwrap_or(0))
        .ok_or_else(|| format!("calls ran out of order: {totals:?}"))
}

/// The sums of `parts` equal parts of a buffer, with where they were made.
#[ray::remote(streaming)]
fn part_sums(
    data: Arc<serde_bytes::ByteBuf>,
    parts: usize,
) -> impl Iterator<Item = (ray::NodeId, u64)> {
    let here = ray::runtime_context().node_id();
    let sums: Vec<u64> = data
        .chunks(data.len().div_ceil(parts))
        .map(|c| c.iter().map(|&b| u64::from(b)).sum())
        .collect();
    sums.into_iter().map(move |s| (here, s))
}

/// `n` items of `size` bytes, item `i` all `i`: a streaming generator.
#[ray::remote(streaming)]
fn chunks(n: u8, size: usize) -> impl Iterator<Item = serde_bytes::ByteBuf> {
    (0..n).map(move |i| serde_bytes::ByteBuf::from(vec![i; size]))
}

pub struct Phoenix;

#[ray::remote]
impl Phoenix {
    pub fn new() -> Self {
        Phoenix
    }

    /// Where it lives, `n` times (a streaming method).
    #[ray::method(streaming)]
    pub fn homes(&self, n: usize) -> impl Iterator<Item = ray::NodeId> {
        std::iter::repeat_n(ray::runtime_context().node_id(), n)
    }

    pub fn home(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }
}

/// The node offering `resource`.
fn node_with(resource: &str) -> ray::NodeId {
    ray::nodes()
        .unwrap()
        .into_iter()
        .find(|n| n.resources.contains_key(resource))
        .unwrap_or_else(|| panic!("no node offers {resource}: {:?}", ray::nodes()))
        .node_id
}

/// The driver's part, run on host 4: prints `READY`, waits for the test to kill host 2,
/// checks what happened to its work there, prints `DONE`.
fn drive() {
    common::tracing();
    ray::init().expect("join as a driver");
    let gate = std::env::var("RAY_TEST_GATE").expect("the gate file's path");
    let alive = || ray::nodes().unwrap().iter().filter(|n| n.alive).count();
    assert!(common::wait_until(Duration::from_secs(30), || alive() == 3));
    let (w1, w2) = (node_with("w1"), node_with("w2"));
    for (resource, node) in [("w1", w1), ("w2", w2)] {
        let r = where_am_i.options().resource(resource, 1.0).remote();
        assert_eq!(ray::get(&r).unwrap(), node, "pinned to {resource}");
    }
    // 64 MiB from the driver to a worker.
    let data = ray::put(serde_bytes::ByteBuf::from(vec![3u8; MIB64]));
    let summed = byte_sum.options().resource("w1", 1.0).remote(&data);
    assert_eq!(ray::get(&summed).unwrap(), 3 * MIB64 as u64);
    // 64 MiB made on one worker, read by a task on the other and by the driver.
    let made = make_bytes.options().resource("w1", 1.0).remote(MIB64);
    let there = byte_sum.options().resource("w2", 1.0).remote(&made);
    assert_eq!(ray::get(&there).unwrap(), 5 * MIB64 as u64);
    // Asking for nothing but a CPU, a task taking it goes where it is.
    for _ in 0..3 {
        let r = sum_where.remote(&made);
        assert_eq!(
            ray::get(&r).unwrap(),
            (w1, 5 * MIB64 as u64),
            "not where the 64 MiB are"
        );
    }
    // A generator on worker 2 reads it too, pulled from worker 1.
    let parts: Vec<(ray::NodeId, u64)> = part_sums
        .options()
        .resource("w2", 1.0)
        .remote(&made, 4)
        .map(|r| ray::get(&r).unwrap())
        .collect();
    assert_eq!(parts, vec![(w2, 5 * (MIB64 / 4) as u64); 4]);
    let here = ray::get(&made).unwrap();
    assert!(here.len() == MIB64 && here.iter().all(|b| *b == 5));
    // A named actor on worker 1, called in order from a task on worker 2 and found by
    // name from here.
    let tally = Tally::options().name("tally").resource("w1", 0.5).remote();
    assert_eq!(ray::get(&tally.add.remote(0)).unwrap(), 0);
    let total = add_to_tally.options().resource("w2", 1.0).remote(100);
    assert_eq!(ray::get(&total).unwrap(), 5050);
    let found: ActorHandle<Tally> = ray::get_actor("tally").unwrap();
    assert_eq!(ray::get(&found.add.remote(1)).unwrap(), 5051);
    // The driver's 64 MiB object, read by the actor: its node pulls it as a task's would.
    assert_eq!(
        ray::get(&found.weigh.remote(&data)).unwrap(),
        3 * MIB64 as u64
    );
    // An actor made from the driver's 8 MiB object: its node pulls it from here.
    let seed = ray::put(vec![1u8; 8 << 20]);
    let keeper = common::Keeper::options().resource("w2", 0.5).remote(&seed);
    assert_eq!(ray::get(&keeper.sum.remote()).unwrap(), (w2, 8 << 20));
    // A compiled graph through an actor on each worker: its channels go host to host.
    let first = Stage::options().resource("w1", 0.25).remote(1);
    let second = Stage::options().resource("w2", 0.25).remote(2);
    assert_eq!(ray::get(&first.node.remote()).unwrap(), w1);
    assert_eq!(ray::get(&second.node.remote()).unwrap(), w2);
    let classic: Vec<i64> = (0..10)
        .map(|x| ray::get(&second.run.remote(first.run.remote(x))).unwrap())
        .collect();
    let compiled = second
        .run
        .bind(first.run.bind(InputNode::new()))
        .compile()
        .unwrap();
    let refs: Vec<_> = (0..10).map(|x| compiled.execute(x).unwrap()).collect();
    assert_eq!(ray::get(&refs).unwrap(), classic);
    drop(compiled);
    assert_eq!(ray::get(&second.calls.remote()).unwrap(), 20);
    // Gone, they give back the share of `w2` that work below needs whole.
    drop((keeper, first, second));
    // Work on worker 1 that must survive it.
    // It holds a CPU, as Ray's actors need one to be placed: the driver offers none.
    let phoenix = Phoenix::options()
        .num_cpus(1.0)
        .max_restarts(2)
        .scheduling_strategy(ray::SchedulingStrategy::NodeAffinity {
            node_id: w1,
            soft: true,
        })
        .remote();
    assert_eq!(ray::get(&phoenix.home.remote()).unwrap(), w1);
    // Streams across hosts: a generator on worker 2 (items of 24 MiB, several frames
    // each) and a streaming method of the actor on worker 1.
    let got: Vec<usize> = chunks
        .options()
        .resource("w2", 1.0)
        .remote(3u8, 24usize << 20)
        .enumerate()
        .map(|(i, r)| {
            let item = ray::get(&r).unwrap();
            assert!(item.iter().all(|b| usize::from(*b) == i), "item {i} intact");
            item.len()
        })
        .collect();
    assert_eq!(got, vec![24 << 20; 3]);
    let homes: Vec<ray::NodeId> = phoenix
        .homes
        .remote(4)
        .map(|r| ray::get(&r).unwrap())
        .collect();
    assert_eq!(homes, vec![w1; 4]);
    let slow: Vec<_> = (0..2)
        .map(|_| {
            slow_where
                .options()
                .resource("pool", 1.0)
                .max_retries(3)
                .remote(gate.clone())
        })
        .collect();
    // Both running (one per worker) before the host goes.
    assert!(common::wait_until(Duration::from_secs(10), || {
        ray::available_resources().unwrap().get("pool").copied() == Some(0.0)
    }));
    println!("READY");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "killed");
    // The task that ran on worker 1 ran again on worker 2.
    let ran = ray::get_timeout(&slow, Duration::from_secs(60)).unwrap();
    assert_eq!(ran, vec![w2, w2]);
    // The actor came back on worker 2.
    let deadline = Instant::now() + Duration::from_secs(30);
    let home = loop {
        match ray::get_timeout(&phoenix.home.remote(), Duration::from_secs(10)) {
            Ok(home) => break home,
            Err(e) if Instant::now() < deadline => eprintln!("phoenix not back yet: {e}"),
            Err(e) => panic!("the actor did not come back: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(home, w2);
    println!("DONE");
    ray::shutdown();
}

/// The `ray` command on host `i` with a state directory of that host's own.
fn ray_on(hosts: &Hosts, i: usize, state: &std::path::Path) -> Command {
    let mut c = hosts.command(i, env!("CARGO_BIN_EXE_ray"));
    c.env("RAY_TMPDIR", state.join(format!("h{i}")))
        .env("RAY_HEARTBEAT_MS", "100")
        .env("RAY_NODE_TIMEOUT_MS", "1500")
        .env_remove("RAY_ADDRESS");
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().expect("run ray");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{c:?} failed:\n{text}");
    text
}

#[test]
fn a_cluster_spans_four_hosts_and_survives_losing_one() {
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init().expect("join as a worker node");
        return;
    }
    if std::env::var("RAY_TEST_ROLE").is_ok_and(|r| r == "driver") {
        return drive();
    }
    let hosts = Hosts::new("a", 4);
    let state = std::env::temp_dir().join(format!("ray-hosts-{}", std::process::id()));
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap();

    // The head finds its address (its default route's).
    let mut head = ray_on(&hosts, 1, &state);
    head.args(["start", "--head", "--port", "6379", "--num-cpus", "0"])
        .args(["--dashboard-host", "0.0.0.0"]);
    run(head);
    let address = std::fs::read_to_string(state.join("h1/address")).unwrap();
    assert!(address.contains("@10.88.0.1:6379#"), "{address}");
    let dashboard = std::fs::read_to_string(state.join("h1/dashboard")).unwrap();
    assert!(dashboard.starts_with("http://10.88.0.1:"), "{dashboard}");
    // Worker 1 is given its address; worker 2 finds its own (its route to the head).
    for (i, ip, resources) in [
        (2, Some("10.88.0.2"), "w1=1,pool=1"),
        (3, None, "w2=1,pool=1"),
    ] {
        let mut w = ray_on(&hosts, i, &state);
        w.args(["start", "--address", &address, "--num-cpus", "2"])
            .args(["--resources", resources]);
        if let Some(ip) = ip {
            w.args(["--node-ip-address", ip]);
        }
        w.args(["--", me, "--exact", TEST, "--nocapture"]);
        run(w);
    }
    // The driver is given its address.
    let mut driver = hosts
        .command(4, me)
        .args(["--exact", TEST, "--nocapture"])
        .env("RAY_TEST_ROLE", "driver")
        .env("RAY_TEST_GATE", state.join("gate"))
        .env("RAY_ADDRESS", &address)
        .env("RAY_NODE_IP_ADDRESS", hosts.addr(4))
        .env("RAY_HEARTBEAT_MS", "100")
        .env("RAY_NODE_TIMEOUT_MS", "1500")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the driver");
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut wait_for = |word: &str| {
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.trim() == word {
                return;
            }
        }
        panic!("the driver ended before `{word}`:\n{}", seen.join("\n"));
    };
    wait_for("READY");

    // The CLI, from the driver's host, over the cluster's QUIC link.
    let ask = |args: &[&str]| {
        let mut c = ray_on(&hosts, 4, &state);
        c.args(args).args(["--address", &address]);
        run(c)
    };
    let status = ask(&["status"]);
    assert!(status.contains("Nodes: 3 alive, 0 dead"), "{status}");
    assert!(
        status.contains("/2 w1") || status.contains("/1 w1"),
        "{status}"
    );
    let actors = ask(&["list", "actors"]);
    assert!(
        actors.contains("tally") && actors.contains("Phoenix"),
        "{actors}"
    );
    assert_eq!(actors.matches("ALIVE").count(), 2, "{actors}");

    // The dashboard in a browser on the driver's host: without the token only the
    // sign-in; with it (given once, in the link's fragment, which no request carries)
    // the nodes and actors.
    let browse = |url: &str| common::chromium(hosts.command(4, "chromium"), url, &["--dump-dom"]);
    let page = browse(&dashboard);
    assert!(
        page.contains("id=\"main\" hidden") && !page.contains("id=\"signin\" hidden"),
        "{page}"
    );
    assert!(
        !page.contains(">ALIVE<") && !page.contains(">tally<"),
        "{page}"
    );
    let token = common::token_of(&address);
    let page = browse(&format!("{dashboard}/#token={token}"));
    assert!(page.contains("id=\"signin\" hidden"), "{page}");
    assert_eq!(
        page.matches(">ALIVE<").count(),
        3 + 2,
        "3 nodes, 2 actors:\n{page}"
    );
    assert!(
        page.contains(">tally<") && page.contains(">Phoenix<"),
        "{page}"
    );

    // Pull the plug on worker 1's host.
    assert!(hosts.kill_all(2) > 0, "nothing ran on host 2");
    std::fs::write(state.join("gate"), "open").unwrap();
    writeln!(driver.stdin.as_mut().unwrap(), "killed").unwrap();
    wait_for("DONE");
    assert!(driver.wait().unwrap().success(), "{}", seen.join("\n"));
    let status = ask(&["status"]);
    assert!(status.contains("Nodes: 2 alive, 1 dead"), "{status}");
    let _ = std::fs::remove_dir_all(&state);
}

/// `ray start --address` on host 2 with `extra` flags, expected to fail: its output, and
/// that nothing of it is left running there.
fn start_fails(hosts: &Hosts, state: &std::path::Path, address: &str, extra: &[&str]) -> String {
    let me = std::env::current_exe().unwrap();
    let mut w = ray_on(hosts, 2, state);
    w.args(["start", "--address", address]).args(extra).args([
        "--",
        me.to_str().unwrap(),
        "--exact",
        TEST,
        "--nocapture",
    ]);
    let t0 = Instant::now();
    let out = w.output().expect("run ray start");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {text}");
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(
        hosts.pids(2).is_empty(),
        "left running: {:?}",
        hosts.pids(2)
    );
    text
}

#[test]
fn bad_addresses_fail_at_start_and_name_the_address() {
    let hosts = Hosts::new("b", 2);
    let state = std::env::temp_dir().join(format!("ray-badhosts-{}", std::process::id()));
    let mut head = ray_on(&hosts, 1, &state);
    head.args(["start", "--head", "--port", "6379", "--num-cpus", "0"]);
    run(head);
    let address = std::fs::read_to_string(state.join("h1/address")).unwrap();
    let token = common::token_of(&address);

    // An address that is not this host's.
    let out = start_fails(
        &hosts,
        &state,
        &address,
        &["--node-ip-address", "10.88.0.9"],
    );
    assert!(
        out.contains("10.88.0.9 is not an address of this host"),
        "{out}"
    );

    // A join address whose host does not resolve; the error hides the token.
    let unknown = address.replace("10.88.0.1", "no-such-host.invalid");
    let out = start_fails(&hosts, &state, &unknown, &[]);
    assert!(out.contains("no-such-host.invalid"), "{out}");
    assert!(!out.contains(&token), "the token leaked: {out}");

    // A head that does not answer.
    let silent = address.replace("10.88.0.1", "10.88.0.7");
    let out = start_fails(&hosts, &state, &silent, &[]);
    assert!(
        out.contains("cannot reach the head at 10.88.0.7:6379"),
        "{out}"
    );

    // An address of this host that the head cannot reach back (as behind a NAT: the
    // head's host has no route there).
    hosts.ip(2, &["addr", "add", "10.99.0.2/32", "dev", "lo"]);
    hosts.ip(1, &["route", "add", "blackhole", "10.99.0.0/24"]);
    let out = start_fails(
        &hosts,
        &state,
        &address,
        &["--node-ip-address", "10.99.0.2"],
    );
    assert!(
        out.contains("the head cannot reach this node at 10.99.0.2:")
            && out.contains("--node-ip-address"),
        "{out}"
    );
    let mut status = ray_on(&hosts, 1, &state);
    status.arg("status");
    let status = run(status);
    assert!(status.contains("Nodes: 1 alive, 0 dead"), "{status}");
    let _ = std::fs::remove_dir_all(&state);
}
