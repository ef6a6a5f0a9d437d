//! The chaos run (`examples/chaos.rs`) in bounded time: 10,000 tasks, 1,000 actor calls
//! and 200 large results read last (made again when their node died) over 4 worker-node
//! processes while one is SIGKILLed and replaced every two seconds; every result is
//! checked by the example, which fails on any wrong or missing one.

mod common;

use std::process::Command;

#[test]
fn tasks_and_actor_calls_stay_correct_while_nodes_are_killed() {
    let out = Command::new(common::example("chaos"))
        .env("CHAOS_TASKS", "10000")
        .env("CHAOS_CALLS", "1000")
        .env("CHAOS_WORKERS", "4")
        .env("CHAOS_KILL_MS", "2000")
        .output()
        .expect("run the chaos example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("chaos: tasks 10000,"))
        .unwrap_or_else(|| panic!("no summary line: {stdout}\n{stderr}"));
    assert!(summary.contains("actor calls 1000,"), "{summary}");
    assert!(summary.contains("wrong 0,"), "{summary}");
    assert!(summary.contains("blocks 200,"), "{summary}");
    let kills: u64 = summary
        .split("kills ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no kill count: {summary}"));
    assert!(
        kills >= 2,
        "the run was too short to kill anything: {summary}"
    );
    eprintln!("{summary}");
}
