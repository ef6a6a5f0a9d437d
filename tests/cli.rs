//! The `ray` command against live node processes: `start --head`, `start --address`,
//! `status` and `stop`, and the state commands against a cluster this test process
//! joins as a driver with objects, actors and a placement group.
#![cfg(feature = "cli")] // needs the `ray` binary (scripts/test.sh builds every feature)

mod common;

use common::cli::{Cli, running};

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use ray::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn start_status_stop() {
    let cli = Cli::new("basic");
    let (ok, out) = cli.run(&["start", "--head", "--num-cpus", "1"]);
    assert!(ok, "{out}");
    assert!(out.contains("Ray runtime started"), "{out}");
    let address = std::fs::read_to_string(cli.dir.join("address")).expect("address file");
    assert!(address.starts_with("ray://"), "{address}");
    // The head serves the dashboard, and `ray start` says where.
    let url = std::fs::read_to_string(cli.dir.join("dashboard")).expect("dashboard file");
    assert!(
        out.contains(&format!("Dashboard:           {url}")),
        "{out}"
    );
    let mut http = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    use std::io::{Read, Write};
    write!(
        http,
        "GET /api/cluster HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (ok, out) = cli.run(&[
        "start",
        "--address",
        &address,
        "--num-cpus",
        "2",
        "--resources",
        "special=1",
    ]);
    assert!(ok, "{out}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (ok, out) = cli.run(&["status"]);
        if ok && out.contains("Nodes: 2 alive") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never showed up: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.contains("0/3 CPU"), "{status}");
    assert!(status.contains("0/1 special"), "{status}");
    // `ray status` itself is no job, and no driver runs yet.
    assert!(status.contains("Jobs: 0 running, 0 finished"), "{status}");

    // `ray list` and `ray summary` read the head's state API.
    let (ok, out) = cli.run(&["list", "nodes"]);
    assert!(
        ok && out.contains("NODE_ID") && out.matches("ALIVE").count() == 2,
        "{out}"
    );
    let (ok, out) = cli.run(&["list", "nodes", "--format", "json"]);
    assert!(ok, "{out}");
    let nodes: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(nodes.as_array().map(Vec::len), Some(2), "{out}");
    let (ok, out) = cli.run(&["list", "actors", "--format", "json"]);
    assert!(
        ok && serde_json::from_str::<serde_json::Value>(&out).is_ok(),
        "{out}"
    );
    let (ok, out) = cli.run(&["list", "tasks", "--state", "FAILED"]);
    assert!(ok && out.contains("TASK_ID"), "{out}");
    let (ok, out) = cli.run(&["summary", "tasks"]);
    assert!(ok && out.contains("finished"), "{out}");
    let trace = cli.dir.join("trace.json");
    let (ok, out) = cli.run(&["timeline", "-o", trace.to_str().unwrap()]);
    assert!(ok && out.contains("task events"), "{out}");
    let events: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).expect("trace JSON");
    assert!(events.is_array(), "{events}");
    let (ok, out) = cli.run(&["list", "planets"]);
    assert!(!ok && out.contains("usage: ray list"), "{out}");

    let pids = cli.pids();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| running(p)));
    // The token is a secret: on no node's command line (which `ps` shows every local
    // user) and in no log line of this whole session.
    let token = common::token_of(&address);
    for p in &pids {
        let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !cmdline.contains(&token),
            "the token is on a command line: {cmdline}"
        );
    }
    for log in std::fs::read_dir(cli.dir.join("logs")).unwrap() {
        let path = log.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&token), "the token is in {}", path.display());
    }
    let (ok, out) = cli.run(&["stop"]);
    assert!(ok && out.contains("Stopped 2"), "{out}");
    // `stop` waits for the nodes to exit, with a progress bar.
    assert!(
        out.contains("Stopping ray nodes [") && out.contains("2/2"),
        "{out}"
    );
    assert!(
        pids.iter().all(|p| !running(p)),
        "nodes still running after stop"
    );
    // The state directory and what it holds are this user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cli.dir), 0o700);
    assert_eq!(mode(&cli.dir.join("logs")), 0o700);
    for f in std::fs::read_dir(cli.dir.join("logs")).unwrap() {
        assert_eq!(mode(&f.unwrap().path()), 0o600);
    }
    // Without a cluster, status says what to do.
    let (ok, out) = cli.run(&["status"]);
    assert!(!ok && out.contains("ray start --head"), "{out}");
    // Bad input is an error with usage, not a panic.
    let (ok, out) = cli.run(&["start", "--port", "notaport"]);
    assert!(!ok && out.contains("--port needs a number"), "{out}");
}

pub struct Tally {
    n: u64,
}

#[ray::remote]
impl Tally {
    pub fn new() -> Self {
        Tally { n: 0 }
    }

    pub fn add(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

#[test]
fn state_commands_show_a_drivers_objects_actors_groups_and_the_heads_log() {
    use ray::ActorOptionsBuilder;
    let cli = Cli::new("state");
    let (ok, out) = cli.run(&["start", "--head", "--num-cpus", "1"]);
    assert!(ok, "{out}");
    let address = std::fs::read_to_string(cli.dir.join("address")).expect("address file");
    // This process joins as a driver; what it makes lives on its own node.
    let _ray = common::init_with(
        ray::Config::new()
            .address(address.trim())
            .num_cpus(2.0)
            .heartbeat_interval(Duration::from_millis(100)),
    );
    let blob = ray::put(vec![3u8; 5 << 20]);
    let tally = Tally::options().name("tally").remote();
    assert_eq!(ray::get(&tally.add.remote()).unwrap(), 1);
    let pg = ray::placement_group_with(
        ray::PlacementGroupOptions::new(vec![ray::bundle([("CPU", 1.0)])]).name("cli-pg"),
    )
    .unwrap();
    assert!(pg.wait(common::LONG).unwrap());
    let blob_id = blob.id().to_string();
    // The head learns where the driver listens with its next heartbeat.
    assert!(
        common::wait_until(common::LONG, || cli
            .run(&["list", "objects"])
            .1
            .contains(&blob_id)),
        "{}",
        cli.run(&["list", "objects"]).1
    );
    let (ok, out) = cli.run(&["list", "objects", "--format", "json"]);
    assert!(ok, "{out}");
    let objects: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let listed = objects
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|o| o["object_id"] == blob_id.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert!(listed["size"].as_u64().unwrap() >= 5 << 20, "{listed}");
    assert_eq!(listed["ref_count"], 1, "{listed}");

    let (ok, out) = cli.run(&["memory"]);
    assert!(ok && out.contains("Object references status"), "{out}");
    assert!(out.contains(&blob_id) && out.contains("5.00 MiB"), "{out}");

    let (ok, out) = cli.run(&["list", "actors", "--state", "ALIVE"]);
    assert!(
        ok && out.contains("Tally") && out.contains("tally"),
        "{out}"
    );
    let (ok, out) = cli.run(&["summary", "actors"]);
    assert!(
        ok && out.contains("total_actors: 1") && out.contains("Tally: ALIVE: 1"),
        "{out}"
    );
    let (ok, out) = cli.run(&["list", "placement-groups"]);
    assert!(
        ok && out.contains("cli-pg") && out.contains("CREATED"),
        "{out}"
    );

    // The head's log file, as the dashboard serves it.
    let (ok, out) = cli.run(&["logs", "--lines", "50"]);
    assert!(ok && out.contains("dashboard serving"), "{out}");

    // `status --watch` redraws until stopped.
    let mut watch = cli
        .command(&["status", "--watch", "--interval", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ray status --watch");
    let stdout = watch.stdout.take().expect("stdout");
    let frames = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("Cluster status"))
        .take(3)
        .count();
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(frames, 3);
}

/// A state directory someone else could write (pre-created world-writable, as an
/// attacker on the machine would) is refused before anything is started or written.
#[test]
fn a_state_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new("shared");
    std::fs::create_dir_all(&cli.dir).unwrap();
    std::fs::set_permissions(&cli.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, out) = cli.run(&["start", "--head"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("refusing the state directory") && out.contains("mode 777"),
        "{out}"
    );
    assert!(
        std::fs::read_dir(&cli.dir).unwrap().next().is_none(),
        "it wrote there"
    );
    // A planted `pids` file is not acted on either: `stop` refuses the directory too.
    std::fs::write(cli.dir.join("pids"), format!("{} 0\n", std::process::id())).unwrap();
    let (ok, out) = cli.run(&["stop"]);
    assert!(!ok && out.contains("refusing the state directory"), "{out}");
    // A symlink in its place is refused as well.
    let _ = std::fs::remove_dir_all(&cli.dir);
    std::os::unix::fs::symlink(std::env::temp_dir(), &cli.dir).unwrap();
    let (ok, out) = cli.run(&["start", "--head"]);
    assert!(!ok && out.contains("it is not a directory"), "{out}");
    let _ = std::fs::remove_file(&cli.dir);
}

/// `ray stop` signals only processes it started: a recorded pid now used by another
/// process (here, this test) is left alone.
#[test]
fn stop_never_signals_a_process_it_did_not_start() {
    let cli = Cli::new("reused");
    let (ok, out) = cli.run(&["start", "--head", "--num-cpus", "0"]);
    assert!(ok, "{out}");
    let mut pids = std::fs::read_to_string(cli.dir.join("pids")).unwrap();
    // This test process, recorded with a start time that is not its own.
    pids.push_str(&format!("{} 1\n", std::process::id()));
    std::fs::write(cli.dir.join("pids"), pids).unwrap();
    let (ok, out) = cli.run(&["stop"]);
    assert!(ok && out.contains("Stopped 1 "), "{out}");
}

#[ray::remote]
fn megabyte(i: u8) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(vec![i; 1 << 20])
}

const SPILL_TEST: &str = "a_node_stopped_by_ray_stop_leaves_no_spill_files";

/// A worker node that spilled objects (its own private directory, 0700, files 0600) and
/// is stopped by `ray stop` (SIGTERM) shuts down cleanly: no spill file is left.
#[test]
fn a_node_stopped_by_ray_stop_leaves_no_spill_files() {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var("RAY_NODE_MODE").is_ok() {
        ray::init().expect("join as a worker node");
        return;
    }
    let cli = Cli::new("spill");
    let (ok, out) = cli.run(&["start", "--head", "--num-cpus", "0"]);
    assert!(ok, "{out}");
    let address = std::fs::read_to_string(cli.dir.join("address")).unwrap();
    let base = std::env::temp_dir().join(format!("ray-spill-base-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let me = std::env::current_exe().unwrap();
    let out = cli
        .command(&["start", "--address", address.trim(), "--num-cpus", "1"])
        .args(["--resources", "spiller=1", "--"])
        .arg(&me)
        .args(["--exact", SPILL_TEST, "--nocapture"])
        .env("RAY_OBJECT_STORE_MEMORY", (1u32 << 20).to_string())
        .env("RAY_OBJECT_SPILLING_DIRECTORY", &base)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let _ray = common::join(address.trim());
    let refs: Vec<_> = (0..4)
        .map(|i| megabyte.options().resource("spiller", 1.0).remote(i))
        .collect();
    // Not `ray::wait`: it fetches the values here (Ray's `fetch_local`), which brings
    // them back from the worker's spill files and removes those.
    let spill_dirs = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&base)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default()
    };
    // The node makes its directory first and writes a file into it a moment later:
    // wait for a file, not just the directory.
    let spill_files = || -> Vec<std::path::PathBuf> {
        let dirs = spill_dirs();
        let Some(dir) = dirs.first() else {
            return Vec::new();
        };
        std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default()
    };
    assert!(
        common::wait_until(common::LONG, || !spill_files().is_empty()),
        "the worker spilled nothing"
    );
    let dir = &spill_dirs()[0];
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let files = spill_files();
    assert!(files.iter().all(|f| mode(f) == 0o600));
    // The name ends in random hex: nobody can create it before the node does.
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let suffix = name.rsplit('-').next().unwrap();
    assert!(
        suffix.len() == 16 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );

    let (ok, out) = cli.run(&["stop"]);
    assert!(ok && out.contains("Stopped 2"), "{out}");
    assert!(!out.contains("were killed"), "a node needed SIGKILL: {out}");
    assert!(spill_dirs().is_empty(), "left behind: {:?}", spill_dirs());
    drop(refs);
    let _ = std::fs::remove_dir_all(&base);
}

#[ray::remote]
fn until_cancelled() -> u8 {
    while !ray::runtime_context().is_canceled() {
        std::thread::sleep(Duration::from_millis(5));
    }
    0
}

/// Runs `ray logs --follow` (of the head) in the background; once it has printed the
/// log's last lines, runs `cause` and returns the first new line that contains `needle`,
/// then stops it, after checking that no line it printed was printed twice (each log
/// line carries its own timestamp).
fn follow_until(cli: &Cli, cause: impl FnOnce(), needle: &str) -> String {
    let mut child = cli
        .command(&["logs", "--follow", "--lines", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ray logs --follow");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = vec![
        lines
            .recv_timeout(common::LONG)
            .expect("the log's last lines"),
    ];
    cause();
    let deadline = Instant::now() + common::LONG;
    let found = loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(needle) => break line,
            Ok(line) => printed.push(line),
            Err(e) => panic!("no new log line with `{needle}` from `ray logs --follow`: {e}"),
        }
    };
    // A few more polls: nothing comes again.
    printed.push(found.clone());
    let quiet = Instant::now() + Duration::from_secs(1);
    while let Ok(line) = lines.recv_timeout(quiet.saturating_duration_since(Instant::now())) {
        printed.push(line);
    }
    let mut unique = printed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        printed.len(),
        "a line printed twice:\n{}",
        printed.join("\n")
    );
    child.kill().unwrap();
    child.wait().unwrap();
    found
}

/// `kill-actor`, `cancel`, `summary objects` and `logs --follow` against a head that
/// `ray start` runs, with this test process as the driver that owns the actors, tasks
/// and objects.
#[test]
fn kill_actor_cancel_summary_objects_and_logs_follow_on_a_live_cluster() {
    let cli = Cli::new("actions");
    // The head runs nothing: every task runs here, on the driver.
    let (ok, out) = cli.run(&["start", "--head", "--num-cpus", "0"]);
    assert!(ok, "{out}");
    let address = std::fs::read_to_string(cli.dir.join("address")).expect("address file");
    let _ray = common::init_with(
        ray::Config::new()
            .address(address.trim())
            .num_cpus(2.0)
            .heartbeat_interval(Duration::from_millis(100)),
    );
    let me = ray::runtime_context().node_id().to_string();

    // `ray logs --follow` prints lines the head writes after it started: here, that a
    // named actor registered.
    let followed = follow_until(
        &cli,
        || {
            let probe = Tally::options().name("follow-probe").remote();
            assert_eq!(ray::get(&probe.add.remote()).unwrap(), 1);
        },
        "follow-probe",
    );
    assert!(followed.contains("named actor registered"), "{followed}");

    // `ray summary objects` counts what the driver's store holds.
    let blob = ray::put(vec![7u8; 3 << 20]);
    assert!(
        common::wait_until(common::LONG, || cli
            .run(&["list", "objects"])
            .1
            .contains(&blob.id().to_string())),
        "the head never listed the driver's object"
    );
    let (ok, out) = cli.run(&["summary", "objects"]);
    assert!(ok && out.contains("Objects summary"), "{out}");
    assert!(
        out.contains("total_objects: ") && out.contains(&me) && out.contains("READY"),
        "{out}"
    );
    let (ok, out) = cli.run(&["summary", "objects", "--format", "json"]);
    assert!(ok, "{out}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(
        summary["total_bytes"].as_u64().unwrap() >= 3 << 20,
        "{summary}"
    );
    assert!(
        summary["by_node"][&me]["count"].as_u64().unwrap() >= 1,
        "{summary}"
    );

    // `ray kill-actor --no-restart`: dead for good, its calls fail.
    let victim = Tally::options().name("victim").remote();
    assert_eq!(ray::get(&victim.add.remote()).unwrap(), 1);
    let victim_id = victim.id().to_string();
    let (ok, out) = cli.run(&["kill-actor", &victim_id, "--no-restart"]);
    assert!(
        ok && out.contains("Killed actor") && out.contains("DEAD"),
        "{out}"
    );
    assert!(matches!(
        ray::get(&victim.add.remote()),
        Err(ray::Error::ActorDied { .. })
    ));
    let (ok, out) = cli.run(&["kill-actor", &victim_id]);
    assert!(ok && out.contains("already dead"), "{out}");
    // Without --no-restart it is killed as a crash and comes back, from its constructor.
    let phoenix = Tally::options().max_restarts(1).remote();
    assert_eq!(ray::get(&phoenix.add.remote()).unwrap(), 1);
    let (ok, out) = cli.run(&["kill-actor", &phoenix.id().to_string()]);
    assert!(
        ok && out.contains("Killed actor") && out.contains("restarts"),
        "{out}"
    );
    assert!(common::wait_until(common::LONG, || ray::get(
        &phoenix.add.remote()
    )
    .is_ok()));
    let (ok, out) = cli.run(&["kill-actor", "actor-deadbeef"]);
    assert!(!ok && out.contains("no actor actor-deadbeef"), "{out}");

    // `ray cancel` by an object the task returns, and by the task's id.
    let by_object = until_cancelled.remote();
    let (ok, out) = cli.run(&["cancel", &by_object.id().to_string()]);
    assert!(ok && out.contains("Cancel of task"), "{out}");
    let got = ray::get_timeout(&by_object, common::LONG);
    assert!(got.as_ref().is_err_and(|e| e.is_cancelled()), "{got:?}");
    let by_task = until_cancelled.remote();
    let task_id = by_task.id().task_id().to_string();
    let (ok, out) = cli.run(&["cancel", &task_id, "--recursive"]);
    assert!(ok && out.contains(&task_id), "{out}");
    let got = ray::get_timeout(&by_task, common::LONG);
    assert!(got.as_ref().is_err_and(|e| e.is_cancelled()), "{got:?}");
    // A put object has no task to cancel.
    let (ok, out) = cli.run(&["cancel", &blob.id().to_string()]);
    assert!(!ok && out.contains("was put"), "{out}");
}
