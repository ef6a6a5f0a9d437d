//! How much memory a node keeps after a million tasks, with its dashboard on: task
//! history is bounded (the last 10,000 tasks plus per-state counts), so the figure stays
//! flat however many tasks ran. Runs `HEAD_TASKS` (default 1,000,000) tiny tasks in waves
//! of `HEAD_WAVE` (default 100,000) in flight at once, then reads the node's own `/api/tasks` counts through the dashboard and
//! prints tasks/s with the resident memory (now and peak).
//!
//! Run: `cargo run --release --example head_memory`.

use std::io::{Read, Write};
use std::time::Instant;

#[ray::remote]
async fn tick(x: u32) -> u32 {
    x
}

/// A `KEY: N kB` line of /proc/self/status, in MiB.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The dashboard's `/api/tasks` counts.
fn finished_per_dashboard(url: &str) -> anyhow::Result<u64> {
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host)?;
    write!(
        s,
        "GET /api/tasks?limit=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body)?;
    Ok(v["counts"]["finished"].as_u64().unwrap_or(0))
}

fn main() -> anyhow::Result<()> {
    let setting = |name: &str, default: u32| -> u32 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (total, wave_size) = (
        setting("HEAD_TASKS", 1_000_000),
        setting("HEAD_WAVE", 100_000),
    );
    ray::init()?;
    let url = ray::runtime_context()
        .dashboard_url()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no dashboard"))?;
    let before = status_mib("VmRSS:");
    let t0 = Instant::now();
    let mut done = 0u32;
    while done < total {
        let wave = (total - done).min(wave_size.max(1));
        let refs: Vec<_> = (0..wave).map(|x| tick.remote(x)).collect();
        let got = ray::get(&refs)?;
        anyhow::ensure!(got.iter().zip(0..).all(|(v, x)| *v == x), "a wrong result");
        done += wave;
        eprintln!("{done}/{total} tasks");
    }
    let secs = t0.elapsed().as_secs_f64();
    // The counts catch up with the results within moments.
    let mut finished = 0;
    for _ in 0..200 {
        finished = finished_per_dashboard(&url)?;
        if finished >= u64::from(total) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    println!(
        "tasks {total} in waves of {wave_size}, {:.0} tasks/s, dashboard counts {finished} finished, RSS before {before:.1} MiB, after {:.1} MiB, peak {:.1} MiB ({url})",
        f64::from(total) / secs,
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );
    ray::shutdown();
    Ok(())
}
