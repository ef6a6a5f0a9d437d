//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test.sh`) opens the page of a runtime with tasks, a named actor and objects,
//! and the test reads the rendered DOM. A screenshot is saved as
//! `target/test-artifacts/dashboard.png`. On a cluster of three nodes with a task and
//! an actor holding resources, the page's used/total figures are those `ray status`
//! prints and `ray::available_resources().unwrap()` returns, busy and then idle.
#![cfg(feature = "cli")] // needs the `ray` binary (scripts/test.sh builds every feature)

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
    common::chromium(Command::new("chromium"), url, args)
}

#[test]
fn the_dashboard_renders_nodes_actors_tasks_and_the_timeline() {
    let log = std::env::temp_dir().join(format!("ray-browser-{}.log", std::process::id()));
    std::fs::write(&log, "node started\nthe last line of the node's log\n").unwrap();
    // Samples every 100 ms, so the screenshot's plots have lines.
    let _ray = common::init_with(
        ray::Config::new()
            .num_cpus(2.0)
            .log_file(&log)
            .dashboard_history(std::time::Duration::from_millis(100), 600),
    );
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

static RELEASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds one CPU until the test releases it (the nodes share this process).
#[ray::remote]
fn hold_a_cpu() -> u8 {
    common::hold(&RELEASE);
    1
}

/// `used/total` of resource `k` in the page's Resources table.
fn page_cluster_figure(dom: &str, k: &str) -> String {
    let row = dom
        .split(&format!("<td>{k}</td>"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {k} row in the Resources table:\n{dom}"));
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .take(2)
        .map(|c| c.split("</td>").next().unwrap_or(""))
        .collect();
    cells.join("/")
}

/// `used/total` of resource `k` as `ray status` prints it for the whole cluster.
fn status_cluster_figure(status: &str, k: &str) -> String {
    status
        .split("Resources (used/total):")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.trim().ends_with(&format!(" {k}"))))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {k} line in ray status:\n{status}"))
        .to_string()
}

/// The `used/total` figures of `k` per node (`None` where a node lacks it), from
/// `ray status` (rows start with a space and the id) or the page (`<td>` and the id).
fn per_node(text: &str, ids: &[String], k: &str, row_start: &str) -> Vec<Option<String>> {
    ids.iter()
        .map(|id| {
            let row = text
                .split(&format!("{row_start}{id}"))
                .nth(1)
                .unwrap_or_else(|| panic!("node {id} missing:\n{text}"));
            let row = row.split('\n').next().unwrap_or("");
            let row = row.split("</tr>").next().unwrap_or("");
            let at = row.find(&format!(" {k}"))?;
            row[..at].rsplit([' ', '>']).next().map(str::to_string)
        })
        .collect()
}

#[test]
fn the_page_shows_the_same_resource_use_as_ray_status_on_a_cluster() {
    use ray::cluster_utils::{Cluster, NodeConfig};
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).expect("a head");
    for _ in 0..2 {
        cluster
            .add_node(NodeConfig::new().num_cpus(1.0).resource("slot", 2.0))
            .expect("a node");
    }
    cluster.wait_for_nodes().expect("nodes joined");
    let url = cluster.dashboard_url().expect("the head's dashboard");
    let _ray = common::join(&cluster.address());
    let ids: Vec<String> = ray::nodes()
        .unwrap()
        .iter()
        .map(|n| n.node_id.to_string())
        .collect();
    let status = || {
        let out = Command::new(env!("CARGO_BIN_EXE_ray"))
            .args(["status", "--address", &cluster.address()])
            .output()
            .expect("run ray status");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Compares the page, `ray status` and `available_resources()` once the cluster's
    // figures show `cpus` and `slots` used (heartbeats carry them to the head).
    let compare = |cpus: f64, slots: f64| {
        let free = |k: &str| ray::available_resources().unwrap().get(k).copied();
        assert!(
            common::wait_until(common::LONG, || free("CPU") == Some(3.0 - cpus)
                && free("slot") == Some(4.0 - slots)),
            "{:?}",
            ray::available_resources().unwrap()
        );
        // One more heartbeat everywhere, so the head's table has it too.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let dom = chromium(&url, &["--dump-dom"]);
        let printed = status();
        for (k, used, total) in [("CPU", cpus, 3.0), ("slot", slots, 4.0)] {
            let want = format!("{used}/{total}");
            assert_eq!(page_cluster_figure(&dom, k), want, "page, {k}:\n{dom}");
            assert_eq!(status_cluster_figure(&printed, k), want, "{printed}");
            assert_eq!(
                per_node(&dom, &ids, k, "<td>"),
                per_node(&printed, &ids, k, " "),
                "{k} per node: page vs ray status:\n{printed}"
            );
        }
        assert!(
            !dom.contains(">?<"),
            "an unknown figure on the page:\n{dom}"
        );
        // Memory in binary units, as Ray prints it: `0B/37.66GiB memory`.
        let memory = status_cluster_figure(&printed, "memory");
        assert!(
            memory.starts_with("0B/") && memory.ends_with("GiB"),
            "{printed}"
        );
    };

    RELEASE.store(false, std::sync::atomic::Ordering::SeqCst);
    let held = hold_a_cpu.options().resource("slot", 1.0).remote();
    // Where the actor goes is decided from the nodes' last heartbeats: let them
    // show the task first, so the actor goes where there is room now.
    assert!(common::wait_until(common::LONG, || common::available(
        "CPU"
    ) == 2.0));
    let counter = Greeter::options().resource("slot", 1.5).remote();
    assert_eq!(ray::get(&counter.hi.remote()).unwrap(), "hi");
    compare(1.0, 2.5);

    RELEASE.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ray::get(&held).unwrap(), 1);
    ray::kill(&counter);
    compare(0.0, 0.0);
}

/// A figure of the page as a number (`data-points` of a polyline, say): 0 when absent.
fn page_number(page: &mut common::cdp::Browser, expression: &str) -> f64 {
    page.eval(&format!("Number({expression} ?? 0)"))
        .as_f64()
        .unwrap_or(0.0)
}

#[test]
fn the_plots_draw_the_last_minutes_with_a_lane_per_node() {
    use ray::cluster_utils::{Cluster, NodeConfig};
    use std::time::Duration;
    common::tracing();
    // Samples every 100 ms: the plots fill in seconds.
    let every = |c: NodeConfig| c.dashboard_history(Duration::from_millis(100), 600);
    let mut cluster = Cluster::new(every(NodeConfig::new().num_cpus(1.0))).expect("a head");
    cluster
        .add_node(every(NodeConfig::new().num_cpus(1.0)))
        .expect("a node");
    cluster.wait_for_nodes().expect("nodes joined");
    let url = cluster.dashboard_url().expect("the head's dashboard");
    let _ray = common::join(&cluster.address());
    let ids: Vec<String> = ray::nodes()
        .unwrap()
        .iter()
        .map(|n| n.node_id.to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");

    let mut page = common::cdp::Browser::launch();
    page.goto(&url);
    // Work to see: tasks that hold both CPUs for a while (and one that waits), and
    // 8 MiB in a store.
    RELEASE.store(false, std::sync::atomic::Ordering::SeqCst);
    let held: Vec<_> = (0..3).map(|_| hold_a_cpu.remote()).collect();
    let kept = ray::put(vec![7u8; 8 << 20]);
    let plotted = |page: &mut common::cdp::Browser| {
        page_number(
            page,
            "document.querySelector('#plot-tasks text.max')?.textContent",
        ) >= 1.0
            && page
                .eval("document.querySelector('#plot-store text.max')?.textContent ?? ''")
                .as_str()
                .is_some_and(|max| max.contains("MiB"))
    };
    assert!(
        page.wait_for(
            "document.querySelector('#plot-tasks polyline.running') !== null",
            common::LONG
        ),
        "no tasks plot"
    );
    let deadline = std::time::Instant::now() + common::LONG;
    while !plotted(&mut page) {
        assert!(
            std::time::Instant::now() < deadline,
            "the plots never showed the running tasks and the stored bytes:\n{}",
            page.eval("document.getElementById('history').outerHTML")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    RELEASE.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ray::get(&held).unwrap(), vec![1, 1, 1]);
    // Seconds of samples at 100 ms: dozens of points in each line.
    for line in [
        "#plot-tasks polyline.running",
        "#plot-tasks polyline.queued",
        "#plot-store polyline.store",
    ] {
        let points = format!("document.querySelector('{line}')?.dataset.points");
        assert!(
            page.wait_for(&format!("Number({points}) > 20"), common::LONG),
            "{line} has {} points",
            page_number(&mut page, &points)
        );
        // The attribute counts what the polyline draws.
        let drawn = page_number(
            &mut page,
            &format!("document.querySelector('{line}')?.points.numberOfItems"),
        );
        assert!(drawn > 20.0, "{line} draws {drawn} points");
    }
    // One CPU lane and one memory lane per node, each with a line.
    for id in &ids {
        for lanes in ["lanes-cpu", "lanes-mem"] {
            let points = format!(
                "document.querySelector('#{lanes} svg[data-node=\"{id}\"] polyline')?.dataset.points"
            );
            assert!(
                page.wait_for(&format!("Number({points}) > 5"), common::LONG),
                "no {lanes} lane with a line for node {id}:\n{}",
                page.eval(&format!("document.getElementById('{lanes}').outerHTML"))
            );
        }
    }
    let memory = page.eval(&format!(
        "document.querySelector('#lanes-mem svg[data-node=\"{}\"]').nextSibling.textContent",
        ids[0]
    ));
    assert!(
        memory
            .as_str()
            .is_some_and(|m| m.contains("MiB") || m.contains("GiB")),
        "{memory}"
    );
    drop(kept);
}

#[test]
fn a_banner_says_when_the_node_cannot_be_reached() {
    // A port away from 8265 and the ports after it, which the other tests' dashboards
    // take: none of them may answer in this node's place once it is gone.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = || ray::Config::new().num_cpus(1.0).dashboard_port(port);
    let ray = common::init_with(config());
    let url = ray::runtime_context()
        .dashboard_url()
        .expect("a dashboard")
        .to_string();
    assert!(url.ends_with(&format!(":{port}")), "{url}");
    let mut page = common::cdp::Browser::launch();
    page.goto(&url);
    let hidden = "document.getElementById('unreachable').hidden";
    assert!(page.wait_for(
        "document.getElementById('node').textContent.startsWith('node ')",
        common::LONG
    ));
    assert_eq!(page.eval(hidden), true, "the banner shows while reachable");
    drop(ray);
    assert!(
        page.wait_for(&format!("!{hidden}"), common::LONG),
        "no banner once the node is gone"
    );
    let banner = page.eval("document.getElementById('unreachable').textContent");
    let text = banner.as_str().unwrap_or("");
    assert!(
        text.starts_with("Cannot reach the node since ") && text.contains("stale"),
        "{text}"
    );
    // The node again at the same address: the banner goes.
    let _ray = common::init_with(config());
    let again = ray::runtime_context().dashboard_url().unwrap().to_string();
    assert_eq!(again, url, "the port was taken meanwhile");
    assert!(
        page.wait_for(hidden, common::LONG),
        "the banner stays though the node answers"
    );
}

/// Clicks `selector` on the page and waits for the answer of the action it starts:
/// `#action-result`'s class (`ok` or `error`) and text.
fn click_and_read(page: &mut common::cdp::Browser, selector: &str) -> (String, String) {
    let result = "document.getElementById('action-result')";
    page.eval(&format!(
        "{result}.className = ''; {result}.textContent = ''"
    ));
    assert!(
        page.wait_for(
            &format!("document.querySelector('{selector}') !== null"),
            common::LONG
        ),
        "no {selector} on the page"
    );
    page.eval(&format!("document.querySelector('{selector}').click()"));
    assert!(
        page.wait_for(
            &format!("['ok', 'error'].includes({result}.className)"),
            common::LONG
        ),
        "no answer shown for {selector}"
    );
    let read = |page: &mut common::cdp::Browser, what: &str| {
        page.eval(&format!("{result}.{what}"))
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    (read(page, "className"), read(page, "textContent"))
}

/// Types `token` into the page's token field and submits it.
fn use_token(page: &mut common::cdp::Browser, token: &str) {
    assert_eq!(
        page.eval("document.getElementById('token-form').hidden"),
        false
    );
    page.eval(&format!(
        "document.getElementById('action-token').value = {}; \
         document.getElementById('token-form').requestSubmit()",
        serde_json::Value::from(token)
    ));
    assert_eq!(
        page.eval("sessionStorage.getItem('ray-token')"),
        token,
        "the token is kept for the tab"
    );
}

#[test]
fn kill_on_the_page_needs_the_token_and_kills_the_actor() {
    let _ray = common::init(2.0);
    let ctx = ray::runtime_context();
    let url = ctx.dashboard_url().expect("a dashboard").to_string();
    let token = ctx.dashboard_token().expect("a token").to_string();
    let greeter = Greeter::options().name("doomed").remote();
    assert_eq!(ray::get(&greeter.hi.remote()).unwrap(), "hi");
    let mut page = common::cdp::Browser::launch();
    page.goto(&url);
    let kill = format!("button[data-actor=\"{}\"]", greeter.id());
    // No token yet: the endpoint refuses, the page says so and asks for it.
    let (class, text) = click_and_read(&mut page, &kill);
    assert_eq!(class, "error", "{text}");
    assert!(text.contains("401"), "{text}");
    assert_eq!(
        ray::get(&greeter.hi.remote()).unwrap(),
        "hi",
        "killed without a token"
    );
    // A wrong token: refused too, and forgotten.
    use_token(&mut page, "not-the-token");
    let (class, text) = click_and_read(&mut page, &kill);
    assert_eq!(class, "error", "{text}");
    assert!(text.contains("401"), "{text}");
    assert_eq!(
        page.eval("sessionStorage.getItem('ray-token')"),
        serde_json::Value::Null
    );
    assert_eq!(
        ray::get(&greeter.hi.remote()).unwrap(),
        "hi",
        "killed with a wrong token"
    );
    // The token: killed.
    use_token(&mut page, &token);
    let (class, text) = click_and_read(&mut page, &kill);
    assert_eq!(class, "ok", "{text}");
    assert!(text.contains("200"), "{text}");
    assert!(
        common::wait_until(common::LONG, || matches!(
            ray::get(&greeter.hi.remote()),
            Err(ray::Error::ActorDied { .. })
        )),
        "the actor still answers"
    );
    assert!(
        page.wait_for(
            &format!("document.querySelector('{kill}') === null"),
            common::LONG
        ),
        "a dead actor keeps its Kill button"
    );
}

static CANCEL_GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs until cancelled (or 10 s).
#[ray::remote]
fn wait_for_cancel() -> u8 {
    common::hold(&CANCEL_GATE);
    1
}

#[test]
fn cancel_on_the_page_cancels_a_running_task() {
    let _ray = common::init(1.0);
    let ctx = ray::runtime_context();
    let url = ctx.dashboard_url().expect("a dashboard").to_string();
    let token = ctx.dashboard_token().expect("a token").to_string();
    let running = wait_for_cancel.remote();
    let mut page = common::cdp::Browser::launch();
    page.goto(&url);
    let cancel = format!("button[data-task=\"{}\"]", running.id().task_id());
    assert!(
        page.wait_for(
            &format!("document.querySelector('{cancel}') !== null"),
            common::LONG
        ),
        "the running task has no Cancel button:\n{}",
        page.eval("document.getElementById('active').outerHTML")
    );
    use_token(&mut page, &token);
    let (class, text) = click_and_read(&mut page, &cancel);
    assert_eq!(class, "ok", "{text}");
    let err = ray::get(&running).expect_err("the task was not cancelled");
    assert!(err.is_cancelled(), "{err:?}");
}
