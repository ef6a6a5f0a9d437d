//! Helpers shared by the integration tests.
//!
//! The runtime is process-global. `cargo nextest run` gives every test its own process;
//! under plain `cargo test` the tests of one binary share a process, so [`init`] returns
//! a guard that serializes them and shuts the runtime down when the test ends (also when
//! it panics).

#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub mod cdp;
#[cfg(feature = "cli")]
pub mod cli;
pub mod netns;

static SERIAL: Mutex<()> = Mutex::new(());

/// A running runtime, owned by one test. Dropping it calls `ray::shutdown()`.
#[must_use = "the runtime shuts down when this guard is dropped"]
pub struct Ray {
    _serial: MutexGuard<'static, ()>,
}

impl Drop for Ray {
    fn drop(&mut self) {
        ray::shutdown();
    }
}

/// Installs the tracing subscriber once (`RUST_LOG` overrides the default `warn`).
pub fn tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Takes the per-process test lock without starting a runtime (for tests of `init`
/// itself). Any runtime left over is shut down first.
pub fn exclusive() -> Ray {
    tracing();
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ray::shutdown();
    Ray { _serial: serial }
}

/// Starts a runtime with `config`.
pub fn init_with(config: ray::Config) -> Ray {
    let guard = exclusive();
    ray::init_with(config).expect("ray::init_with");
    guard
}

/// Joins the cluster at `address` as a driver that notices failures quickly: heartbeats
/// every 100 ms, nodes (and the head) taken as dead after 1 s of silence, as the test
/// clusters' nodes do.
pub fn join(address: &str) -> Ray {
    init_with(
        ray::Config::new()
            .address(address)
            .heartbeat_interval(Duration::from_millis(100))
            .node_timeout(Duration::from_secs(1)),
    )
}

/// Starts a runtime with `cpus` logical CPUs.
pub fn init(cpus: f64) -> Ray {
    init_with(ray::Config::new().num_cpus(cpus))
}

/// The cluster token in a join address (`ray://TOKEN@HOST:PORT#CERT`).
pub fn token_of(address: &str) -> String {
    let rest = address.trim().trim_start_matches("ray://");
    rest.split('@').next().unwrap_or_default().to_string()
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes; returns
/// whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The node's free amount of `resource` (0 when absent).
pub fn available(resource: &str) -> f64 {
    ray::available_resources()
        .unwrap()
        .get(resource)
        .copied()
        .unwrap_or(0.0)
}

/// Whether the free amount of `resource` reaches `amount` within 5 s.
pub fn available_becomes(resource: &str, amount: f64) -> bool {
    wait_until(Duration::from_secs(5), || available(resource) == amount)
}

/// Whether the store's `bytes_used` returns to `bytes` within 5 s.
pub fn bytes_used_becomes(bytes: usize) -> bool {
    wait_until(Duration::from_secs(5), || {
        ray::memory_summary().bytes_used == bytes
    })
}

/// A bound on any single wait in a test: a failure is an error, not a hang.
pub const LONG: Duration = Duration::from_secs(10);

/// A sync task body that must wait for the test to release it: spins (1 ms naps) until
/// `gate` is set, the task is cancelled, or 10 s pass.
pub fn hold(gate: &std::sync::atomic::AtomicBool) {
    let deadline = Instant::now() + LONG;
    while !gate.load(std::sync::atomic::Ordering::SeqCst)
        && !ray::runtime_context().is_canceled()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The built binary of example `name` (`cargo test` / `cargo nextest` build the examples
/// with the tests, into `target/<profile>/examples/`).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example binary {} is missing: run `cargo build --examples` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Kills and reaps a child process when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A cluster of a head with no CPUs and two nodes with one CPU and one `resource` each,
/// all joined.
pub fn two_nodes_with(
    resource: &str,
) -> (
    ray::cluster_utils::Cluster,
    Vec<ray::cluster_utils::NodeHandle>,
) {
    use ray::cluster_utils::{Cluster, NodeConfig};
    tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(0.0)).expect("a head");
    let nodes = (0..2)
        .map(|_| {
            cluster
                .add_node(NodeConfig::new().num_cpus(1.0).resource(resource, 1.0))
                .expect("a node")
        })
        .collect();
    cluster.wait_for_nodes().expect("nodes joined");
    (cluster, nodes)
}

/// The bytes node `id` reports in its object store (from the head's table).
pub fn store_bytes(id: ray::NodeId) -> u64 {
    ray::nodes()
        .expect("nodes")
        .into_iter()
        .find(|n| n.node_id == id)
        .map_or(0, |n| n.object_store_bytes)
}

/// `GET path` from the dashboard at `url`: status code and body.
pub fn http_get(url: &str, path: &str) -> (u16, String) {
    http_get_with(url, path, "")
}

/// `GET path` with extra header lines (each ending in CRLF).
pub fn http_get_with(url: &str, path: &str, headers: &str) -> (u16, String) {
    http_request(url, "GET", path, headers)
}

/// `METHOD path` (no body) with extra header lines: status code and body.
pub fn http_request(url: &str, method: &str, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect to the dashboard");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// A service that answers every request with `Ack`: for bare peers in tests.
struct NoService;

impl ray::transport::Service for NoService {
    fn handle(
        &self,
        _: ray::NodeId,
        _: ray::transport::WireMessage,
        _: Vec<u8>,
    ) -> futures::future::BoxFuture<'static, (ray::transport::WireMessage, ray::transport::Bulk)>
    {
        Box::pin(async { (ray::transport::WireMessage::Ack, Default::default()) })
    }
}

/// Connects to a cluster's head as a bare QUIC peer with id `node_id` (the token and the
/// pinned certificate come from the join address); must run inside an actix `System`.
pub async fn bare_peer(
    join: &ray::transport::JoinAddress,
    node_id: ray::NodeId,
) -> (ray::transport::Peer, ray::transport::Endpoint) {
    let endpoint = ray::transport::Endpoint::bind(
        "127.0.0.1:0".parse().unwrap(),
        node_id,
        join.token.clone(),
        ray::transport::Identity::generate().unwrap(),
        std::sync::Arc::new(NoService),
    )
    .unwrap();
    let peer = endpoint.connect(join).await.unwrap();
    (peer, endpoint)
}

/// How the tests run Chromium: headless, as root, and without the background
/// connections a closed network refuses (each start would otherwise try Google's hosts).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Runs headless Chromium (`command`: `chromium`, or a command that runs it, e.g. on a
/// test host) on `url` with `args`; its stdout.
pub fn chromium(mut command: std::process::Command, url: &str, args: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("ray-chromium-{}", std::process::id()));
    let out = command
        .args(CHROMIUM_FLAGS)
        .arg("--virtual-time-budget=5000")
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

/// A counter actor that the cluster tests call from several nodes: `add` returns the
/// running total, so calls that ran out of order or twice show.
pub struct Tally {
    total: u64,
}

#[ray::remote]
impl Tally {
    pub fn new() -> Self {
        Tally { total: 0 }
    }

    pub fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }

    /// The sum of a buffer's bytes, read in place (a large one comes as a ref).
    pub fn weigh(&self, data: &serde_bytes::ByteBuf) -> u64 {
        data.iter().map(|b| u64::from(*b)).sum()
    }
}

/// An actor made from a buffer, which its constructor reads in place (a large one comes
/// as a ref): it keeps the buffer's sum.
pub struct Keeper {
    sum: u64,
}

#[ray::remote]
impl Keeper {
    pub fn new(seed: &[u8]) -> Self {
        Keeper {
            sum: seed.iter().map(|&b| u64::from(b)).sum(),
        }
    }

    /// Where it runs, and the sum it was made with.
    pub fn sum(&self) -> (ray::NodeId, u64) {
        (ray::runtime_context().node_id(), self.sum)
    }
}

/// A WGSL kernel: `out[i] = a[i] + b[i]` (entry point `add`, 256 threads a group).
#[allow(dead_code)]
pub const ADD_WGSL: &str = "
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i < arrayLength(&out) { out[i] = a[i] + b[i]; }
}";
