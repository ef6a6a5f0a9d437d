//! Borrowed parameters: `values: &[f64]`, `v: &Vec<f64>`, `s: &str`, `x: &T` read the
//! stored object in place (no copy in the process) in remote functions and actor
//! methods, sync and async; callers pass a ref or a value as for owned parameters; on
//! another node the decoded value is lent. An owned parameter that copies a large stored
//! object logs one warning per function naming the borrowed form.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use ray::cluster_utils::{Cluster, NodeConfig};
use ray::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
struct Matrix {
    rows: usize,
    data: Vec<f64>,
}

/// Returns `Pending` once: an `await` that really suspends the task, so that a borrow
/// held across it lives in the future.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[ray::remote]
fn slice_addr(values: &[f64]) -> usize {
    values.as_ptr() as usize
}

#[ray::remote]
#[allow(clippy::ptr_arg)]
fn vec_addr(values: &Vec<f64>) -> usize {
    values.as_ptr() as usize
}

#[ray::remote]
fn str_addr(s: &str) -> usize {
    s.as_ptr() as usize
}

/// The struct's address and its buffer's.
#[ray::remote]
fn matrix_addr(m: &Matrix) -> (usize, usize) {
    (m as *const Matrix as usize, m.data.as_ptr() as usize)
}

#[ray::remote]
async fn slice_addr_async(values: &[f64]) -> usize {
    YieldOnce(false).await;
    values.as_ptr() as usize
}

#[ray::remote]
async fn matrix_addr_async(m: &Matrix) -> usize {
    YieldOnce(false).await;
    m as *const Matrix as usize
}

#[ray::remote]
fn total(values: &[f64]) -> f64 {
    values.iter().sum()
}

#[ray::remote]
async fn total_async(values: &[f64]) -> f64 {
    YieldOnce(false).await;
    values.iter().sum()
}

/// Owned and borrowed parameters mixed, several borrowed ones.
#[ray::remote]
fn describe(scale: f64, values: &[f64], name: &str, m: &Matrix, tag: String) -> String {
    let sum: f64 = values.iter().sum();
    format!("{name}/{tag}: {} rows={}", sum * scale, m.rows)
}

/// Where it ran, and the sum: for the tasks placed on another node.
#[ray::remote]
fn total_where(values: &[f64], label: &str) -> (ray::NodeId, f64, String) {
    (
        ray::runtime_context().node_id(),
        values.iter().sum(),
        label.to_uppercase(),
    )
}

#[ray::remote]
async fn total_where_async(values: &[f64]) -> (ray::NodeId, f64) {
    YieldOnce(false).await;
    (ray::runtime_context().node_id(), values.iter().sum())
}

#[ray::remote(streaming)]
fn doubled(values: &[f64]) -> impl Iterator<Item = f64> {
    values.iter().map(|v| v * 2.0)
}

/// An async generator over a borrowed slice: the stream borrows it across `await`s.
#[ray::remote(streaming)]
async fn tripled(values: &[f64]) -> impl futures::Stream<Item = f64> {
    YieldOnce(false).await;
    futures::stream::iter(values.iter().map(|v| v * 3.0))
}

#[ray::remote(num_returns = 2)]
fn split_sum(values: &[f64], at: usize) -> (f64, f64) {
    let (a, b) = values.split_at(at);
    (a.iter().sum(), b.iter().sum())
}

static FLAKY: AtomicUsize = AtomicUsize::new(0);

/// Fails its first attempt: a retry sees the same object again.
#[ray::remote]
fn flaky_addr(values: &[f64]) -> Result<usize, String> {
    if FLAKY.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err("first attempt".into());
    }
    Ok(values.as_ptr() as usize)
}

/// Owned parameters: each call copies a stored object.
#[ray::remote]
fn total_owned(values: Vec<f64>) -> f64 {
    values.iter().sum()
}

#[ray::remote]
fn length_owned(text: String) -> usize {
    text.len()
}

#[ray::remote]
fn rows_owned(m: Matrix) -> usize {
    m.rows
}

#[ray::remote]
fn shared_total(values: Arc<Vec<f64>>) -> f64 {
    values.iter().sum()
}

/// An actor whose constructor and methods borrow.
struct Reader {
    label: String,
    calls: usize,
}

#[ray::remote]
impl Reader {
    fn new(label: &str) -> Self {
        Reader {
            label: label.to_string(),
            calls: 0,
        }
    }

    fn addr(&self, values: &[f64]) -> usize {
        values.as_ptr() as usize
    }

    fn matrix_addr(&mut self, m: &Matrix) -> usize {
        self.calls += 1;
        m as *const Matrix as usize
    }

    fn describe(&self, values: &[f64], suffix: &str, scale: f64) -> String {
        let sum: f64 = values.iter().sum();
        format!("{}{suffix}={}", self.label, sum * scale)
    }

    fn total_owned(&self, values: Vec<f64>) -> f64 {
        values.iter().sum()
    }

    fn node_and_total(&self, values: &[f64]) -> (ray::NodeId, f64) {
        (ray::runtime_context().node_id(), values.iter().sum())
    }

    #[ray::method(streaming)]
    fn halves(&self, values: &[f64]) -> impl Iterator<Item = f64> {
        values.iter().map(|v| v / 2.0)
    }
}

/// An async actor whose methods borrow across an `await`.
struct AsyncReader {
    seen: usize,
}

#[ray::remote]
impl AsyncReader {
    fn new() -> Self {
        AsyncReader { seen: 0 }
    }

    async fn addr(&self, values: &[f64]) -> usize {
        YieldOnce(false).await;
        values.as_ptr() as usize
    }

    async fn str_addr_mut(&mut self, s: &str) -> usize {
        YieldOnce(false).await;
        self.seen += s.len();
        s.as_ptr() as usize
    }

    async fn total(&self, values: &[f64]) -> f64 {
        YieldOnce(false).await;
        values.iter().sum()
    }

    #[ray::method(streaming)]
    async fn words(&self, text: &str) -> impl futures::Stream<Item = String> {
        YieldOnce(false).await;
        futures::stream::iter(text.split(' ').map(str::to_string))
    }
}

/// A vector above the store's inline size (100 KiB): 1 MiB.
fn big() -> Vec<f64> {
    (0..(1 << 17)).map(f64::from).collect()
}

fn big_sum() -> f64 {
    big().iter().sum()
}

/// The log lines of this process, captured (installed before any runtime starts).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing_subscriber::fmt()
            .with_writer(move || Capture(logs))
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .try_init();
        logs
    })
}

struct Capture(&'static Mutex<Vec<u8>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn start(config: ray::Config) -> common::Ray {
    logs();
    common::init_with(config)
}

#[test]
fn a_borrowed_parameter_reads_the_stored_object_in_place() {
    let _ray = start(ray::Config::new().num_cpus(2.0));
    let r = ray::put(big());
    let stored = r.get_arc().unwrap().as_ptr() as usize;
    assert_eq!(ray::get(&slice_addr.remote(&r)).unwrap(), stored, "&[f64]");
    assert_eq!(ray::get(&vec_addr.remote(&r)).unwrap(), stored, "&Vec<f64>");
    assert_eq!(ray::get(&slice_addr.remote(r.clone())).unwrap(), stored);
    assert_eq!(ray::get(&slice_addr_async.remote(&r)).unwrap(), stored);
    assert_eq!(ray::get(&total.remote(&r)).unwrap(), big_sum());
    assert_eq!(ray::get(&total_async.remote(&r)).unwrap(), big_sum());

    let text = ray::put("x".repeat(200 << 10));
    let at = text.get_arc().unwrap().as_ptr() as usize;
    assert_eq!(ray::get(&str_addr.remote(&text)).unwrap(), at, "&str");

    let m = ray::put(Matrix {
        rows: 2,
        data: big(),
    });
    let arc = m.get_arc().unwrap();
    let (whole, data) = (Arc::as_ptr(&arc) as usize, arc.data.as_ptr() as usize);
    assert_eq!(ray::get(&matrix_addr.remote(&m)).unwrap(), (whole, data));
    assert_eq!(ray::get(&matrix_addr_async.remote(&m)).unwrap(), whole);

    // Each of several returns, a stream's items, and a retry see the one object too.
    let (a, b) = split_sum.remote(&r, 2);
    assert_eq!(ray::get(&a).unwrap(), 1.0);
    assert_eq!(ray::get(&b).unwrap(), big_sum() - 1.0);
    let few = ray::put(vec![0.0, 1.0, 2.0]);
    let items: Vec<f64> = doubled
        .remote(&few)
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(items, vec![0.0, 2.0, 4.0]);
    let items: Vec<f64> = tripled
        .remote(&few)
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(items, vec![0.0, 3.0, 6.0]);
    let retried = flaky_addr
        .options()
        .retry_exceptions(true)
        .max_retries(1)
        .remote(&r);
    assert_eq!(ray::get(&retried).unwrap(), stored);
    assert_eq!(FLAKY.load(Ordering::SeqCst), 2);
}

#[test]
fn actor_methods_borrow_the_stored_object_too() {
    let _ray = start(ray::Config::new().num_cpus(2.0));
    let r = ray::put(big());
    let stored = r.get_arc().unwrap().as_ptr() as usize;
    let m = ray::put(Matrix {
        rows: 3,
        data: vec![1.0],
    });
    let whole = Arc::as_ptr(&m.get_arc().unwrap()) as usize;
    let label = ray::put("reader".to_string());

    let reader = Reader::remote(&label);
    assert_eq!(ray::get(&reader.addr.remote(&r)).unwrap(), stored);
    assert_eq!(ray::get(&reader.matrix_addr.remote(&m)).unwrap(), whole);
    assert_eq!(
        ray::get(&reader.describe.remote(vec![1.0, 2.0], "!".to_string(), 2.0)).unwrap(),
        "reader!=6"
    );
    let halves: Vec<f64> = reader
        .halves
        .remote(ray::put(vec![0.0, 1.0]))
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(halves, vec![0.0, 0.5]);
    // A value for the constructor's borrowed parameter.
    let other = Reader::remote("other".to_string());
    assert_eq!(
        ray::get(&other.describe.remote(&r, String::new(), 1.0)).unwrap(),
        format!("other={}", big_sum())
    );

    let reader = AsyncReader::remote();
    assert_eq!(ray::get(&reader.addr.remote(&r)).unwrap(), stored);
    assert_eq!(ray::get(&reader.total.remote(&r)).unwrap(), big_sum());
    let text = ray::put("y".repeat(1000));
    let at = text.get_arc().unwrap().as_ptr() as usize;
    assert_eq!(ray::get(&reader.str_addr_mut.remote(&text)).unwrap(), at);
    let words: Vec<String> = reader
        .words
        .remote("a borrowed str".to_string())
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(words, ["a", "borrowed", "str"]);
}

#[test]
fn borrowed_parameters_take_values_and_mix_with_owned_ones() {
    let _ray = start(ray::Config::new().num_cpus(2.0));
    // Values, not refs.
    assert_eq!(ray::get(&total.remote(vec![1.0, 2.0, 3.0])).unwrap(), 6.0);
    assert_eq!(ray::get(&total_async.remote(vec![4.0])).unwrap(), 4.0);
    let m = Matrix {
        rows: 7,
        data: vec![],
    };
    assert_eq!(
        ray::get(&describe.remote(
            2.0,
            vec![1.0, 2.0],
            "n".to_string(),
            m.clone(),
            "t".to_string()
        ))
        .unwrap(),
        "n/t: 6 rows=7"
    );
    // Refs and values mixed, owned parameters from refs too.
    let values = ray::put(vec![0.5f64; 4]);
    let name = ray::put("ref".to_string());
    let tag = ray::put("tag".to_string());
    let matrix = ray::put(m);
    assert_eq!(
        ray::get(&describe.remote(3.0, &values, &name, &matrix, &tag)).unwrap(),
        "ref/tag: 6 rows=7"
    );
    // The function still runs locally with plain borrows.
    assert_eq!(total::call(&[1.0, 1.0]), 2.0);
    assert_eq!(
        describe::call(
            1.0,
            &[2.0],
            "l",
            &Matrix {
                rows: 1,
                data: vec![]
            },
            "x".into()
        ),
        "l/x: 2 rows=1"
    );
    // Task results feed borrowed parameters: the dependency is waited for.
    let (a, _) = split_sum.remote(vec![1.0, 2.0, 3.0], 1);
    let summed = total.remote(ray::put(vec![ray::get(&a).unwrap(); 3]));
    assert_eq!(ray::get(&summed).unwrap(), 3.0);
}

#[test]
fn a_borrowed_parameter_on_another_node_gets_the_right_value() {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(1.0)).unwrap();
    let b = cluster
        .add_node(NodeConfig::new().num_cpus(2.0).resource("b", 1.0))
        .unwrap();
    cluster.wait_for_nodes().unwrap();
    let _ray = common::init_with(ray::Config::new().address(cluster.address()));
    let here = ray::runtime_context().node_id();
    assert_ne!(here, b.node_id());

    let r = ray::put(big());
    let label = ray::put("far".to_string());
    let (node, sum, upper) =
        ray::get(&total_where.options().resource("b", 1.0).remote(&r, &label)).unwrap();
    assert_eq!((node, sum, upper.as_str()), (b.node_id(), big_sum(), "FAR"));
    // A value, not a ref; an async body.
    let (node, sum, _) = ray::get(
        &total_where
            .options()
            .resource("b", 1.0)
            .remote(vec![1.0, 2.0], "v".to_string()),
    )
    .unwrap();
    assert_eq!((node, sum), (b.node_id(), 3.0));
    let (node, sum) = ray::get(&total_where_async.options().resource("b", 1.0).remote(&r)).unwrap();
    assert_eq!((node, sum), (b.node_id(), big_sum()));
    // A generator placed there.
    let few = ray::put(vec![1.0, 2.0]);
    let items: Vec<f64> = tripled
        .options()
        .resource("b", 1.0)
        .remote(&few)
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(items, vec![3.0, 6.0]);

    // An actor on the other node, its constructor and methods borrowing.
    let reader = Reader::options().resource("b", 1.0).remote(&label);
    let (node, sum) = ray::get(&reader.node_and_total.remote(&r)).unwrap();
    assert_eq!((node, sum), (b.node_id(), big_sum()));
    assert_eq!(
        ray::get(&reader.describe.remote(&r, "?".to_string(), 0.5)).unwrap(),
        format!("far?={}", big_sum() / 2.0)
    );
    let halves: Vec<f64> = reader
        .halves
        .remote(vec![4.0, 6.0])
        .map(|item| ray::get(&item).unwrap())
        .collect();
    assert_eq!(halves, vec![2.0, 3.0]);
}

#[test]
fn an_owned_large_copy_warns_once_per_function_and_a_borrow_never() {
    let _ray = start(
        ray::Config::new()
            .num_cpus(2.0)
            .large_copy_warning_bytes(512 << 10),
    );
    let r = ray::put(big()); // 1 MiB
    let small = ray::put(vec![1.0f64; 1000]); // 8 KB: under the threshold
    let shared = ray::put(Arc::new(big()));
    for _ in 0..3 {
        assert_eq!(ray::get(&total_owned.remote(&r)).unwrap(), big_sum());
        assert_eq!(ray::get(&total.remote(&r)).unwrap(), big_sum());
        assert_eq!(ray::get(&shared_total.remote(&r)).unwrap(), big_sum());
        // An `Arc` stored as such: its copy is a pointer copy.
        assert_eq!(ray::get(&shared_total.remote(&shared)).unwrap(), big_sum());
        assert_eq!(ray::get(&total_owned.remote(&small)).unwrap(), 1000.0);
    }
    let logs = captured();
    let line = "`total_owned` copied a 1 MiB argument `values: Vec<f64>`; declare it `&[f64]` (or `&Vec<f64>`) to read it in place";
    assert_eq!(logs.matches(line).count(), 1, "{logs}");
    assert_eq!(logs.matches("copied a").count(), 1, "{logs}");

    // Other owned types name their borrowed form; an actor method names its class.
    let text = ray::put("z".repeat(600 << 10));
    assert_eq!(ray::get(&length_owned.remote(&text)).unwrap(), 600 << 10);
    let m = ray::put(Matrix {
        rows: 1,
        data: big(),
    });
    assert_eq!(ray::get(&rows_owned.remote(&m)).unwrap(), 1);
    let reader = Reader::remote("r".to_string());
    assert_eq!(ray::get(&reader.total_owned.remote(&r)).unwrap(), big_sum());
    assert_eq!(ray::get(&reader.total_owned.remote(&r)).unwrap(), big_sum());
    // A value passed directly is the caller's: nothing is copied, nothing said.
    assert_eq!(ray::get(&total_owned.remote(big())).unwrap(), big_sum());
    let logs = captured();
    assert!(
        logs.contains("`length_owned` copied a 600 KiB argument `text: String`; declare it `&str` (or `&String`)"),
        "{logs}"
    );
    assert!(
        logs.contains("`rows_owned` copied a 1.1 MiB argument `m: Matrix`; declare it `&Matrix`"),
        "{logs}"
    );
    assert_eq!(
        logs.matches("`Reader.total_owned` copied a 1 MiB argument `values: Vec<f64>`")
            .count(),
        1,
        "{logs}"
    );
    assert_eq!(logs.matches("copied a").count(), 4, "{logs}");
}

#[test]
fn the_warning_threshold_comes_from_the_environment_and_defaults_to_64_mib() {
    // SAFETY: nextest runs each test in its own process; nothing else reads the
    // environment concurrently at this point.
    unsafe { std::env::set_var("RAY_LARGE_COPY_WARNING_BYTES", "4096") };
    let ray = start(ray::Config::new().num_cpus(1.0));
    let r = ray::put(vec![1.0f64; 1024]); // 8 KiB
    assert_eq!(ray::get(&total_owned.remote(&r)).unwrap(), 1024.0);
    assert!(
        captured().contains("`total_owned` copied a 8 KiB argument"),
        "{}",
        captured()
    );
    drop(ray);
    unsafe { std::env::set_var("RAY_LARGE_COPY_WARNING_BYTES", "lots") };
    let err = ray::init_with(ray::Config::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("RAY_LARGE_COPY_WARNING_BYTES must be bytes"),
        "{err}"
    );
    unsafe { std::env::remove_var("RAY_LARGE_COPY_WARNING_BYTES") };
    // The default: a 1 MiB copy says nothing.
    let _ray = start(ray::Config::new().num_cpus(1.0));
    let r = ray::put(big());
    assert_eq!(
        ray::get(&length_owned.remote(ray::put("q".repeat(1 << 20)))).unwrap(),
        1 << 20
    );
    assert_eq!(ray::get(&total_owned.remote(&r)).unwrap(), big_sum());
    assert_eq!(captured().matches("copied a").count(), 1, "{}", captured());
}
