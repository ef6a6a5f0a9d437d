//! The execution context: which node, task and actor the current thread (or async task)
//! is running for. Set by workers, actor hosts and async task wrappers; read by every
//! public call so that code inside a task reaches its own node, never a global.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::Node;
use crate::actors::{TaskBlocked, TaskUnblocked};
use crate::ids::{ActorId, JobId, NodeId, TaskId};

/// What the current thread is executing.
#[derive(Clone)]
pub(crate) struct ExecContext {
    pub(crate) node: Arc<Node>,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) actor_id: Option<ActorId>,
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
    /// A synchronous task on a worker: its CPU is lent back while it blocks in `get`.
    pub(crate) releases_cpu: bool,
    pub(crate) restarted: bool,
    /// Which try of the task this is (0 for the first).
    pub(crate) attempt: u32,
    /// The GPUs the node assigned to the task or actor (`num_gpus`).
    pub(crate) gpu_ids: Arc<[u32]>,
    /// The placement group that tasks submitted from here run in
    /// (`capture_child_tasks`).
    pub(crate) capture: Option<crate::ids::PlacementGroupId>,
}

thread_local! {
    static CONTEXT: RefCell<Option<ExecContext>> = const { RefCell::new(None) };
}

/// The placement group that tasks submitted from the calling thread run in
/// (`capture_child_tasks`), read without cloning the context (task submission's path).
pub(crate) fn captured_group() -> Option<crate::ids::PlacementGroupId> {
    CONTEXT.with(|c| c.borrow().as_ref().and_then(|c| c.capture))
}

/// The context of the calling thread, if it runs inside a node.
pub(crate) fn current_context() -> Option<ExecContext> {
    CONTEXT.with(|c| c.borrow().clone())
}

/// Runs `f` with `ctx` as the thread's context, restoring the previous one after.
pub(crate) fn with_context<R>(ctx: Option<ExecContext>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<ExecContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CONTEXT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CONTEXT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx));
    let _restore = Restore(prev);
    f()
}

/// A future that runs with a context set during each poll: how async task bodies and
/// async actor methods see their node.
pub(crate) struct WithContext<F> {
    ctx: Option<ExecContext>,
    fut: Pin<Box<F>>,
}

impl<F> WithContext<F> {
    pub(crate) fn new(ctx: ExecContext, fut: F) -> Self {
        Self {
            ctx: Some(ctx),
            fut: Box::pin(fut),
        }
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        with_context(this.ctx.clone(), || this.fut.as_mut().poll(cx))
    }
}

/// While alive, the current synchronous task's CPU is lent back to its node.
pub(crate) struct BlockedGuard(Option<(Arc<Node>, TaskId)>);

impl BlockedGuard {
    pub(crate) fn enter() -> Self {
        let who = CONTEXT.with(|c| {
            c.borrow().as_ref().and_then(|ctx| {
                ctx.releases_cpu
                    .then_some(())
                    .and(ctx.task_id.map(|t| (ctx.node.clone(), t)))
            })
        });
        if let Some((node, task_id)) = &who {
            node.manager.do_send(TaskBlocked { task_id: *task_id });
        }
        BlockedGuard(who)
    }
}

impl Drop for BlockedGuard {
    fn drop(&mut self) {
        if let Some((node, task_id)) = self.0.take() {
            node.manager.do_send(TaskUnblocked { task_id });
        }
    }
}

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
    /// The address other nodes and drivers join this node's cluster with
    /// (`ray://TOKEN@HOST:PORT#CERT`), when the node is networked.
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
        None => super::current_node().ok(),
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

/// Gives the calling thread a context for good: an actor's own arbiter thread runs for
/// that actor only.
pub(crate) fn set_thread_context(ctx: Option<ExecContext>) {
    CONTEXT.with(|c| *c.borrow_mut() = ctx);
}
