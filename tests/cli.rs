//! The `ray` command against live node processes: `start --head`, `start --address`,
//! `status` and `stop`.

use std::process::Command;
use std::time::{Duration, Instant};

struct Cli {
    dir: std::path::PathBuf,
}

impl Cli {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ray-cli-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self { dir }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ray"))
            .args(args)
            .env("RAY_TMPDIR", &self.dir)
            .env("RAY_HEARTBEAT_MS", "100")
            .env("RAY_NODE_TIMEOUT_MS", "1000")
            .output()
            .expect("run ray");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    fn pids(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.run(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn start_status_stop() {
    let cli = Cli::new();
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
        "GET /api/cluster HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
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
    let (ok, out) = cli.run(&["stop"]);
    assert!(ok && out.contains("Stopped 2"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| running(p)) {
        assert!(Instant::now() < deadline, "nodes still running after stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Without a cluster, status says what to do.
    let (ok, out) = cli.run(&["status"]);
    assert!(!ok && out.contains("ray start --head"), "{out}");
    // Bad input is an error with usage, not a panic.
    let (ok, out) = cli.run(&["start", "--port", "notaport"]);
    assert!(!ok && out.contains("--port needs a number"), "{out}");
}
