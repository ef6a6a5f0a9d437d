//! What `ray::runtime_context()` reports about the caller: the ids and addresses of the
//! execution context (`node/context.rs`) and of its node, for users.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::ids::{ActorId, JobId, NodeId, TaskId};
use crate::node::current_context;

/// What `ray::runtime_context()` reports about the caller.
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn where_am_i() -> String { ray::runtime_context().task_id().unwrap().to_string() }
///
/// let driver = ray::runtime_context();
/// assert!(driver.task_id().is_none());
/// let id = ray::get(&where_am_i.remote()).unwrap();
/// assert!(id.starts_with("task-"));
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeContext {
    job_id: JobId,
    node_id: NodeId,
    namespace: String,
    task_id: Option<TaskId>,
    actor_id: Option<ActorId>,
    cancelled: bool,
    restarted: bool,
    attempt: u32,
    cluster_address: Option<String>,
    dashboard_url: Option<String>,
    dashboard_token: Option<String>,
    log_file: Option<std::path::PathBuf>,
    gpu_ids: Arc<[u32]>,
}

impl RuntimeContext {
    /// The current job (driver program).
    pub fn job_id(&self) -> JobId {
        self.job_id
    }
    /// This node's address in its cluster, `ray://TOKEN@HOST:PORT#CERT_SHA256` (the
    /// cluster token, this node's endpoint and its certificate's hash), when the node is
    /// networked. On a head it is the join address other nodes and drivers use
    /// ([`crate::Config::address`], `RAY_ADDRESS`), the one `ray start --head` prints. Only
    /// a head accepts joins: on a worker node or a driver it names that node, not the head.
    pub fn cluster_address(&self) -> Option<&str> {
        self.cluster_address.as_deref()
    }

    /// Where this node serves the dashboard (`http://127.0.0.1:8265` unless that port
    /// was taken), when it serves one: heads and the embedded runtime do.
    ///
    /// # Examples
    /// ```
    /// if let Some(url) = ray::runtime_context().dashboard_url() {
    ///     assert!(url.starts_with("http://127.0.0.1:"));
    /// }
    /// # ray::shutdown();
    /// ```
    pub fn dashboard_url(&self) -> Option<&str> {
        self.dashboard_url.as_deref()
    }

    /// The dashboard's token, when this node serves one: its mutating endpoints (kill an
    /// actor, cancel a task) always need it as `Authorization: Bearer TOKEN`, and so does
    /// every request when the dashboard is bound beyond loopback
    /// (`Config::dashboard_host`). A head's is its cluster token.
    ///
    /// # Examples
    /// ```
    /// let ctx = ray::runtime_context();
    /// assert_eq!(ctx.dashboard_url().is_some(), ctx.dashboard_token().is_some());
    /// # ray::shutdown();
    /// ```
    pub fn dashboard_token(&self) -> Option<&str> {
        self.dashboard_token.as_deref()
    }

    /// The file this node's log goes to, when one was configured
    /// ([`crate::Config::log_file`], env `RAY_LOG_FILE`; `ray start` sets it).
    ///
    /// # Examples
    /// ```
    /// // The embedded runtime logs wherever the program's tracing subscriber does.
    /// assert!(ray::runtime_context().log_file().is_none());
    /// # ray::shutdown();
    /// ```
    pub fn log_file(&self) -> Option<&std::path::Path> {
        self.log_file.as_deref()
    }

    /// The node the caller runs on.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }
    /// The namespace of named actors.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The task being executed, `None` in the driver.
    pub fn task_id(&self) -> Option<TaskId> {
        self.task_id
    }
    /// The actor whose method is running, if any.
    pub fn actor_id(&self) -> Option<ActorId> {
        self.actor_id
    }
    /// Whether `ray::cancel` was called on the running task: a synchronous task cannot be
    /// interrupted, so long loops should check this and return early.
    pub fn is_canceled(&self) -> bool {
        self.cancelled
    }
    /// Whether the current actor has been restarted after a crash.
    pub fn was_current_actor_reconstructed(&self) -> bool {
        self.restarted
    }
    /// Which try of the running task this is: 0 for the first, then one more for each
    /// retry (`retry_exceptions`, or its node died and it runs again elsewhere).
    ///
    /// # Examples
    /// ```
    /// #[ray::remote]
    /// fn flaky() -> Result<u32, String> {
    ///     let attempt = ray::runtime_context().attempt();
    ///     if attempt < 2 { Err(format!("try {attempt} failed")) } else { Ok(attempt) }
    /// }
    ///
    /// use ray::TaskOptionsBuilder;
    /// let r = flaky.options().retry_exceptions(true).max_retries(3).remote();
    /// assert_eq!(ray::get(&r).unwrap(), 2);
    /// # ray::shutdown();
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// The ids of the GPUs the node assigned to the calling task or actor (`num_gpus`):
    /// whole GPUs for a request of one or more, one shared GPU for a fraction. Empty
    /// outside such work. `ray::gpu::context()` opens the first one.
    ///
    /// # Examples
    /// ```
    /// #[ray::remote]
    /// fn gpus() -> Vec<u32> { ray::runtime_context().gpu_ids() }
    ///
    /// ray::init_with(ray::Config::new().num_gpus(2.0)).unwrap();
    /// use ray::TaskOptionsBuilder;
    /// assert_eq!(ray::get(&gpus.options().num_gpus(1.0).remote()).unwrap().len(), 1);
    /// assert!(ray::get(&gpus.remote()).unwrap().is_empty());
    /// ray::shutdown();
    /// ```
    pub fn gpu_ids(&self) -> Vec<u32> {
        self.gpu_ids.to_vec()
    }
}

/// The caller's job, node, task and actor ids. Starts the runtime if none is running.
pub fn runtime_context() -> RuntimeContext {
    let ctx = current_context();
    let node = match &ctx {
        Some(c) => Some(c.node.clone()),
        None => crate::node::current_node().ok(),
    };
    let (job_id, node_id, namespace) = match &node {
        Some(n) => (n.job_id, n.id, n.namespace.clone()),
        None => (JobId(0), NodeId(0), String::new()),
    };
    RuntimeContext {
        job_id,
        node_id,
        namespace,
        task_id: ctx.as_ref().and_then(|c| c.task_id),
        actor_id: ctx.as_ref().and_then(|c| c.actor_id),
        cancelled: ctx
            .as_ref()
            .and_then(|c| c.cancelled.as_ref())
            .is_some_and(|f| f.load(Ordering::Relaxed)),
        restarted: ctx.as_ref().is_some_and(|c| c.restarted),
        attempt: ctx.as_ref().map_or(0, |c| c.attempt),
        gpu_ids: ctx
            .as_ref()
            .map_or_else(|| Arc::from([]), |c| c.gpu_ids.clone()),
        cluster_address: node
            .as_ref()
            .and_then(|n| n.join_address.get().map(ToString::to_string)),
        dashboard_url: node
            .as_ref()
            .and_then(|n| n.dashboard.get().map(|d| format!("http://{}", d.addr))),
        dashboard_token: node
            .as_ref()
            .and_then(|n| n.dashboard.get().map(|d| d.token.clone())),
        log_file: node.as_ref().and_then(|n| n.log_file.clone()),
    }
}
