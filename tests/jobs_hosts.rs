//! Jobs on a standing cluster of separate network stacks: a head and two generic worker
//! nodes (`ray start` without a program), each on a host of its own, and `ray job` run
//! from a fourth host. Two programs of different builds (this test binary and the
//! quickstart example) run at once; a job's tasks run in worker processes of its build
//! that the generic nodes start, reading the job's working directory; a second
//! submission uploads nothing; a worker that aborts fails only its task, which runs
//! again; a force cancel ends the worker process its task runs in; `ray job stop`
//! leaves no process of the job on any host; `ray job logs --follow` shows output as it
//! is written; the jobs panel of the dashboard lists them; bad submissions fail with
//! clear errors.
//!
//! The job programs are this test binary, told its role by `RAY_TEST_ROLE` (`--env`)
//! and to run only this test; as a job's worker (`RAY_NODE_MODE=worker`) it serves.
#![cfg(all(feature = "gpu", feature = "cli"))] // needs wgpu and the `ray` binary (scripts/test.sh builds every feature)

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::Hosts;
use ray::prelude::*;

const TEST: &str = "jobs_share_generic_nodes_across_hosts";

/// Where a task ran (the generic node's address its worker was given) and what it read
/// from its current directory: the job's working directory.
#[ray::remote]
fn where_and_what(pause_ms: u64) -> (String, String, bool) {
    std::thread::sleep(Duration::from_millis(pause_ms));
    (
        std::env::var("RAY_NODE_IP_ADDRESS").unwrap_or_default(),
        std::fs::read_to_string("data.txt").unwrap_or_else(|e| format!("unreadable: {e}")),
        std::env::var("RAY_JOB_HOST").is_ok(),
    )
}

/// Aborts its worker the first time (as a crash would), then succeeds.
#[ray::remote]
fn abort_once(marker: String) -> String {
    if std::fs::metadata(&marker).is_err() {
        std::fs::write(&marker, "tried").unwrap();
        std::process::abort();
    }
    "survived".into()
}

/// Counts itself in a user metric (on the head's `/metrics`), then runs until stopped.
#[ray::remote]
fn forever() {
    let ticks = ray::util::metrics::Counter::new("job_ticks", "Tasks started.", &["host"]);
    let host = std::env::var("RAY_NODE_IP_ADDRESS").unwrap_or_default();
    ticks.and_then(|t| t.inc(1.0, &[("host", &host)])).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A job's actor: where it lives, and a way to kill its process as the kernel's OOM
/// killer does (SIGKILL).
pub struct Keeper {
    n: u64,
}

#[ray::remote]
impl Keeper {
    pub fn new(start: u64) -> Self {
        Keeper { n: start }
    }

    pub fn add(&mut self, k: u64) -> u64 {
        self.n += k;
        self.n
    }

    /// The generic node its worker was started by, that node's address, and whether it
    /// runs in a job worker at all.
    pub fn home(&self) -> (String, String, bool) {
        (
            std::env::var("RAY_JOB_HOST").unwrap_or_default(),
            std::env::var("RAY_NODE_IP_ADDRESS").unwrap_or_default(),
            std::env::var("RAY_JOB_HOST").is_ok(),
        )
    }

    /// SIGKILLs its own process the first time (the marker file is written first).
    pub fn killed_once(&self, marker: String) -> u64 {
        if std::fs::metadata(&marker).is_err() {
            std::fs::write(&marker, "killed").unwrap();
            let me = std::process::id().to_string();
            let _ = Command::new("kill").args(["-KILL", &me]).status();
            std::thread::sleep(Duration::from_secs(60));
        }
        self.n
    }
}

/// When it ran (ms since the epoch), after sleeping `ms` (on one CPU, the default).
#[ray::remote]
fn span(ms: u64) -> (u128, u128) {
    let start = now_ms();
    std::thread::sleep(Duration::from_millis(ms));
    (start, now_ms())
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Runs two `span`s from inside a task (here, in a job worker) and waits for both.
#[ray::remote]
fn parent(ms: u64) -> Vec<(u128, u128)> {
    ray::get(&[span.remote(ms), span.remote(ms)]).unwrap()
}

use common::ADD_WGSL as ADD;

/// Adds two vectors on the GPU its lease gives it (wgpu, lavapipe here), holding it
/// `ms`: its GPU ids, when it held it, and whether the sums were right.
#[ray::remote]
fn on_gpu(ms: u64) -> (Vec<u32>, (u128, u128), bool) {
    let start = now_ms();
    let a: Vec<f32> = (0..4096).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..4096).map(|i| (2 * i) as f32).collect();
    let ok = ray::gpu::context()
        .and_then(|ctx| ctx.run_kernel_blocking(ADD, "add", &[&a, &b], a.len(), (16, 1, 1)))
        .is_ok_and(|sum: Vec<f32>| sum.iter().enumerate().all(|(i, s)| *s == (3 * i) as f32));
    std::thread::sleep(Duration::from_millis(ms));
    (ray::runtime_context().gpu_ids(), (start, now_ms()), ok)
}

/// The free CPUs of node `id`, as its last heartbeat reported them.
fn free_cpus(id: ray::NodeId) -> f64 {
    ray::nodes()
        .unwrap()
        .into_iter()
        .find(|n| n.node_id == id)
        .and_then(|n| n.available.get("CPU").copied())
        .unwrap_or(-1.0)
}

/// The nodes with CPUs: the generic nodes (the head has none).
fn generic_nodes() -> Vec<ray::NodeId> {
    ray::nodes()
        .unwrap()
        .into_iter()
        .filter(|n| n.resources.get("CPU").is_some_and(|c| *c > 0.0))
        .map(|n| n.node_id)
        .collect()
}

fn pinned(node_id: ray::NodeId) -> ray::SchedulingStrategy {
    ray::SchedulingStrategy::NodeAffinity {
        node_id,
        soft: false,
    }
}

/// What a job does, by its role.
fn job(role: &str) {
    ray::init().expect("join the cluster as the job's driver");
    match role {
        "spread" => {
            // Four tasks pinned to each generic node, which starts a worker of this job.
            let refs: Vec<_> = generic_nodes()
                .iter()
                .flat_map(|node_id| std::iter::repeat_n(*node_id, 4))
                .map(|node_id| {
                    where_and_what
                        .options()
                        .scheduling_strategy(pinned(node_id))
                        .remote(100)
                })
                .collect();
            let got = ray::get(&refs).expect("the tasks' results");
            let hosts: BTreeSet<_> = got.iter().map(|(ip, _, _)| ip.clone()).collect();
            let data: BTreeSet<_> = got.iter().map(|(_, d, _)| d.trim().to_string()).collect();
            println!("HOSTS {}", hosts.into_iter().collect::<Vec<_>>().join(","));
            println!("DATA {}", data.into_iter().collect::<Vec<_>>().join(","));
            println!("IN-WORKERS {}", got.iter().all(|(_, _, w)| *w));
        }
        "abort" => {
            let marker = std::env::var("RAY_TEST_MARKER").unwrap();
            let r = abort_once.options().max_retries(3).remote(marker);
            println!("ABORT {}", ray::get(&r).expect("the retried task"));
        }
        "forever" => {
            let _refs: Vec<_> = generic_nodes()
                .into_iter()
                .map(|node_id| {
                    forever
                        .options()
                        .scheduling_strategy(pinned(node_id))
                        .remote()
                })
                .collect();
            println!("STARTED");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "cancel" => {
            // A force cancel ends the worker process the task runs in.
            let me = std::env::var("RAY_JOB_ID").unwrap();
            let host = generic_nodes()[0];
            let r = forever.options().scheduling_strategy(pinned(host)).remote();
            let others = || {
                let mine = std::process::id();
                processes_of(&me).into_iter().filter(|p| *p != mine).count()
            };
            wait_until("the job's worker starts", || others() == 1);
            // It joined; its task is sent to it right after.
            std::thread::sleep(Duration::from_secs(1));
            ray::cancel(&r, true).unwrap();
            println!("CANCELLED {}", ray::get(&r).unwrap_err().is_cancelled());
            wait_until("the worker ends", || others() == 0);
            println!("WORKER-ENDED");
            let after = where_and_what
                .options()
                .scheduling_strategy(pinned(host))
                .remote(0);
            println!("AFTER {}", ray::get(&after).unwrap().2);
        }
        "actors" => {
            // The driver has no CPUs: an actor needing one goes to a worker of this job
            // that a generic node starts, and holds the CPU there while it lives.
            let k = Keeper::options()
                .num_cpus(1.0)
                .max_restarts(1)
                .max_task_retries(1)
                .remote(0);
            let sums = ray::get(&(1..=20).map(|i| k.add.remote(i)).collect::<Vec<_>>()).unwrap();
            let expected: Vec<u64> = (1..=20)
                .scan(0, |n, i| Some(*n + i).inspect(|s| *n = *s))
                .collect();
            println!("ORDERED {}", sums == expected);
            let (host, ip, in_worker) = ray::get(&k.home.remote()).unwrap();
            println!("ACTOR-IN-WORKER {in_worker} {ip}");
            let host: ray::NodeId = host.parse().unwrap();
            wait_until("the generic node holds the actor's CPU", || {
                free_cpus(host) == 1.0
            });
            println!("LEASED");
            // Its worker is SIGKILLed in a call: the actor comes back in a new worker
            // of the job, and the call runs again there (from the constructor's state).
            let marker = std::env::var("RAY_TEST_MARKER").unwrap();
            let again = ray::get_timeout(&k.killed_once.remote(marker), Duration::from_secs(60));
            println!("RESTARTED {again:?}");
            let (_, _, still) = ray::get(&k.home.remote()).unwrap();
            println!("STILL-IN-WORKER {still}");
            ray::kill(&k);
            wait_until("the actor's CPU is free again", || free_cpus(host) == 2.0);
            println!("RELEASED");
        }
        "nested" => {
            // A task on a generic node (2 CPUs) waits in `get` for two tasks it
            // submitted: they lease the node's CPUs as any task does (it shows none
            // free), and the waiting parent gave its own back (both run at once).
            let host = generic_nodes()[0];
            let r = parent
                .options()
                .num_cpus(1.0)
                .scheduling_strategy(pinned(host))
                .remote(2000);
            let mut lowest = f64::MAX;
            while ray::wait(std::slice::from_ref(&r), 1, Some(Duration::ZERO))
                .unwrap()
                .0
                .is_empty()
            {
                lowest = lowest.min(free_cpus(host));
                std::thread::sleep(Duration::from_millis(20));
            }
            let spans = ray::get(&r).unwrap();
            let overlap = spans[0].0.max(spans[1].0) < spans[0].1.min(spans[1].1);
            println!("NESTED lowest-free {lowest} together {overlap}");
        }
        "gpu" => {
            // Only the first generic node has a GPU: two tasks needing it go to this
            // job's worker there, run one at a time on GPU 0, and compute on it.
            let refs: Vec<_> = (0..2)
                .map(|_| on_gpu.options().num_gpus(1.0).remote(500))
                .collect();
            let got = ray::get(&refs).unwrap();
            let ids: Vec<_> = got.iter().map(|(ids, _, _)| ids.clone()).collect();
            let (a, b) = (got[0].1, got[1].1);
            let apart = a.1 <= b.0 || b.1 <= a.0;
            let computed = got.iter().all(|(_, _, ok)| *ok);
            println!("GPU ids {ids:?} apart {apart} computed {computed}");
        }
        "ticks" => {
            for i in 0..6 {
                println!("tick {i}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        other => panic!("unknown role {other}"),
    }
    ray::shutdown();
}

/// The `ray` command on host `i` with a state directory of that host's own. The node
/// timeout stays at its default (10 s): nothing here waits for one (a job's end and a
/// worker's exit reach the head at once), and a debug build moving a 256 MB program
/// over QUIC keeps a node's thread busy long enough to miss a shorter one on a loaded
/// machine.
fn ray_on(hosts: &Hosts, i: usize, state: &std::path::Path) -> Command {
    let mut c = hosts.command(i, env!("CARGO_BIN_EXE_ray"));
    c.env("RAY_TMPDIR", state.join(format!("h{i}")))
        .env("RAY_HEARTBEAT_MS", "100")
        .env_remove("RAY_NODE_TIMEOUT_MS")
        .env_remove("RAY_ADDRESS");
    c
}

/// Output (stdout then stderr) and whether it succeeded.
fn output(mut c: Command) -> (String, bool) {
    let out = c.output().expect("run ray");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.success())
}

fn run(c: Command) -> String {
    let (text, ok) = output(c);
    assert!(ok, "failed:\n{text}");
    text
}

/// The processes (on any host: network namespaces share the process table) whose
/// environment names `job_id`.
fn processes_of(job_id: &str) -> Vec<u32> {
    let needle = format!("RAY_JOB_ID={job_id}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn job_id_in(text: &str) -> String {
    text.split('\'')
        .find(|w| w.starts_with("job-"))
        .unwrap_or_else(|| panic!("no job id in:\n{text}"))
        .to_string()
}

#[test]
fn jobs_share_generic_nodes_across_hosts() {
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init().expect("serve as a job's worker");
        return;
    }
    if let Ok(url) = std::env::var("RAY_TEST_SCRAPE") {
        // A browser-less client on another host: the head's /metrics, with the token.
        let bearer = format!(
            "Authorization: Bearer {}\r\n",
            std::env::var("RAY_TEST_TOKEN").unwrap()
        );
        let (status, text) = common::http_get_with(&url, "/metrics", &bearer);
        println!("STATUS {status}\n{text}");
        return;
    }
    if let Ok(role) = std::env::var("RAY_TEST_ROLE") {
        return job(&role);
    }
    let hosts = Hosts::new("j", 4);
    let state = std::env::temp_dir().join(format!("ray-jobs-{}", std::process::id()));
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap().to_string();
    let quickstart = std::path::Path::new(env!("CARGO_BIN_EXE_ray"))
        .with_file_name("examples")
        .join("quickstart");
    assert!(
        quickstart.exists(),
        "build the examples first (`cargo build --examples`, as scripts/test.sh does)"
    );

    let mut head = ray_on(&hosts, 1, &state);
    head.args(["start", "--head", "--port", "6379", "--num-cpus", "0"])
        .args(["--dashboard-host", "0.0.0.0"]);
    run(head);
    let address = std::fs::read_to_string(state.join("h1/address")).unwrap();
    for i in [2, 3] {
        let mut w = ray_on(&hosts, i, &state);
        w.args(["start", "--address", &address, "--num-cpus", "2"]);
        // One GPU on the first (lavapipe: software Vulkan, which CI installs).
        w.args(["--num-gpus", if i == 2 { "1" } else { "0" }]);
        run(w);
    }
    let job_cmd = |args: &[&str]| {
        let mut c = ray_on(&hosts, 4, &state);
        c.args(["job"]).args(args).args(["--address", &address]);
        c
    };
    let submit = |extra: &[&str], program: &[&str]| {
        let mut c = job_cmd(&["submit"]);
        c.args(extra).arg("--").args(program);
        c
    };
    // This test binary as a job, told to run only this test (its role is in `--env`).
    let this_test = [me.as_str(), "--exact", TEST, "--nocapture"];
    let workdir = state.join("workdir");
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::write(workdir.join("data.txt"), "from the working directory").unwrap();
    let workdir_arg = workdir.to_str().unwrap().to_string();

    // Two programs of different builds at once.
    let spread = submit(
        &[
            "--env",
            "RAY_TEST_ROLE=spread",
            "--working-dir",
            &workdir_arg,
        ],
        &this_test,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let other = run(submit(&[], &[quickstart.to_str().unwrap()]));
    assert!(
        other.contains("[0, 1, 4, 9]\n10\n10000.0\n1000000.0"),
        "{other}"
    );
    assert!(other.contains("SUCCEEDED"), "{other}");
    let spread = spread.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&spread.stdout).into_owned()
        + &String::from_utf8_lossy(&spread.stderr);
    assert!(spread.status.success(), "{text}");
    assert!(
        text.contains("HOSTS 10.88.0.2,10.88.0.3"),
        "tasks on both generic hosts:\n{text}"
    );
    assert!(text.contains("DATA from the working directory"), "{text}");
    assert!(text.contains("IN-WORKERS true"), "{text}");
    assert!(
        !text.contains("uploaded 0 bytes"),
        "the first submission uploads:\n{text}"
    );

    // The same build and working directory again: nothing is uploaded.
    let again = run(submit(
        &[
            "--env",
            "RAY_TEST_ROLE=spread",
            "--working-dir",
            &workdir_arg,
        ],
        &this_test,
    ));
    assert!(again.contains("(uploaded 0 bytes)"), "{again}");
    assert!(again.contains("HOSTS 10.88.0.2,10.88.0.3"), "{again}");

    // A worker that aborts fails only its task, which runs again; a job running beside
    // it is untouched.
    let marker = state.join("abort-marker");
    let ticks = submit(&["--env", "RAY_TEST_ROLE=ticks"], &this_test)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let aborted = run(submit(
        &[
            "--env",
            "RAY_TEST_ROLE=abort",
            "--env",
            &format!("RAY_TEST_MARKER={}", marker.display()),
        ],
        &this_test,
    ));
    assert!(aborted.contains("ABORT survived"), "{aborted}");
    assert!(marker.exists(), "the first try ran (and aborted)");
    let ticks = ticks.wait_with_output().unwrap();
    let ticks_text = String::from_utf8_lossy(&ticks.stdout);
    assert!(
        ticks.status.success() && ticks_text.contains("tick 5"),
        "{ticks_text}"
    );

    // A job's actor lives in a job worker on a generic node, holds its CPU there, and
    // comes back in a new worker when its process is SIGKILLed.
    let actors = run(submit(
        &[
            "--env",
            "RAY_TEST_ROLE=actors",
            "--env",
            &format!("RAY_TEST_MARKER={}", state.join("kill-marker").display()),
        ],
        &this_test,
    ));
    for line in [
        "ORDERED true",
        "ACTOR-IN-WORKER true 10.88.0.",
        "LEASED",
        "RESTARTED Ok(0)",
        "STILL-IN-WORKER true",
        "RELEASED",
    ] {
        assert!(actors.contains(line), "no `{line}` in:\n{actors}");
    }

    let gpu = run(submit(
        &[
            "--env",
            "RAY_TEST_ROLE=gpu",
            "--env",
            "RAY_GPU_ALLOW_SOFTWARE=1",
        ],
        &this_test,
    ));
    assert!(
        gpu.contains("GPU ids [[0], [0]] apart true computed true"),
        "{gpu}"
    );
    let nested = run(submit(&["--env", "RAY_TEST_ROLE=nested"], &this_test));
    assert!(
        nested.contains("NESTED lowest-free 0 together true"),
        "{nested}"
    );

    // `ray::cancel(&r, true)` ends the job worker running the task; the job goes on.
    let cancelled = run(submit(&["--env", "RAY_TEST_ROLE=cancel"], &this_test));
    assert!(cancelled.contains("CANCELLED true"), "{cancelled}");
    assert!(cancelled.contains("WORKER-ENDED"), "{cancelled}");
    assert!(cancelled.contains("AFTER true"), "{cancelled}");

    // `logs --follow` shows output as it is written, from another host.
    let started = run(submit(
        &["--no-wait", "--env", "RAY_TEST_ROLE=ticks"],
        &this_test,
    ));
    let ticking = job_id_in(&started);
    let mut follow = job_cmd(&["logs", &ticking, "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut arrivals = Vec::new();
    for line in BufReader::new(follow.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("tick ") {
            arrivals.push((line, t0.elapsed()));
        }
    }
    assert!(follow.wait().unwrap().success());
    assert_eq!(arrivals.len(), 6, "{arrivals:?}");
    assert!(
        arrivals[5].1 - arrivals[0].1 >= Duration::from_secs(2),
        "lines arrive as written, not at the end: {arrivals:?}"
    );

    // `ray job stop` leaves no process of the job on any host.
    let started = run(submit(
        &["--no-wait", "--env", "RAY_TEST_ROLE=forever"],
        &this_test,
    ));
    let forever_id = job_id_in(&started);
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_of(&forever_id).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the job's driver and two workers did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Their tasks' user metric, recorded in the job's workers on both generic hosts, is
    // on the head's /metrics with each worker's node.
    let dashboard = std::fs::read_to_string(state.join("h1/dashboard")).unwrap();
    let token = common::token_of(&address);
    let scrape = || {
        let mut c = hosts.command(4, &me);
        c.args(this_test)
            .env("RAY_TEST_SCRAPE", &dashboard)
            .env("RAY_TEST_TOKEN", &token);
        run(c)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let text = scrape();
        if ["10.88.0.2", "10.88.0.3"]
            .iter()
            .all(|h| text.contains(&format!("ray_job_ticks_total{{host=\"{h}\",NodeId=\"node-")))
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no job_ticks of both hosts:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(metrics.contains("STATUS 200"), "{metrics}");
    let stopped = run(job_cmd(&["stop", &forever_id]));
    assert!(stopped.contains("STOPPED"), "{stopped}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !processes_of(&forever_id).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes of the stopped job remain: {:?}",
            processes_of(&forever_id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let list = run(job_cmd(&["list"]));
    assert!(
        list.contains(&forever_id) && list.contains("STOPPED"),
        "{list}"
    );

    // Bad submissions: each a clear error, nothing started.
    let script = state.join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let (text, ok) = output(submit(&[], &[script.to_str().unwrap()]));
    assert!(!ok && text.contains("not an ELF executable"), "{text}");
    let big = state.join("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::File::create(big.join("sparse"))
        .unwrap()
        .set_len(ray::job_submission::MAX_WORKING_DIR_BYTES + 1)
        .unwrap();
    let (text, ok) = output(submit(
        &["--working-dir", big.to_str().unwrap()],
        &this_test,
    ));
    assert!(!ok && text.contains("over the limit"), "{text}");
    let (text, ok) = output(job_cmd(&["status", "job-00000001"]));
    assert!(!ok && text.contains("no job job-00000001"), "{text}");
    let token = common::token_of(&address);
    let wrong = address.replace(&token, "0123456789abcdef0123456789abcdef");
    let mut c = ray_on(&hosts, 4, &state);
    c.args(["job", "submit", "--address", &wrong, "--"])
        .args(this_test);
    let (text, ok) = output(c);
    assert!(!ok && text.contains("wrong cluster token"), "{text}");
    let jobs = run(job_cmd(&["list"]));
    assert_eq!(jobs.matches("RUNNING").count(), 0, "{jobs}");

    // The jobs panel of the dashboard, in a browser on the submitter's host.
    let dashboard = std::fs::read_to_string(state.join("h1/dashboard")).unwrap();
    let page = common::chromium(
        hosts.command(4, "chromium"),
        &format!("{dashboard}/#token={token}"),
        &["--dump-dom"],
    );
    let panel = page
        .split("id=\"jobs\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no jobs panel:\n{page}"));
    assert!(
        panel.contains(&format!(">{forever_id}<")) && panel.contains(">STOPPED<"),
        "{panel}"
    );
    assert!(
        panel.contains(">SUCCEEDED<") && panel.contains(">quickstart<"),
        "{panel}"
    );
    let listed = run({
        let mut c = ray_on(&hosts, 4, &state);
        c.args(["list", "jobs", "--address", &address]);
        c
    });
    assert!(
        listed.contains(&forever_id) && listed.contains("SUBMISSION"),
        "{listed}"
    );

    let mut stop = ray_on(&hosts, 1, &state);
    stop.arg("stop");
    run(stop);
    let _ = std::fs::remove_dir_all(&state);
}
