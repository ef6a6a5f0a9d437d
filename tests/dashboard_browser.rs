//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test.sh`) opens the page of a runtime with tasks, a named actor and objects,
//! and the test reads the rendered DOM. A screenshot is saved as
//! `target/test-artifacts/dashboard.png`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use ray::prelude::*;

#[ray::remote]
fn square(x: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(2));
    x * x
}

#[ray::remote]
fn boom() -> Result<u8, String> {
    Err("on purpose".into())
}

pub struct Greeter;

#[ray::remote]
impl Greeter {
    pub fn new() -> Self {
        Greeter
    }

    pub fn hi(&self) -> String {
        "hi".into()
    }
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn chromium(url: &str, args: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("ray-chromium-{}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run chromium ({e}): install it with `apt-get install -y chromium` \
                 (scripts/test.sh does)"
            )
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_dashboard_renders_nodes_actors_tasks_and_the_timeline() {
    let log = std::env::temp_dir().join(format!("ray-browser-{}.log", std::process::id()));
    std::fs::write(&log, "node started\nthe last line of the node's log\n").unwrap();
    let _ray = common::init_with(ray::Config::new().num_cpus(2.0).log_file(&log));
    let url = ray::runtime_context()
        .dashboard_url()
        .expect("a dashboard")
        .to_string();
    let refs: Vec<_> = (0..30).map(|x| square.remote(x)).collect();
    ray::get(&refs).unwrap();
    assert!(ray::get(&boom.remote()).is_err());
    let greeter = Greeter::options().name("greeter").remote();
    assert_eq!(ray::get(&greeter.hi.remote()).unwrap(), "hi");
    let kept = ray::put(vec![7u8; 2 << 20]);
    let pg = ray::placement_group_with(
        ray::PlacementGroupOptions::new(vec![ray::bundle([("CPU", 0.5)])]).name("my-group"),
    )
    .unwrap();
    assert!(pg.wait(common::LONG).unwrap());
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .finished
        >= 30));

    let dom = chromium(&url, &["--dump-dom"]);
    let node = ray::runtime_context().node_id().to_string();
    assert!(dom.contains(&node), "the node is not shown:\n{dom}");
    assert!(dom.contains(">ALIVE<"), "no alive node:\n{dom}");
    assert!(
        dom.contains(">greeter<"),
        "the named actor is not shown:\n{dom}"
    );
    assert!(
        dom.contains(">Greeter<"),
        "the actor's class is not shown:\n{dom}"
    );
    // The overview card with the finished-task count.
    let card = dom
        .split("data-metric=\"Tasks finished\"")
        .nth(1)
        .and_then(|s| s.split("<b>").nth(1))
        .and_then(|s| s.split("</b>").next())
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no finished-task count:\n{dom}"));
    assert!(card >= 30, "{card}");
    assert!(
        dom.contains(">boom<") && dom.contains(">FAILED<"),
        "the failed task is missing"
    );
    assert!(
        dom.contains("on purpose"),
        "the failed task's error is missing"
    );
    assert!(
        dom.contains(">my-group<") && dom.contains(">CREATED<"),
        "the placement group is missing"
    );
    assert!(
        dom.contains(&format!(">{}<", kept.id())) && dom.contains(">READY<"),
        "the object is missing:\n{dom}"
    );
    assert!(
        dom.contains("the last line of the node's log"),
        "the node's log is missing:\n{dom}"
    );
    let bars = dom.matches("<rect").count();
    assert!(bars >= 10, "the timeline drew {bars} tasks");

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1700",
            "--hide-scrollbars",
        ],
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot of {size} bytes");
    let _ = std::fs::remove_file(&log);
}
