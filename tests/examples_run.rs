//! Runs the examples as a user would (their built binaries, as separate processes) and
//! checks what they print or serve: the seed's exact output, the actix-web embedding over
//! real HTTP on 127.0.0.1, the Monte Carlo π estimate, and each scale run at a small size.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn quickstart_prints_the_seed_output() {
    let out = Command::new(common::example("quickstart"))
        .output()
        .expect("run quickstart");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[0, 1, 4, 9]\n10\n10000.0\n1000000.0\n"
    );
}

/// The scale runs are too heavy for CI at their real sizes (BENCHMARKS.md, "Scale");
/// at small ones every mode still runs, multi-process modes included, and prints its line.
#[test]
fn scale_runs_every_mode_at_a_small_size() {
    for (mode, settings) in [
        ("tasks", &[("SCALE_TASKS", "2000")][..]),
        (
            "actors",
            &[("SCALE_ACTORS", "50"), ("SCALE_ACTOR_WAVE", "20")],
        ),
        ("nodes", &[("SCALE_NODES", "3"), ("SCALE_NODE_TASKS", "60")]),
        (
            "broadcast",
            &[("SCALE_BCAST_NODES", "2"), ("SCALE_BCAST_MIB", "1")],
        ),
    ] {
        let out = Command::new(common::example("scale"))
            .env("SCALE_RUN", mode)
            .envs(settings.iter().copied())
            .output()
            .expect("run scale");
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("scale {mode}: ")) && stdout.contains("peak"),
            "{mode}: {stdout}"
        );
    }
}

#[test]
fn the_tokio_example_runs_under_tokio_main() {
    let out = Command::new(common::example("tokio"))
        .output()
        .expect("run the tokio example");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("squares: [0, 1, 4, 9]"), "{stdout}");
    assert!(stdout.contains("total: 14"), "{stdout}");
    for i in 0..3 {
        assert!(stdout.contains(&format!("record {i}")), "{stdout}");
    }
}

#[test]
fn monte_carlo_pi_reports_progress_and_a_close_estimate() {
    let out = Command::new(common::example("monte_carlo_pi"))
        .env("MC_SAMPLES", "200000")
        .output()
        .expect("run monte_carlo_pi");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == "Progress: 100%"), "{stdout}");
    let estimate: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Estimated value of π is: "))
        .and_then(|v| v.parse().ok())
        .expect("estimate line");
    assert!((estimate - std::f64::consts::PI).abs() < 0.01, "{estimate}");
}

#[test]
fn the_work_queue_is_drained_by_every_worker_of_the_pool() {
    let out = Command::new(common::example("work_queue"))
        .output()
        .expect("run work_queue");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("400 items, "), "{stdout}");
    let workers = stdout.lines().filter(|l| l.starts_with("worker ")).count();
    assert_eq!(workers, 4, "{stdout}");
}

fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn actix_web_handlers_await_tasks_and_actor_calls() {
    let mut child = Command::new(common::example("actix_web"))
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start actix_web example");
    let stdout = child.stdout.take().expect("stdout");
    let _guard = common::KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read address");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("address line")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "server never accepted connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(http(&addr, "GET", "/square/12"), (200, "144".to_string()));
    assert_eq!(http(&addr, "GET", "/square/-3"), (200, "9".to_string()));
    let counts: Vec<String> = (0..5).map(|_| http(&addr, "POST", "/hits").1).collect();
    assert_eq!(counts, vec!["1", "2", "3", "4", "5"]);
    assert_eq!(http(&addr, "GET", "/square/notanumber").0, 404);
}
