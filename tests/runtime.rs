//! The runtime: init/shutdown, auto-init, configuration and its validation, the runtime
//! context, cluster introspection and the timeline.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use ray::{Config, Error};

#[ray::remote]
fn double(x: u64) -> u64 {
    x * 2
}

static SHUTDOWN_GATE: AtomicBool = AtomicBool::new(false);

#[ray::remote]
fn gated() -> u8 {
    common::hold(&SHUTDOWN_GATE);
    0
}

#[test]
fn init_shutdown_and_init_again() {
    let _guard = common::exclusive();
    assert!(!ray::is_initialized());
    ray::init_with(Config::new().num_cpus(2.0)).unwrap();
    assert!(ray::is_initialized());
    assert_eq!(ray::get(&double.remote(21)).unwrap(), 42);
    let first_node = ray::nodes().unwrap()[0].node_id;
    let pending = gated.remote();
    assert!(common::wait_until(common::LONG, || ray::task_summary()
        .running
        == 1));

    ray::shutdown();
    assert!(!ray::is_initialized());
    // Nothing waits forever on a runtime that is gone.
    assert_eq!(
        ray::get_timeout(&pending, common::LONG).unwrap_err(),
        Error::ShutDown
    );
    SHUTDOWN_GATE.store(true, Ordering::SeqCst);
    ray::shutdown(); // a no-op

    ray::init_with(Config::new().num_cpus(3.0)).unwrap();
    assert!(ray::is_initialized());
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], 3.0);
    assert_ne!(ray::nodes().unwrap()[0].node_id, first_node);
    assert_eq!(ray::get(&double.remote(5)).unwrap(), 10);
    let c = ray::put(vec![1u8; 10]);
    assert_eq!(ray::get(&c).unwrap().len(), 10);
    ray::shutdown();

    // `init()` works after a shutdown too, and a second `init()` is a no-op.
    ray::init().unwrap();
    ray::init().unwrap();
    assert_eq!(ray::get(&double.remote(1)).unwrap(), 2);
}

#[test]
fn init_with_twice_is_an_error() {
    let _ray = common::init(2.0);
    let err = ray::init_with(Config::new().num_cpus(4.0)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("shutdown"), "{err}");
    // The running runtime is untouched.
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], 2.0);
    assert_eq!(ray::get(&double.remote(2)).unwrap(), 4);
}

#[test]
fn the_first_use_starts_the_runtime() {
    let _guard = common::exclusive();
    assert!(!ray::is_initialized());
    let r = double.remote(8);
    assert!(ray::is_initialized());
    assert_eq!(ray::get(&r).unwrap(), 16);
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], cpus);
    ray::shutdown();
    // `put` and `runtime_context` start it as well.
    let p = ray::put(3u8);
    assert!(ray::is_initialized());
    assert_eq!(ray::get(&p).unwrap(), 3);
    ray::shutdown();
    let _ = ray::runtime_context();
    assert!(ray::is_initialized());
}

pub struct Probe;

#[ray::remote]
impl Probe {
    pub fn new() -> Self {
        Probe
    }
    pub fn ids(&self) -> (Option<ray::ActorId>, Option<ray::TaskId>, ray::NodeId) {
        let ctx = ray::runtime_context();
        (ctx.actor_id(), ctx.task_id(), ctx.node_id())
    }
    pub async fn ids_async(&self) -> (Option<ray::ActorId>, Option<ray::TaskId>) {
        let ctx = ray::runtime_context();
        (ctx.actor_id(), ctx.task_id())
    }
}

#[ray::remote]
fn task_ids() -> (
    Option<ray::TaskId>,
    Option<ray::ActorId>,
    ray::JobId,
    ray::NodeId,
) {
    let ctx = ray::runtime_context();
    (ctx.task_id(), ctx.actor_id(), ctx.job_id(), ctx.node_id())
}

#[ray::remote]
async fn task_ids_async() -> Option<ray::TaskId> {
    ray::runtime_context().task_id()
}

#[test]
fn runtime_context_reports_task_and_actor_ids() {
    let _ray = common::init_with(Config::new().num_cpus(2.0).namespace("tests"));
    let driver = ray::runtime_context();
    assert_eq!(driver.task_id(), None);
    assert_eq!(driver.actor_id(), None);
    assert!(!driver.is_canceled());
    assert!(!driver.was_current_actor_reconstructed());
    assert_eq!(driver.namespace(), "tests");
    let node = ray::nodes().unwrap()[0].node_id;
    assert_eq!(driver.node_id(), node);

    let r = task_ids.remote();
    let (task, actor, job, task_node) = ray::get(&r).unwrap();
    assert_eq!(task, Some(r.id().task_id()));
    assert_eq!(actor, None);
    assert_eq!(job, driver.job_id());
    assert_eq!(task_node, node);
    let r = task_ids_async.remote();
    assert_eq!(ray::get(&r).unwrap(), Some(r.id().task_id()));
    // Two tasks have two ids.
    let (other, ..) = ray::get(&task_ids.remote()).unwrap();
    assert_ne!(other, task);

    let p = Probe::remote();
    let r = p.ids.remote();
    let (actor, task, actor_node) = ray::get(&r).unwrap();
    assert_eq!(actor, Some(p.id()));
    assert_eq!(task, Some(r.id().task_id()));
    assert_eq!(actor_node, node);
    let r = p.ids_async.remote();
    assert_eq!(
        ray::get(&r).unwrap(),
        (Some(p.id()), Some(r.id().task_id()))
    );
    // The driver's context is unchanged by all that.
    assert_eq!(ray::runtime_context().task_id(), None);
}

#[test]
fn nodes_reports_one_alive_node() {
    let _ray = common::init_with(Config::new().num_cpus(2.0).resource("special", 1.0));
    let nodes = ray::nodes().unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].alive);
    assert_eq!(nodes[0].resources, ray::cluster_resources().unwrap());
    assert_eq!(nodes[0].resources["special"], 1.0);
}

#[test]
fn cluster_resources_match_the_config() {
    let _ray = common::init_with(
        Config::new()
            .num_cpus(3.0)
            .num_gpus(1.0)
            .resource("special", 2.5)
            .resource("tiny", 0.0001),
    );
    let total = ray::cluster_resources().unwrap();
    assert_eq!(total["CPU"], 3.0);
    assert_eq!(total["GPU"], 1.0);
    assert_eq!(total["special"], 2.5);
    assert_eq!(total["tiny"], 0.0001);
    assert_eq!(ray::available_resources().unwrap(), total);
}

#[ray::remote]
fn fails() -> Result<u8, String> {
    Err("nope".into())
}

#[test]
fn timeline_writes_chrome_trace_json() {
    let _ray = common::init(2.0);
    let refs: Vec<_> = (0..3).map(|i| double.remote(i)).collect();
    ray::get(&refs).unwrap();
    assert!(ray::get(&fails.remote()).is_err());
    let path = std::env::temp_dir().join(format!("ray-timeline-{}.json", std::process::id()));
    let mut events = Vec::new();
    let complete = common::wait_until(common::LONG, || {
        ray::timeline(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).expect("timeline is not JSON");
        events = json
            .as_array()
            .expect("timeline is not a JSON array")
            .clone();
        events.len() >= 4
    });
    let _ = std::fs::remove_file(&path);
    assert!(complete, "timeline has {} events, expected 4", events.len());
    assert_eq!(events.len(), 4);
    for e in &events {
        assert_eq!(e["ph"], "X", "{e}");
        assert!(e["ts"].as_f64().unwrap() >= 0.0, "{e}");
        assert!(e["dur"].as_f64().unwrap() >= 0.0, "{e}");
        assert!(e["pid"].is_string() || e["pid"].is_number(), "{e}");
    }
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "double").count(),
        3,
        "{names:?}"
    );
    assert!(names.contains(&"fails"), "{names:?}");
    // An unwritable path is an error, not a panic.
    assert!(ray::timeline("/nonexistent-dir/x/timeline.json").is_err());
}

/// Sets an environment variable for one test and removes it after, even on panic.
struct EnvVar(&'static str);

impl EnvVar {
    fn set(name: &'static str, value: &str) -> Self {
        // SAFETY: the tests of this binary are serialized by `common::exclusive`, and the
        // runtime is shut down, so no other thread reads the environment meanwhile.
        unsafe { std::env::set_var(name, value) };
        EnvVar(name)
    }
}

impl Drop for EnvVar {
    fn drop(&mut self) {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var(self.0) };
    }
}

#[test]
fn a_bad_ray_num_cpus_fails_init() {
    let _guard = common::exclusive();
    let _env = EnvVar::set("RAY_NUM_CPUS", "abc");
    let err = ray::init().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("RAY_NUM_CPUS"), "{err}");
    assert!(!ray::is_initialized());
    assert!(ray::init_with(Config::new()).is_err());
    assert!(!ray::is_initialized());
    // A value in code wins over the environment.
    ray::init_with(Config::new().num_cpus(2.0)).unwrap();
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], 2.0);
}

#[test]
fn ray_num_cpus_sets_the_cpu_count() {
    let _guard = common::exclusive();
    let _env = EnvVar::set("RAY_NUM_CPUS", "3");
    ray::init().unwrap();
    assert_eq!(ray::cluster_resources().unwrap()["CPU"], 3.0);
}

#[test]
fn invalid_resource_quantities_fail_init() {
    let _guard = common::exclusive();
    for config in [
        Config::new().num_cpus(-1.0),
        Config::new().num_cpus(f64::NAN),
        Config::new().num_cpus(f64::INFINITY),
        Config::new().num_cpus(1.0).num_gpus(-0.5),
        Config::new().num_cpus(1.0).resource("special", -2.0),
        Config::new().num_cpus(1.0).resource("", 1.0),
    ] {
        let err = ray::init_with(config.clone()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{config:?}: {err:?}"
        );
        assert!(!ray::is_initialized(), "{config:?} left a runtime behind");
    }
    // A valid config still works afterwards.
    ray::init_with(Config::new().num_cpus(1.0)).unwrap();
    assert_eq!(ray::get(&double.remote(4)).unwrap(), 8);
}

#[test]
fn handles_of_a_stopped_runtime_fail_instead_of_hanging() {
    let _guard = common::exclusive();
    ray::init_with(Config::new().num_cpus(1.0)).unwrap();
    let p = Probe::remote();
    ray::get(&p.ready()).unwrap();
    ray::shutdown();
    let err = ray::get_timeout(&p.ids.remote(), common::LONG).unwrap_err();
    assert!(
        matches!(err, Error::ActorDied { .. } | Error::ShutDown),
        "{err:?}"
    );
    assert!(ray::get(&p.ready()).is_err());
}
