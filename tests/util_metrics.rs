//! `ray::util::metrics`: user counters, gauges and histograms with tags, on `/metrics`
//! next to the runtime's own, under Ray's names (`ray_<name>`, a counter `_total`).
//! Across processes: tests/jobs_hosts.rs (job workers' counters on the head's page).

mod common;

use ray::util::metrics::{Counter, Gauge, Histogram};

#[ray::remote]
fn served(route: String) -> u8 {
    let c = Counter::new("served", "Requests served.", &["route"]).unwrap();
    c.inc(1.0, &[("route", &route)]).unwrap();
    0
}

fn scrape() -> (String, prometheus_parse::Scrape) {
    let url = ray::runtime_context()
        .dashboard_url()
        .expect("a dashboard")
        .to_string();
    let (status, text) = common::http_get(&url, "/metrics");
    assert_eq!(status, 200, "{text}");
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition text");
    (text, parsed)
}

fn value(
    scrape: &prometheus_parse::Scrape,
    text: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> prometheus_parse::Value {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
        .value
        .clone()
}

#[test]
fn user_metrics_appear_on_metrics_with_their_tags_and_node() {
    let _ray = common::init(2.0);
    let node = ray::runtime_context().node_id().to_string();
    ray::get(
        &(0..3)
            .map(|_| served.remote("/a".to_string()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    ray::get(&served.remote("/b".to_string())).unwrap();
    let mut depth = Gauge::new("depth", "Items waiting.", &["queue"]).unwrap();
    depth.set_default_tags(&[("queue", "main")]).unwrap();
    depth.set(5.0, &[]).unwrap();
    depth.set(2.0, &[]).unwrap();
    let latency = Histogram::new("latency_ms", "Latency.", &[1.0, 10.0], &[]).unwrap();
    for v in [0.5, 3.0, 7.0, 50.0] {
        latency.observe(v, &[]).unwrap();
    }

    let (text, s) = scrape();
    use prometheus_parse::Value::{Counter as C, Gauge as G, Histogram as H};
    let a = value(
        &s,
        &text,
        "ray_served_total",
        &[("route", "/a"), ("NodeId", &node)],
    );
    assert!(matches!(a, C(v) if v == 3.0), "{a:?}");
    let b = value(&s, &text, "ray_served_total", &[("route", "/b")]);
    assert!(matches!(b, C(v) if v == 1.0), "{b:?}");
    let d = value(&s, &text, "ray_depth", &[("queue", "main")]);
    assert!(matches!(d, G(v) if v == 2.0), "{d:?}");
    let H(buckets) = value(&s, &text, "ray_latency_ms", &[]) else {
        panic!("not a histogram:\n{text}");
    };
    let counts: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    assert_eq!(counts, [(1.0, 1.0), (10.0, 3.0), (f64::INFINITY, 4.0)]);
    assert!(text.contains("ray_latency_ms_sum{NodeId="), "{text}");
    // The runtime's own figures are still there.
    assert!(s.docs.contains_key("ray_tasks"));
}

#[test]
fn bad_metrics_and_recordings_are_errors() {
    let _ray = common::init(1.0);
    assert!(Counter::new("9lives", "", &[]).is_err());
    assert!(Counter::new("has space", "", &[]).is_err());
    assert!(Counter::new("ok", "", &["NodeId"]).is_err());
    let c = Counter::new("hits", "Hits.", &["kind"]).unwrap();
    assert!(c.inc(0.0, &[("kind", "x")]).is_err());
    assert!(c.inc(f64::NAN, &[("kind", "x")]).is_err());
    assert!(c.inc(1.0, &[]).is_err(), "a missing tag");
    assert!(
        c.inc(1.0, &[("kind", "x"), ("other", "y")]).is_err(),
        "an unknown tag"
    );
    assert!(
        Gauge::new("hits", "", &["kind"]).is_err(),
        "a name taken by a counter"
    );
    assert!(Histogram::new("h", "", &[], &[]).is_err());
    assert!(Histogram::new("h", "", &[0.0, 1.0], &[]).is_err());
    assert!(Histogram::new("h", "", &[2.0, 2.0], &[]).is_err());
    // The same registration again is the same metric.
    let again = Counter::new("hits", "Hits.", &["kind"]).unwrap();
    c.inc(2.0, &[("kind", "x")]).unwrap();
    again.inc(1.0, &[("kind", "x")]).unwrap();
    let (text, s) = scrape();
    let v = value(&s, &text, "ray_hits_total", &[("kind", "x")]);
    assert!(
        matches!(v, prometheus_parse::Value::Counter(n) if n == 3.0),
        "{v:?}"
    );
}
