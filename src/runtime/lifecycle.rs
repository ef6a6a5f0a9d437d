//! Starting and stopping the embedded node: `init`, `init_with`, `shutdown`, auto-init on
//! first use, and the one process-wide handle to the driver's node.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

use actix::Actor;
use actix_rt::System;

use crate::actors::{ActorRegistry, NodeActors, NodeManager, Parts, Role, start_cluster_agent};
use crate::config::Config;
use crate::ids::{JobId, NodeId};
use crate::node::{Global, Node, Scheduler, Starter, with_global};
use crate::resources::Resources;
use crate::store::MemoryStore;
use crate::transport::JoinAddress;
use crate::{Error, Result};

// The embedded runtime the first Ray call of a process starts.
inventory::submit! { Starter(|| start(Config::new())) }

impl Global {
    /// Stops the node and waits for its system thread.
    pub(crate) fn stop(self) {
        stop_node(&self.node);
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}

/// Starts the runtime with default settings: an embedded single node with every CPU of
/// the machine or, when `RAY_ADDRESS` holds a join address, a driver joined to that
/// cluster (see [`Config::address`]). Optional: the first Ray call starts it. A second
/// call is a no-op.
///
/// # Errors
/// [`Error::InvalidArgument`] for bad `RAY_*` environment variables; [`Error::NotConnected`]
/// when `RAY_ADDRESS` names a cluster that cannot be reached or refuses this node.
///
/// # Examples
/// ```
/// ray::init().unwrap();
/// assert!(ray::is_initialized());
/// ray::shutdown();
/// assert!(!ray::is_initialized());
/// ```
pub fn init() -> Result<()> {
    start_global(Config::new(), false)
}

/// Starts the process's runtime (`init`, `init_with`); a worker node's program then
/// serves tasks instead of returning, whichever of the two it called.
fn start_global(config: Config, refuse_running: bool) -> Result<()> {
    let worker = with_global(|g| {
        if g.is_some() {
            return match refuse_running {
                true => Err(Error::InvalidArgument(
                    "ray is already initialized: call ray::shutdown() before init_with".into(),
                )),
                false => Ok(false),
            };
        }
        let started = start(config)?;
        let worker = started.node.actors().cluster.get().is_some() && node_mode();
        *g = Some(started);
        Ok::<_, Error>(worker)
    })?;
    if worker {
        serve_forever();
    }
    Ok(())
}

/// Whether this process was started as a worker node (`RAY_NODE_MODE=worker`, as
/// `ray start --address .. -- ./your-binary` and the cluster example do).
fn node_mode() -> bool {
    std::env::var("RAY_NODE_MODE").is_ok_and(|m| m == "worker")
}

/// The single-binary model: a worker node runs the user's own program, whose first
/// `ray::init()` joins the cluster and then serves tasks until the process is stopped
/// (SIGTERM or SIGINT: it shuts down cleanly) or killed.
fn serve_forever() -> ! {
    let node = with_global(|g| g.as_ref().map(|g| g.node.clone()));
    if let Some(node) = node {
        tracing::info!(node_id = %node.id, "running as a worker node until killed");
        eprintln!(
            "ray: node {} joined the cluster; serving until killed",
            node.id
        );
    }
    wait_for_termination();
    shutdown();
    std::process::exit(0);
}

/// Blocks until the process is asked to stop (SIGTERM, as `ray stop` sends, or SIGINT,
/// Ctrl-C). A node that serves until stopped then shuts down cleanly (its spill files
/// go with it) instead of dying mid-write.
pub fn wait_for_termination() {
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map(|rt| {
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return false;
                };
                futures::future::select(Box::pin(term.recv()), Box::pin(int.recv())).await;
                true
            })
        });
    if !matches!(waited, Ok(true)) {
        // No signal handling here: serve until killed.
        tracing::warn!("cannot watch for SIGTERM/SIGINT: serving until killed");
        loop {
            std::thread::park();
        }
    }
    tracing::info!("asked to stop: shutting down");
}

/// Starts the runtime with `config`. In a worker node's process (`RAY_NODE_MODE=worker`,
/// as `ray start --address .. -- PROGRAM` starts it) it joins the cluster and serves
/// tasks until the process is stopped, as [`init`] does there.
///
/// # Errors
/// As [`init`], plus [`Error::InvalidArgument`] when a runtime is already running (call
/// [`shutdown`] first) or a resource quantity is negative.
///
/// # Examples
/// ```
/// ray::init_with(ray::Config::new().num_cpus(2.0)).unwrap();
/// assert_eq!(ray::cluster_resources().unwrap()["CPU"], 2.0);
/// assert!(ray::init_with(ray::Config::new()).is_err());
/// ray::shutdown();
/// ```
pub fn init_with(config: Config) -> Result<()> {
    start_global(config, true)
}

/// Whether a runtime is running in this process.
///
/// # Examples
/// ```
/// assert!(!ray::is_initialized());
/// let _ = ray::put(1u8); // the first use starts the runtime
/// assert!(ray::is_initialized());
/// # ray::shutdown();
/// ```
pub fn is_initialized() -> bool {
    with_global(|g| g.is_some())
}

/// Stops the runtime: actors die, pending objects fail with [`Error::ShutDown`], and the
/// runtime threads exit. `init` works again afterwards. A no-op when nothing runs.
///
/// # Examples
/// ```
/// let r = ray::put(5u32);
/// ray::shutdown();
/// ray::init().unwrap(); // a fresh runtime
/// assert_eq!(ray::get(&ray::put(6u32)).unwrap(), 6);
/// # drop(r);
/// # ray::shutdown();
/// ```
pub fn shutdown() {
    let Some(g) = with_global(Option::take) else {
        return;
    };
    let node_id = g.node.id;
    // The system thread only runs the node manager, the registry and the cluster agent,
    // which never block, so it exits promptly once stopped.
    g.stop();
    tracing::info!(node_id = %node_id, "ray runtime shut down");
}

pub(crate) fn stop_node(node: &Node) {
    node.shut_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(agent) = node.actors().cluster.get() {
        // Closes the QUIC endpoint: peers see the connection drop, with no goodbye.
        agent.do_send(crate::actors::StopAgent);
    }
    #[cfg(feature = "dashboard")]
    if let Some(served) = node.dashboard.get() {
        // Frees the port now; the request in flight, if any, is dropped.
        drop(served.handle.stop(false));
    }
    node.store.shut_down(&Error::ShutDown);
    node.executors.shut_down();
    node.system.stop();
}

/// What `start` takes from the configuration before the node's thread starts.
struct Plan {
    role: Option<Role>,
    total: Resources,
    /// Whether this node runs no job (a worker node, or `Config::no_job`).
    no_job: bool,
    /// The job id given to this driver (`RAY_JOB_ID`), if any.
    job_id: Option<JobId>,
    /// Where the dashboard binds, if this node serves one.
    dashboard: Option<(String, u16)>,
    /// The store's capacity and where it spills.
    spill: (usize, Option<std::path::PathBuf>),
    /// `Config::large_copy_warning_bytes`.
    large_copy_warning: usize,
    log_file: Option<std::path::PathBuf>,
    log: Option<std::fs::File>,
    namespace: String,
    executors: usize,
    settings: crate::actors::AgentSettings,
    /// How often the node samples its load, and how many samples it keeps.
    history: (Duration, usize),
}

fn plan(config: Config) -> Result<Plan> {
    let config = config.with_env()?;
    let role = match (&config.address, config.head) {
        (_, true) => Some(Role::Head),
        (Some(addr), false) => {
            let join: JoinAddress =
                addr.parse()
                    .map_err(|e: crate::transport::TransportError| {
                        Error::NotConnected(e.to_string())
                    })?;
            Some(if config.worker {
                Role::Worker(join)
            } else {
                Role::Driver(join)
            })
        }
        (None, false) => None,
    };
    if cfg!(not(feature = "cluster")) && role.is_some() {
        return Err(Error::InvalidArgument(crate::transport::NO_CLUSTER.into()));
    }
    let dashboard = (config.dashboard.unwrap_or(true) && (config.head || config.address.is_none()))
        .then(|| {
            (
                config
                    .dashboard_host
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into()),
                config
                    .dashboard_port
                    .unwrap_or(crate::dashboard::DEFAULT_PORT),
            )
        });
    let log_file = config.log_file.clone();
    let log = log_file.as_deref().and_then(|path| {
        std::fs::File::open(path)
            .map_err(|e| tracing::warn!(file = %path.display(), error = %e, "cannot open the node's log file"))
            .ok()
    });
    let node_ip = match config.node_ip_address.as_deref() {
        None => None,
        Some(ip) => Some(ip.trim().parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "node IP address `{ip}` is not an IP address (Config::node_ip_address, RAY_NODE_IP_ADDRESS, --node-ip-address)"
            ))
        })?),
    };
    Ok(Plan {
        role,
        total: config.total_resources()?,
        no_job: config.no_job,
        job_id: config.job_id,
        dashboard,
        spill: config.spill_settings(),
        large_copy_warning: config
            .large_copy_warning
            .unwrap_or(crate::store::LARGE_COPY_WARNING),
        log_file,
        log,
        namespace: config.namespace.clone().unwrap_or_else(|| "default".into()),
        history: config.history.map_or(
            (crate::node::DEFAULT_EVERY, crate::node::DEFAULT_SAMPLES),
            |(every, samples)| (every.max(Duration::from_millis(1)), samples.max(1)),
        ),
        executors: std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8),
        settings: crate::actors::AgentSettings {
            port: config.port,
            node_ip,
            heartbeat: config.heartbeat.unwrap_or(Duration::from_millis(500)),
            timeout: config.node_timeout.unwrap_or(Duration::from_secs(10)),
            max_dead_nodes: config.max_dead_nodes.unwrap_or(1000),
            max_lineage_bytes: config.max_lineage_bytes.unwrap_or(1 << 30),
            testing_pull_delay: config.testing_pull_delay,
            job_host: config.job_host,
            upcalls: crate::actors::Upcalls {
                local_state: crate::dashboard::answer_state,
                channel: crate::dag::take_channel,
            },
        },
    })
}

/// Makes the node on its own thread's actix system: executors, store, node manager,
/// registry, then (networked) the cluster agent and (head or embedded) the dashboard.
async fn make_node(plan: Plan, node_id: NodeId) -> Result<Arc<Node>> {
    let executors = crate::node::Executors::start(node_id, System::current(), plan.executors)?;
    let (capacity, base) = plan.spill;
    let spill = crate::store::Spill::new(node_id, capacity, base.as_deref());
    let store = MemoryStore::with_spill(node_id, Some(spill));
    store.set_large_copy_warning(plan.large_copy_warning);
    let actor_cells = Arc::new(crate::actors::ActorCells::default());
    let total = plan.total;
    let node = Arc::new_cyclic(|weak| {
        let manager = NodeManager::new(weak.clone(), total.clone()).start();
        Node {
            id: store.node_id(),
            job_id: plan.job_id.unwrap_or_else(JobId::new),
            work: crate::tasks::Who {
                build: crate::actors::build_with_functions(),
                job: plan.job_id,
            },
            leases_from: plan.settings.job_host,
            namespace: plan.namespace,
            scheduler: Scheduler {
                submit: manager.clone().recipient(),
                blocked: manager.clone().recipient(),
                unblocked: manager.clone().recipient(),
            },
            above: Box::new(Parts {
                manager,
                registry: ActorRegistry::new(actor_cells.clone()).start(),
                placement_groups: crate::actors::PlacementGroups::new(weak.clone()).start(),
                cluster: OnceLock::new(),
                actor_cells,
                actor_turn: AtomicUsize::new(0),
            }),
            store,
            total,
            system: System::current(),
            executors,
            shut_down: AtomicBool::new(false),
            started: Instant::now(),
            idle_actor_threads: parking_lot::Mutex::new(Vec::new()),
            peers: OnceLock::new(),
            join_address: OnceLock::new(),
            dashboard: OnceLock::new(),
            log_file: plan.log_file,
            log: plan.log,
            view: parking_lot::RwLock::new(Vec::new()),
            head_lost: AtomicBool::new(false),
            samples: crate::node::Samples::new(plan.history.0, plan.history.1),
        }
    });
    if let Some(role) = plan.role {
        // A head or driver running a user program is a job; a worker is not.
        let job = (!plan.no_job && !matches!(role, Role::Worker(_))).then_some(node.job_id);
        let (agent, join, peers) = start_cluster_agent(&node, role, job, plan.settings).await?;
        let _ = node.peers.set(peers);
        let _ = node.actors().cluster.set(agent);
        let _ = node.join_address.set(join);
    }
    // Heads and the embedded runtime serve the dashboard; workers and drivers joining a
    // cluster do not (the head's is the cluster's).
    #[cfg(feature = "dashboard")]
    if let Some((host, port)) = plan.dashboard {
        match crate::dashboard::start(&node, &host, port) {
            Ok(served) => {
                let _ = node.dashboard.set(served);
            }
            Err(e) => tracing::warn!(error = %e, "no dashboard"),
        }
    }
    #[cfg(not(feature = "dashboard"))]
    if plan.dashboard.is_some() {
        tracing::debug!(node_id = %node.id, "built without the `dashboard` feature: no dashboard");
    }
    Ok(node)
}

pub(crate) fn start(config: Config) -> Result<Global> {
    let t0 = Instant::now();
    let plan = plan(config)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Arc<Node>>>(1);
    let thread = std::thread::Builder::new()
        .name("ray-node".into())
        .spawn(move || {
            // Every event of the node's own actors (node manager, registry, cluster
            // agent, placement groups) carries the node's id.
            let node_id = NodeId::new();
            let _span = tracing::info_span!("node", %node_id).entered();
            let runner = System::new();
            match runner.block_on(make_node(plan, node_id)) {
                Ok(node) => {
                    let _ = tx.send(Ok(node));
                    let _ = runner.run();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|e| Error::InvalidArgument(format!("cannot start the runtime thread: {e}")))?;
    let node = rx.recv().map_err(|_| {
        Error::InvalidArgument("the runtime thread exited during start-up".into())
    })??;
    tracing::info!(node_id = %node.id, job_id = %node.job_id, resources = %node.total,
        elapsed_us = t0.elapsed().as_micros() as u64, "ray runtime started");
    Ok(Global { node, thread })
}
