//! `Config`: what `ray::init_with` accepts. Parsed from code and from `RAY_*` environment
//! variables; validated before any thread starts.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::resources::{Resources, to_units};
use crate::{Error, Result};

/// How to start (or join) a runtime.
///
/// # Examples
/// ```
/// use ray::Config;
/// ray::init_with(Config::new().num_cpus(4.0).resource("special", 2.0)).unwrap();
/// assert_eq!(ray::cluster_resources().unwrap()["CPU"], 4.0);
/// ray::shutdown();
/// ```
#[must_use = "a Config does nothing until passed to `ray::init_with`"]
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub(crate) address: Option<String>,
    pub(crate) num_cpus: Option<f64>,
    pub(crate) num_gpus: Option<f64>,
    pub(crate) resources: BTreeMap<String, f64>,
    pub(crate) namespace: Option<String>,
    /// Start a cluster head (QUIC endpoint, token, node table) instead of a lone node.
    pub(crate) head: bool,
    /// A worker node that registers with the head (not a driver).
    pub(crate) worker: bool,
    pub(crate) port: u16,
    /// The address other hosts reach this node at (detected when not given).
    pub(crate) node_ip_address: Option<String>,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) node_timeout: Option<Duration>,
    pub(crate) max_dead_nodes: Option<usize>,
    /// The node runs no driver program (a CLI command, a test cluster's node): it is not
    /// listed in the head's job table.
    pub(crate) no_job: bool,
    /// The job this driver runs as: set by the head for a submitted job's driver
    /// (`RAY_JOB_ID`), minted otherwise.
    pub(crate) job_id: Option<crate::ids::JobId>,
    /// A job's worker process: the generic node that started it (`RAY_JOB_HOST`).
    pub(crate) job_host: Option<crate::ids::NodeId>,
    pub(crate) object_store_memory: Option<usize>,
    pub(crate) spill_dir: Option<std::path::PathBuf>,
    pub(crate) max_lineage_bytes: Option<usize>,
    pub(crate) large_copy_warning: Option<usize>,
    /// Testing only: how long this node waits before each pull of another node's object
    /// (as Ray's `testing_asio_delay_us`), to show that hand-offs do not depend on time.
    pub(crate) testing_pull_delay: Option<Duration>,
    pub(crate) memory: Option<f64>,
    /// Whether software adapters (lavapipe, llvmpipe) count as GPUs.
    pub(crate) allow_software_gpus: Option<bool>,
    /// Whether this node serves the dashboard (heads and the embedded runtime).
    pub(crate) dashboard: Option<bool>,
    pub(crate) dashboard_host: Option<String>,
    pub(crate) dashboard_port: Option<u16>,
    /// The file this node's log goes to, which the dashboard shows.
    pub(crate) log_file: Option<std::path::PathBuf>,
    /// How often the node samples its load for the dashboard's plots, and how many
    /// samples it keeps.
    pub(crate) history: Option<(Duration, usize)>,
}

impl Config {
    /// Defaults: an embedded single-node runtime with every CPU of the machine. `RAY_*`
    /// environment variables fill what is not set when the runtime starts (`RAY_ADDRESS`
    /// makes it join a cluster: [`Config::address`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Joins an existing cluster instead of starting a node of its own. `address` is the
    /// cluster's join address, `ray://TOKEN@HOST:PORT#CERT_SHA256`: `TOKEN` is the cluster
    /// secret, `HOST` an IPv4 address, a bracketed IPv6 address or a host name, `PORT` the
    /// head's UDP port, and `CERT_SHA256` the 64 hex digits of the SHA-256 of the head's
    /// certificate. A bare `host:port` is refused.
    ///
    /// `ray start --head` prints it (and keeps it for later `ray` commands on that
    /// machine); a head started in code (`Config::new().head()`) reports it in
    /// `ray::runtime_context().cluster_address()`. The head generates a new certificate and
    /// token each time it starts, so the address changes with every head start.
    ///
    /// When not set, `RAY_ADDRESS` is read, so `ray::init()` joins a cluster too when that
    /// variable is set. This process then joins as a driver that offers no CPUs unless
    /// [`Config::num_cpus`] says otherwise (with `RAY_NODE_MODE=worker`, as a worker node).
    /// Ignored with [`Config::head`].
    ///
    /// # Errors
    /// `ray::init_with` fails with [`crate::Error::NotConnected`] when the address does not
    /// parse (the message names the expected form, never the token) or the head cannot be
    /// reached or refuses this node, and with [`crate::Error::InvalidArgument`] in a build
    /// without the `cluster` feature.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Logical CPUs this node offers (default: the machine's CPU count).
    pub fn num_cpus(mut self, n: f64) -> Self {
        self.num_cpus = Some(n);
        self
    }

    /// GPUs this node offers (env `RAY_NUM_GPUS`). By default they are counted at start,
    /// and only when the host has a GPU device node (`/dev/nvidia0`, `/dev/dri/renderD*`,
    /// `/dev/kfd`, `/dev/dxg`) or software adapters are allowed: with the `gpu` feature,
    /// the adapters wgpu finds (hardware ones only unless
    /// [`Config::allow_software_gpus`]); without it, NVIDIA GPUs by their `/dev/nvidiaN`
    /// device nodes. See docs/gpu.md.
    pub fn num_gpus(mut self, n: f64) -> Self {
        self.num_gpus = Some(n);
        self
    }

    /// A custom resource this node offers.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.resources.insert(name.into(), amount);
        self
    }

    /// Custom resources as `ray start --resources` and `RAY_RESOURCES` write them:
    /// `name=amount,name=amount`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `source` and the entry that is not
    /// `name=amount`.
    ///
    /// # Examples
    /// ```
    /// let c = ray::Config::new().resource_list("disk=2,gpu_box=1", "--resources").unwrap();
    /// assert!(ray::Config::new().resource_list("disk", "--resources").is_err());
    /// # let _ = c;
    /// ```
    #[doc(hidden)]
    pub fn resource_list(mut self, list: &str, source: &str) -> Result<Self> {
        self.resources.extend(resource_list(list, source)?);
        Ok(self)
    }

    /// Starts a cluster head in this process: a QUIC endpoint other nodes join (its
    /// address is in `runtime_context().cluster_address()`), the node table, and this
    /// node's own resources.
    pub fn head(mut self) -> Self {
        self.head = true;
        self
    }

    /// The UDP port of this node's QUIC endpoint in a cluster (default: any free port;
    /// env `RAY_PORT`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The address of this host that other nodes reach this node at (Ray's
    /// `--node-ip-address`; env `RAY_NODE_IP_ADDRESS`). Without one a node detects it:
    /// a worker or driver takes the local address of its route to the head, a head the
    /// address of its default route's interface, and a host with no route at all
    /// 127.0.0.1 (it says so in its log). The node listens on every interface either
    /// way; this is the address it hands out. Given one that is not this host's,
    /// [`init_with`](crate::init_with) fails naming it.
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().head().node_ip_address("127.0.0.1")).unwrap();
    /// let address = ray::runtime_context().cluster_address().unwrap().to_string();
    /// assert!(address.contains("@127.0.0.1:"));
    /// ray::shutdown();
    ///
    /// let e = ray::init_with(ray::Config::new().head().node_ip_address("203.0.113.77"));
    /// assert!(e.unwrap_err().to_string().contains("203.0.113.77"));
    /// ```
    pub fn node_ip_address(mut self, ip: impl Into<String>) -> Self {
        self.node_ip_address = Some(ip.into());
        self
    }

    /// How often a cluster node reports to the head (default 500 ms).
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// How long the head waits for a node's heartbeat before it declares the node dead
    /// (default 10 s).
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = Some(timeout);
        self
    }

    /// How many dead nodes the head keeps listing (`ray status`, `ray list nodes`, the
    /// dashboard) before it forgets the oldest (default 1000, as Ray's
    /// `maximum_gcs_dead_node_cached_count`; env `RAY_maximum_gcs_dead_node_cached_count`).
    ///
    /// # Examples
    /// ```
    /// let config = ray::Config::new().max_dead_nodes(100);
    /// # let _ = config;
    /// ```
    pub fn max_dead_nodes(mut self, n: usize) -> Self {
        self.max_dead_nodes = Some(n);
        self
    }

    /// Not a job: for tools (`ray status`) and nodes that only serve, which should not
    /// appear in the cluster's job table.
    #[doc(hidden)]
    pub fn without_job(mut self) -> Self {
        self.no_job = true;
        self
    }

    /// The namespace for named actors (default `"default"`).
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Bytes of objects this node's store keeps in memory; past it, large objects spill
    /// to disk and are restored when read (default: 30% of the machine's memory, as in
    /// Ray; env `RAY_OBJECT_STORE_MEMORY`).
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().object_store_memory(64 << 20)).unwrap();
    /// assert_eq!(ray::memory_summary().capacity, 64 << 20);
    /// ray::shutdown();
    /// ```
    pub fn object_store_memory(mut self, bytes: usize) -> Self {
        self.object_store_memory = Some(bytes);
        self
    }

    /// Where spilled objects go: a directory of this node's own is made under `dir`
    /// (default: the system's temporary directory; env `RAY_OBJECT_SPILLING_DIRECTORY`).
    /// It is removed at shutdown.
    ///
    /// # Examples
    /// ```
    /// let dir = std::env::temp_dir().join("my-spill");
    /// ray::init_with(ray::Config::new().object_spilling_directory(&dir)).unwrap();
    /// ray::shutdown();
    /// ```
    pub fn object_spilling_directory(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Bytes of memory that tasks and actors may ask for with `.memory(bytes)` (the
    /// `memory` resource; default: 70% of the machine's memory less the object store,
    /// as Ray).
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().memory(1e9)).unwrap();
    /// assert_eq!(ray::cluster_resources().unwrap()["memory"], 1e9);
    /// ray::shutdown();
    /// ```
    pub fn memory(mut self, bytes: f64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Whether a head or the embedded runtime serves the dashboard on
    /// 127.0.0.1:8265, or the next free port (default: yes; env `RAY_DASHBOARD=0` turns
    /// it off). Its address is in `runtime_context().dashboard_url()`.
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().dashboard(false)).unwrap();
    /// assert!(ray::runtime_context().dashboard_url().is_none());
    /// ray::shutdown();
    /// ```
    pub fn dashboard(mut self, on: bool) -> Self {
        self.dashboard = Some(on);
        self
    }

    /// The address the dashboard binds (default `127.0.0.1`; env `RAY_DASHBOARD_HOST`).
    /// Bound anywhere else, every request must carry the cluster's token (the head's
    /// join token, or one made for an embedded runtime), as `Authorization: Bearer
    /// TOKEN` or `?token=TOKEN`: `runtime_context().dashboard_token()` gives it.
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().dashboard_host("127.0.0.1")).unwrap();
    /// let ctx = ray::runtime_context();
    /// assert!(ctx.dashboard_url().unwrap().starts_with("http://127.0.0.1:"));
    /// // On loopback only the endpoints that change something need it.
    /// assert!(ctx.dashboard_token().is_some());
    /// ray::shutdown();
    /// ```
    pub fn dashboard_host(mut self, host: impl Into<String>) -> Self {
        self.dashboard_host = Some(host.into());
        self
    }

    /// The file this node's log is written to (env `RAY_LOG_FILE`; `ray start` sets it
    /// to the file under `$RAY_TMPDIR/logs/` it sends the node's output to). The
    /// dashboard shows its last lines (`/api/logs`, `ray logs`); it is the only file any
    /// endpoint reads. The runtime does not write it itself: the process's tracing
    /// subscriber (or its redirected stderr) does. The node opens it once, at start (so
    /// it must exist by then), and always reads that file, whatever the path names later.
    ///
    /// # Examples
    /// ```
    /// let log = std::env::temp_dir().join("ray-doc-log-file.log");
    /// std::fs::write(&log, "first line\nsecond line\n").unwrap();
    /// ray::init_with(ray::Config::new().log_file(&log)).unwrap();
    /// assert_eq!(ray::runtime_context().log_file(), Some(log.as_path()));
    /// ray::shutdown();
    /// ```
    pub fn log_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// The first port the dashboard tries (default 8265; the next free one is taken
    /// when it is busy).
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().dashboard_port(18265)).unwrap();
    /// let url = ray::runtime_context().dashboard_url().unwrap().to_string();
    /// assert!(url.rsplit(':').next().unwrap().parse::<u16>().unwrap() >= 18265);
    /// ray::shutdown();
    /// ```
    pub fn dashboard_port(mut self, port: u16) -> Self {
        self.dashboard_port = Some(port);
        self
    }

    /// How often this node samples its load (tasks running and queued, object store
    /// bytes, its process's CPU and memory) for the dashboard's plots, and how many
    /// samples it keeps (default every second, 600: the last ten minutes). The samples
    /// live in a ring allocated once; `every` is at least 1 ms, `samples` at least 1.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// // The last hour, a sample every 5 s.
    /// ray::init_with(ray::Config::new().dashboard_history(Duration::from_secs(5), 720)).unwrap();
    /// ray::shutdown();
    /// ```
    pub fn dashboard_history(mut self, every: Duration, samples: usize) -> Self {
        self.history = Some((every, samples));
        self
    }

    /// Bytes of lineage (the encoded arguments of tasks whose large results other nodes
    /// hold) this node keeps to make such results again if their node dies (default
    /// 1 GiB, Ray's `max_lineage_bytes`). Past it, new results are not reconstructable:
    /// losing one gives [`crate::Error::ObjectLost`].
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().max_lineage_bytes(64 << 20)).unwrap();
    /// ray::shutdown();
    /// ```
    pub fn max_lineage_bytes(mut self, bytes: usize) -> Self {
        self.max_lineage_bytes = Some(bytes);
        self
    }

    /// The size from which a task's copy of a stored object is worth a warning (default
    /// 64 MiB; env `RAY_LARGE_COPY_WARNING_BYTES`). An owned parameter (`values:
    /// Vec<f64>`) given a ref gets a copy of the object on every call; the first copy
    /// this large logs one warning per function naming the borrowed form
    /// (`values: &[f64]`), which reads the object in place.
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().large_copy_warning_bytes(16 << 20)).unwrap();
    /// ray::shutdown();
    /// ```
    pub fn large_copy_warning_bytes(mut self, bytes: usize) -> Self {
        self.large_copy_warning = Some(bytes);
        self
    }

    /// Testing only: delays each pull of another node's object by `delay` (env
    /// `RAY_TESTING_PULL_DELAY_MS`), as Ray's `testing_asio_delay_us` delays handlers.
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// ray::init_with(ray::Config::new().testing_pull_delay(Duration::from_millis(5))).unwrap();
    /// ray::shutdown();
    /// ```
    #[doc(hidden)]
    pub fn testing_pull_delay(mut self, delay: Duration) -> Self {
        self.testing_pull_delay = Some(delay);
        self
    }

    /// Whether software GPU adapters, which run on the CPU (Mesa's lavapipe and
    /// llvmpipe), count as GPUs of this node (default: no, or env
    /// `RAY_GPU_ALLOW_SOFTWARE=1`). For tests and CI without a GPU.
    ///
    /// # Examples
    /// ```
    /// ray::init_with(ray::Config::new().allow_software_gpus(true)).unwrap();
    /// ray::shutdown();
    /// ```
    pub fn allow_software_gpus(mut self, allow: bool) -> Self {
        self.allow_software_gpus = Some(allow);
        self
    }

    /// The store's capacity and spill directory base.
    pub(crate) fn spill_settings(&self) -> (usize, Option<std::path::PathBuf>) {
        (
            self.object_store_memory
                .unwrap_or_else(default_store_capacity),
            self.spill_dir.clone(),
        )
    }

    /// Fills unset fields from `RAY_ADDRESS`, `RAY_NUM_CPUS`, `RAY_NUM_GPUS`, `RAY_NAMESPACE` and the other
    /// `RAY_*` variables.
    pub(crate) fn with_env(mut self) -> Result<Self> {
        if self.address.is_none() {
            self.address = std::env::var("RAY_ADDRESS").ok().filter(|a| !a.is_empty());
        }
        for (var, slot) in [
            ("RAY_NUM_CPUS", &mut self.num_cpus),
            ("RAY_NUM_GPUS", &mut self.num_gpus),
        ] {
            if slot.is_none()
                && let Ok(v) = std::env::var(var)
            {
                let n = v.parse::<f64>().map_err(|_| {
                    Error::InvalidArgument(format!("{var} must be a number, got `{v}`"))
                })?;
                *slot = Some(n);
            }
        }
        if self.namespace.is_none() {
            self.namespace = std::env::var("RAY_NAMESPACE").ok();
        }
        if let Ok(list) = std::env::var("RAY_RESOURCES") {
            for (name, amount) in resource_list(&list, "RAY_RESOURCES")? {
                self.resources.entry(name).or_insert(amount);
            }
        }
        if self.max_dead_nodes.is_none()
            && let Ok(v) = std::env::var("RAY_maximum_gcs_dead_node_cached_count")
        {
            self.max_dead_nodes = Some(v.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "RAY_maximum_gcs_dead_node_cached_count must be a count, got `{v}`"
                ))
            })?);
        }
        for (var, slot) in [
            ("RAY_HEARTBEAT_MS", &mut self.heartbeat),
            ("RAY_NODE_TIMEOUT_MS", &mut self.node_timeout),
            ("RAY_TESTING_PULL_DELAY_MS", &mut self.testing_pull_delay),
        ] {
            if slot.is_none()
                && let Ok(v) = std::env::var(var)
            {
                let ms = v.parse::<u64>().map_err(|_| {
                    Error::InvalidArgument(format!("{var} must be milliseconds, got `{v}`"))
                })?;
                *slot = Some(Duration::from_millis(ms));
            }
        }
        for (var, slot) in [
            ("RAY_OBJECT_STORE_MEMORY", &mut self.object_store_memory),
            ("RAY_LARGE_COPY_WARNING_BYTES", &mut self.large_copy_warning),
        ] {
            if slot.is_none()
                && let Ok(v) = std::env::var(var)
            {
                let n = v.parse::<usize>().map_err(|_| {
                    Error::InvalidArgument(format!("{var} must be bytes, got `{v}`"))
                })?;
                *slot = Some(n);
            }
        }
        if self.dashboard.is_none() {
            self.dashboard = std::env::var("RAY_DASHBOARD").ok().map(|v| v != "0");
        }
        if self.dashboard_host.is_none() {
            self.dashboard_host = std::env::var("RAY_DASHBOARD_HOST").ok();
        }
        if self.port == 0
            && let Ok(v) = std::env::var("RAY_PORT")
        {
            self.port = v.parse().map_err(|_| {
                Error::InvalidArgument(format!("RAY_PORT must be a UDP port number, got `{v}`"))
            })?;
        }
        if self.node_ip_address.is_none() {
            self.node_ip_address = std::env::var("RAY_NODE_IP_ADDRESS")
                .ok()
                .filter(|v| !v.is_empty());
        }
        if self.spill_dir.is_none() {
            self.spill_dir = std::env::var_os("RAY_OBJECT_SPILLING_DIRECTORY").map(Into::into);
        }
        if self.log_file.is_none() {
            self.log_file = std::env::var_os("RAY_LOG_FILE")
                .filter(|v| !v.is_empty())
                .map(Into::into);
        }
        if self.allow_software_gpus.is_none() {
            let v = std::env::var("RAY_GPU_ALLOW_SOFTWARE").unwrap_or_default();
            let allow = crate::machine::parse_flag(&v).ok_or_else(|| {
                Error::InvalidArgument(format!("RAY_GPU_ALLOW_SOFTWARE must be 1 or 0, got `{v}`"))
            })?;
            self.allow_software_gpus = Some(allow);
        }
        if std::env::var("RAY_NODE_MODE").is_ok_and(|m| m == "worker") {
            self.worker = true;
        }
        self.with_job_env()
    }

    /// A submitted job's processes: `RAY_JOB_ID` (the job, set for its driver and its
    /// workers) and `RAY_JOB_HOST` (a worker's generic node).
    fn with_job_env(mut self) -> Result<Self> {
        if self.job_id.is_none()
            && let Ok(v) = std::env::var("RAY_JOB_ID")
        {
            self.job_id = Some(v.parse().map_err(|_| {
                Error::InvalidArgument(format!("RAY_JOB_ID must be a job id, got `{v}`"))
            })?);
        }
        if let Ok(v) = std::env::var("RAY_JOB_HOST") {
            self.job_host = Some(v.parse().map_err(|_| {
                Error::InvalidArgument(format!("RAY_JOB_HOST must be a node id, got `{v}`"))
            })?);
        }
        Ok(self)
    }

    /// The node's total resources, validated.
    pub(crate) fn total_resources(&self) -> Result<Resources> {
        // A driver joining a cluster offers no CPUs unless asked to, as in Ray.
        let driver = self.address.is_some() && !self.worker && !self.head;
        let cpus = self.num_cpus.unwrap_or_else(|| {
            if driver {
                0.0
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
            }
        });
        let mut r = Resources::new();
        r.set_units("CPU", to_units("CPU", cpus)?);
        // GPUs: as many as wgpu finds (software adapters only when allowed).
        let gpus = self.num_gpus.unwrap_or_else(|| {
            let allow = self
                .allow_software_gpus
                .unwrap_or_else(crate::machine::allow_software_from_env);
            crate::machine::count_at_start(allow) as f64
        });
        r.set_units("GPU", to_units("GPU", gpus)?);
        let memory = self.memory.unwrap_or_else(|| {
            let store = self.spill_settings().0 as f64;
            (crate::machine::machine_memory() as f64 * 0.7 - store)
                .max(0.0)
                .floor()
        });
        r.set_units("memory", to_units("memory", memory)?);
        for (k, v) in &self.resources {
            if k.is_empty() {
                return Err(Error::InvalidArgument(
                    "resource names must not be empty".into(),
                ));
            }
            r.set_units(k, to_units(k, *v)?);
        }
        Ok(r)
    }
}

/// `name=amount,name=amount`, read from `source` (named in errors).
fn resource_list(list: &str, source: &str) -> Result<Vec<(String, f64)>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, amount) = item.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!("{source} entries are name=amount, got `{item}`"))
            })?;
            let amount = amount.parse::<f64>().map_err(|_| {
                Error::InvalidArgument(format!("{source}: `{amount}` is not a number"))
            })?;
            Ok((name.to_string(), amount))
        })
        .collect()
}

/// The object store's default capacity: 30% of the machine's memory, as Ray sizes it.
fn default_store_capacity() -> usize {
    usize::try_from(crate::machine::machine_memory() / 10 * 3).unwrap_or(usize::MAX)
}
