//! The dashboard every embedded runtime serves: the page, the JSON state API and
//! Prometheus `/metrics` (parsed by a Prometheus text parser), over real HTTP on
//! 127.0.0.1.

mod common;

use ray::Config;

use common::{http_get as get, http_get_with as get_with};

#[ray::remote]
fn square(x: u64) -> u64 {
    x * x
}

#[ray::remote]
fn boom() -> Result<u8, String> {
    Err("on purpose".into())
}

fn url() -> String {
    ray::runtime_context()
        .dashboard_url()
        .expect("the embedded runtime serves a dashboard")
        .to_string()
}

#[test]
fn the_page_and_the_cluster_state_are_served() {
    let _ray = common::init(2.0);
    let url = url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (status, page) = get(&url, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Ray Dashboard</title>"));
    let refs: Vec<_> = (0..20).map(|x| square.remote(x)).collect();
    ray::get(&refs).unwrap();
    let _kept = ray::put(vec![0u8; 1 << 20]);
    assert!(common::wait_until(common::LONG, || {
        let (_, body) = get(&url, "/api/cluster");
        let c: serde_json::Value = serde_json::from_str(&body).unwrap();
        c["tasks"]["finished"].as_u64() >= Some(20)
    }));
    let (status, body) = get(&url, "/api/cluster");
    assert_eq!(status, 200);
    let c: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(c["node_id"], ray::runtime_context().node_id().to_string());
    assert_eq!(c["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(c["nodes"][0]["alive"], true);
    assert_eq!(c["total"]["CPU"], 2.0);
    // A placement group, with where its bundle went.
    let pg = ray::placement_group_with(
        ray::PlacementGroupOptions::new(vec![ray::bundle([("CPU", 1.0)])]).name("pg-a"),
    )
    .unwrap();
    assert!(pg.wait(common::LONG).unwrap());
    let (status, body) = get(&url, "/api/placement_groups");
    assert_eq!(status, 200);
    let groups: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(groups[0]["name"], "pg-a", "{groups}");
    assert_eq!(groups[0]["state"], "CREATED");
    assert_eq!(
        groups[0]["bundle_nodes"][0],
        ray::runtime_context().node_id().to_string()
    );
    assert!(c["object_store"]["bytes_used"].as_u64().unwrap() >= 1 << 20);
}

#[test]
fn tasks_are_listed_and_filtered() {
    let _ray = common::init(2.0);
    let url = url();
    ray::get(&square.remote(3)).unwrap();
    assert!(ray::get(&boom.remote()).is_err());
    let failed = |body: &str| -> Vec<serde_json::Value> {
        let t: serde_json::Value = serde_json::from_str(body).unwrap();
        t["recent"].as_array().unwrap().clone()
    };
    assert!(common::wait_until(common::LONG, || {
        failed(&get(&url, "/api/tasks?state=FAILED").1).len() == 1
    }));
    let only = failed(&get(&url, "/api/tasks?state=FAILED").1);
    assert_eq!(only[0]["name"], "boom");
    assert_eq!(only[0]["state"], "FAILED");
    // Its detail: the error, which try it was, and where it ran.
    assert!(
        only[0]["error"].as_str().unwrap().contains("on purpose"),
        "{:?}",
        only[0]
    );
    assert_eq!(only[0]["attempt"], 0);
    assert_eq!(
        only[0]["node_id"],
        ray::runtime_context().node_id().to_string()
    );
    // The timeline: Chrome trace events, one per task.
    let trace: serde_json::Value = serde_json::from_str(&get(&url, "/api/timeline").1).unwrap();
    let events = trace.as_array().unwrap();
    assert!(events.len() >= 2, "{trace}");
    assert!(
        events
            .iter()
            .all(|e| e["ph"] == "X" && e["dur"].is_number() && e["ts"].is_number())
    );
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "boom" && e["args"]["state"] == "FAILED")
    );
    let squares = failed(&get(&url, "/api/tasks?name=square").1);
    assert!(
        squares
            .iter()
            .all(|t| t["name"] == "square" && t["state"] == "FINISHED")
    );
    assert!(!squares.is_empty());
    assert_eq!(get(&url, "/api/nothing").0, 404);
}

#[test]
fn metrics_parse_as_prometheus_text_under_rays_names() {
    let _ray = common::init(2.0);
    let url = url();
    let refs: Vec<_> = (0..5).map(|x| square.remote(x)).collect();
    ray::get(&refs).unwrap();
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .finished
        >= 5));
    let counter = Counter::remote();
    assert_eq!(ray::get(&counter.incr.remote()).unwrap(), 1);
    let (status, text) = get(&url, "/metrics");
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"));
        match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    assert!(value("ray_tasks", &[("State", "FINISHED")]) >= 5.0);
    assert_eq!(value("ray_actors", &[("State", "ALIVE")]), 1.0);
    assert_eq!(value("ray_actors", &[("State", "DEAD")]), 0.0);
    assert_eq!(
        value("ray_resources", &[("Name", "CPU"), ("State", "USED")])
            + value("ray_resources", &[("Name", "CPU"), ("State", "AVAILABLE")]),
        2.0
    );
    assert!(value("ray_node_mem_used", &[]) > 0.0);
    assert_eq!(value("ray_cluster_active_nodes", &[]), 1.0);
    assert!(scrape.docs.contains_key("ray_object_store_memory"));
}

#[test]
fn the_dashboard_takes_the_next_port_when_its_port_is_busy_and_can_be_off() {
    let _guard = common::exclusive();
    ray::init_with(Config::new().num_cpus(1.0).dashboard(false)).unwrap();
    assert!(ray::runtime_context().dashboard_url().is_none());
    ray::shutdown();
    // A port held here: the dashboard asked to start there takes a later one.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    ray::init_with(Config::new().num_cpus(1.0).dashboard_port(busy)).unwrap();
    let url = url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        port > busy && port < busy.saturating_add(100),
        "{url} (held {busy})"
    );
    assert_eq!(get(&url, "/").0, 200);
    ray::shutdown();
    // Shut down: its port is free again.
    assert!(common::wait_until(common::LONG, || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    }));
}

#[test]
fn bound_beyond_loopback_every_request_needs_the_token() {
    let _ray = common::init_with(Config::new().num_cpus(1.0).dashboard_host("0.0.0.0"));
    let ctx = ray::runtime_context();
    let token = ctx
        .dashboard_token()
        .expect("a token beyond loopback")
        .to_string();
    let port = ctx
        .dashboard_url()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let url = format!("http://127.0.0.1:{port}");
    // The page itself holds no data: it loads, then asks for the token.
    let (code, page) = get(&url, "/");
    assert_eq!(code, 200);
    assert!(page.contains("Sign in") && !page.contains(&token));
    for path in [
        "/api/cluster",
        "/api/tasks",
        "/api/actors",
        "/metrics",
        "/nope",
    ] {
        assert_eq!(get(&url, path).0, 401, "{path} without the token");
        let wrong = get_with(&url, path, "Authorization: Bearer not-the-token\r\n");
        assert_eq!(wrong.0, 401, "{path} with a wrong token");
    }
    let bearer = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(get_with(&url, "/api/cluster", &bearer).0, 200);
    assert_eq!(get_with(&url, "/nope", &bearer).0, 404);
    assert_eq!(get(&url, &format!("/metrics?token={token}")).0, 200);
}

pub struct Counter {
    n: u64,
}

#[ray::remote]
impl Counter {
    pub fn new() -> Self {
        Counter { n: 0 }
    }

    pub fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

#[test]
fn the_heads_dashboard_lists_tasks_and_actors_of_every_node() {
    use ray::{ActorOptionsBuilder, TaskOptionsBuilder};
    let (cluster, nodes) = common::two_nodes_with("r");
    let url = cluster
        .dashboard_url()
        .expect("the head serves the dashboard");
    let _ray = common::join(&cluster.address());
    let refs: Vec<_> = (0..6)
        .map(|x| square.options().resource("r", 1.0).remote(x))
        .collect();
    ray::get(&refs).unwrap();
    let c = Counter::options().name("tally").resource("r", 1.0).remote();
    assert_eq!(ray::get(&c.incr.remote()).unwrap(), 1);
    let workers: Vec<String> = nodes.iter().map(|n| n.node_id().to_string()).collect();
    // Heartbeats and task reports arrive within moments.
    assert!(
        common::wait_until(common::LONG, || {
            let t: serde_json::Value =
                serde_json::from_str(&get(&url, "/api/tasks?name=square").1).unwrap();
            t["recent"].as_array().is_some_and(|r| {
                r.len() == 6
                    && r.iter()
                        .all(|x| workers.contains(&x["node_id"].as_str().unwrap_or("").to_string()))
            })
        }),
        "{}",
        get(&url, "/api/tasks?name=square").1
    );
    let actors: serde_json::Value = serde_json::from_str(&get(&url, "/api/actors").1).unwrap();
    let tally = actors
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["class"] == "Counter")
        .unwrap_or_else(|| panic!("no Counter in {actors}"));
    assert!(
        workers.contains(&tally["node_id"].as_str().unwrap().to_string()),
        "{tally}"
    );
    let c: serde_json::Value = serde_json::from_str(&get(&url, "/api/cluster").1).unwrap();
    assert_eq!(c["nodes"].as_array().unwrap().len(), 3, "{c}");
}

/// `GET path` with `Host: host`: the status line and headers, and the body.
fn get_as_host(url: &str, path: &str, host: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

/// DNS rebinding: a page of `evil.example` whose name the attacker points at 127.0.0.1
/// reaches a loopback dashboard with `Host: evil.example`; it must get nothing. Every
/// answer says its content type, with `nosniff`.
#[test]
fn a_loopback_dashboard_answers_only_to_loopback_names() {
    let _ray = common::init(1.0);
    let url = url();
    let port = url.rsplit(':').next().unwrap();
    for path in ["/", "/api/cluster", "/api/actors", "/metrics", "/nope"] {
        let (head, body) = get_as_host(&url, path, &format!("evil.example:{port}"));
        assert!(head.starts_with("http/1.1 403"), "{path}: {head}");
        assert!(!body.contains("node-"), "{path}: {body}");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        for path in ["/", "/api/cluster", "/nope"] {
            let (head, _) = get_as_host(&url, path, &host);
            assert!(!head.starts_with("http/1.1 403"), "{host}{path}: {head}");
            assert!(
                head.contains("x-content-type-options: nosniff"),
                "{path}: {head}"
            );
            assert!(head.contains("content-type: "), "{path}: {head}");
        }
    }
}

/// A `limit` is how much one answer may copy out of a node's tables under their locks:
/// above 10,000 (Ray's own cap) it is refused, saying the most; at the cap, a store of
/// more objects than that gives exactly the cap.
#[test]
fn a_limit_above_the_most_one_answer_gives_is_refused() {
    let _ray = common::init(1.0);
    let url = url();
    let refs: Vec<_> = (0..10_050u32).map(ray::put).collect();
    for path in [
        "/api/objects?limit=10001",
        "/api/tasks?limit=18446744073709551615",
    ] {
        let (status, body) = get(&url, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("10000"), "{path}: {body}");
    }
    let (status, body) = get(&url, "/api/objects?limit=10000");
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["objects"].as_array().map(Vec::len), Some(10_000));
    drop(refs);
}

#[test]
fn the_history_keeps_the_last_samples_of_each_series_and_no_more() {
    use std::time::Duration;
    // 16 samples, one every 20 ms: full within a third of a second.
    let _ray = common::init_with(
        Config::new()
            .num_cpus(1.0)
            .dashboard_history(Duration::from_millis(20), 16),
    );
    let url = url();
    let kept = ray::put(vec![1u8; 3 << 20]);
    let history = || {
        let (status, body) = get(&url, "/api/history");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let series = [
        "t",
        "tasks_running",
        "tasks_queued",
        "store_bytes",
        "cpu_percent",
        "mem_bytes",
    ];
    let node = ray::runtime_context().node_id().to_string();
    let mut full = false;
    // Read for a second (about 50 intervals): never more than 16 samples.
    let until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < until {
        let h = history();
        assert_eq!(h["node_id"], node.as_str());
        assert_eq!(h["capacity"], 16);
        assert!(
            (h["interval_s"].as_f64().unwrap() - 0.02).abs() < 1e-9,
            "{h}"
        );
        let nodes = h["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{h}");
        let n = &nodes[0];
        assert_eq!(n["node_id"], node.as_str());
        let len = n["t"].as_array().unwrap().len();
        assert!(len <= 16, "{len} samples kept, capacity 16");
        for s in series {
            assert_eq!(n[s].as_array().map(Vec::len), Some(len), "{s}: {n}");
        }
        full |= len == 16;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(full, "the ring never filled");
    let h = history();
    let n = &h["nodes"][0];
    let t: Vec<f64> = n["t"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
    let now = h["now"].as_f64().unwrap();
    assert!(now >= t[15] && now - t[15] < 5.0, "{now} {t:?}");
    assert!(n["store_bytes"][15].as_u64().unwrap() >= 3 << 20, "{n}");
    assert!(n["mem_bytes"][15].as_u64().unwrap() > 1 << 20, "{n}");
    // The cluster's series: this node's, summed per interval.
    let c = &h["cluster"];
    let len = c["t"].as_array().unwrap().len();
    assert!((1..=17).contains(&len), "{c}");
    for s in ["tasks_running", "tasks_queued", "store_bytes"] {
        assert_eq!(c[s].as_array().map(Vec::len), Some(len), "{s}: {c}");
    }
    assert!(
        c["store_bytes"][len - 1].as_u64().unwrap() >= 3 << 20,
        "{c}"
    );
    drop(kept);
}

static GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[ray::remote]
fn held_task() -> u8 {
    common::hold(&GATE);
    1
}

#[test]
fn the_history_and_the_task_list_count_running_and_waiting_tasks() {
    use std::time::Duration;
    let _ray = common::init_with(
        Config::new()
            .num_cpus(1.0)
            .dashboard_history(Duration::from_millis(20), 600),
    );
    let url = url();
    let refs: Vec<_> = (0..3).map(|_| held_task.remote()).collect();
    // One runs, two wait for the CPU.
    let seen = common::wait_until(common::LONG, || {
        let (_, body) = get(&url, "/api/history");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        let last = |s: &str| {
            h["cluster"][s]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|v| v.as_u64())
        };
        last("tasks_running") == Some(1) && last("tasks_queued") == Some(2)
    });
    // The task list says which: the running one first.
    let (_, body) = get(&url, "/api/tasks");
    GATE.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(seen, "never 1 running and 2 queued");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    let states: Vec<&str> = t["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "RUNNING",
            "PENDING_NODE_ASSIGNMENT",
            "PENDING_NODE_ASSIGNMENT"
        ],
        "{t}"
    );
    assert!(
        t["active"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("held_task"),
        "{t}"
    );
    assert_eq!(ray::get(&refs).unwrap(), vec![1, 1, 1]);
    let (_, body) = get(&url, "/api/tasks");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["active"], serde_json::json!([]), "{t}");
}
