//! One node as every layer above the store and task specs sees it: `Node` (its store,
//! manager and registry addresses, its tables), the per-thread execution context through
//! which code inside a task reaches *its* node, the one process-wide handle to the
//! driver's node, and `block_on` for synchronous callers. Starting and stopping a node is
//! the composition root's (`runtime`), which registers itself here as the [`Starter`].

mod context;
mod executors;
mod generators;
mod global;
mod offload;
mod refs;
mod samples;
mod stream;
mod submit;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use actix::Recipient;
use actix_rt::{ArbiterHandle, System};

pub(crate) use context::{
    ExecContext, WithContext, captured_group, current_context, current_task, set_thread_context,
    with_context,
};
pub(crate) use executors::{BlockedExecutor, Executors};
pub use generators::RemoteGenerator;
pub(crate) use generators::lookup as lookup_generator;
pub(crate) use global::{Global, Starter, current_node, running_node, with_global};
pub(crate) use offload::{HEAVY_BYTES, off_node_thread};
pub(crate) use samples::{DEFAULT_EVERY, DEFAULT_SAMPLES, Load, Samples};
pub(crate) use stream::Window;
pub use stream::{ObjectRefStream, RawStream, StreamSender};
pub(crate) use submit::submit;

use crate::ids::{JobId, NodeId};
use crate::resources::Resources;
use crate::store::{MemoryStore, PullObject, ReleaseBorrow};
use crate::tasks::{SubmitTask, TaskBlocked, TaskUnblocked};
use crate::{Error, Result};

/// One node: what every component of it shares. Held as `Arc<Node>` by the global handle
/// and by the execution context of every task and actor running on it.
pub(crate) struct Node {
    pub(crate) id: NodeId,
    pub(crate) job_id: JobId,
    /// Whose work this node places: its build, and its job when that was submitted
    /// (`ray job submit`), whose worker processes generic nodes start.
    pub(crate) work: crate::tasks::Who,
    /// A job worker: the generic node whose resources it runs on, leased task by task
    /// and actor by actor.
    pub(crate) leases_from: Option<NodeId>,
    pub(crate) namespace: String,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) total: Resources,
    /// What this layer sends the node's scheduler.
    pub(crate) scheduler: Scheduler,
    pub(crate) system: System,
    /// The threads that run async task bodies; sync bodies get worker arbiters of their
    /// own.
    pub(crate) executors: Executors,
    pub(crate) shut_down: AtomicBool,
    pub(crate) started: Instant,
    /// Threads of stopped actors, kept for the next actors (starting a thread and its
    /// event loop is most of an actor's creation cost), each with whether its runtime
    /// has an I/O driver (see `actor_thread`). A lock, not an actor's state: whichever
    /// thread creates an actor takes one synchronously, and asking an actor would add a
    /// thread round trip (~16 µs, docs/machine-limits.md) to every creation.
    pub(crate) idle_actor_threads: parking_lot::Mutex<Vec<(bool, ArbiterHandle)>>,
    /// How a ref decoded here reaches the node holding its object (set on networked
    /// nodes).
    pub(crate) peers: std::sync::OnceLock<Peers>,
    /// The address other nodes join this cluster with (set on networked nodes).
    pub(crate) join_address: std::sync::OnceLock<crate::transport::JoinAddress>,
    /// Where this node serves the dashboard, and the handle that stops it.
    pub(crate) dashboard: std::sync::OnceLock<Served>,
    /// The file its log goes to (`Config::log_file`), and that file as opened when the
    /// node started: what `/api/logs` reads, so that replacing the path later (with a
    /// symlink to another file, say) shows nothing else.
    pub(crate) log_file: Option<std::path::PathBuf>,
    pub(crate) log: Option<std::fs::File>,
    /// The cluster's node table as this node last saw it (empty on a lone node). Written
    /// by the cluster agent, but a lock rather than the agent's own state: the node
    /// manager reads it to place each task bound for another node, and asking the agent
    /// would cost a thread round trip (~16 µs, docs/machine-limits.md) per task, against
    /// ~25 µs per task for `remote_tasks_async_10k` (BENCHMARKS.md).
    pub(crate) view: parking_lot::RwLock<Vec<crate::transport::WireNode>>,
    /// Set while the head does not answer for longer than the node timeout: the cluster
    /// is lost (Ray without GCS fault tolerance), and work for other nodes fails at once.
    pub(crate) head_lost: AtomicBool,
    /// The node's load over the last minutes (`Config::dashboard_history`), which its node
    /// manager samples and the dashboard plots.
    pub(crate) samples: Samples,
    /// The part the layer above keeps per node (the actors' addresses: `actors::Parts`),
    /// opaque here.
    pub(crate) above: Box<dyn std::any::Any + Send + Sync>,
}

/// The node manager as this layer reaches it: with the messages `tasks` owns.
pub(crate) struct Scheduler {
    /// A task to run here or route elsewhere.
    pub(crate) submit: Recipient<SubmitTask>,
    /// A synchronous task blocked in `get`: its CPU is lent back meanwhile.
    pub(crate) blocked: Recipient<TaskBlocked>,
    /// The blocked task resumes.
    pub(crate) unblocked: Recipient<TaskUnblocked>,
}

/// The cluster agent as a ref decoded here reaches it: with the messages `store` owns.
pub(crate) struct Peers {
    /// Copies an object held by another node.
    pub(crate) pull: Recipient<PullObject>,
    /// Tells a holder that this node's copy of its object is gone.
    pub(crate) release: Recipient<ReleaseBorrow>,
    /// Pins what left this node in a message that lends nothing (see [`PinEscaped`]).
    pub(crate) pin: Recipient<PinEscaped>,
}

/// An object's ref or an actor's handle cell that left this node in a message that lends
/// nothing (`store/handoff.rs`: compiled-graph channels, actor handles inside values):
/// the cluster agent's lender keeps it for the node timeout, so that the receivers' pulls
/// find it.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub(crate) struct PinEscaped(pub(crate) Escaped);

/// A node's dashboard: where it serves, its token (which the mutating endpoints always
/// need, and every request when bound beyond loopback), and the handle that stops it.
pub(crate) struct Served {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) token: String,
    #[cfg(feature = "dashboard")]
    pub(crate) handle: actix_web::dev::ServerHandle,
}

/// Something pinned while a message carrying it travels.
pub(crate) type Escaped = Box<dyn std::any::Any + Send + Sync>;

/// Idle actor threads kept per node; more are stopped.
const MAX_IDLE_ACTOR_THREADS: usize = 64;

impl Node {
    /// Keeps `r` (an object's ref, an actor's handle cell) alive for the grace period
    /// after it left in a message. A lone node has nobody to keep it for.
    pub(crate) fn pin_escaped(&self, r: Escaped) {
        if let Some(peers) = self.peers.get() {
            peers.pin.do_send(PinEscaped(r));
        }
    }

    /// The error for `what` (a task's function) when it needs another node and the
    /// head stopped answering: the cluster is lost (`head_lost`).
    pub(crate) fn cluster_lost(&self, what: &str) -> Option<Error> {
        self.head_lost.load(Ordering::SeqCst).then(|| {
            Error::NotConnected(format!(
                "`{what}` needs another node, but the cluster's head stopped answering: the cluster is lost"
            ))
        })
    }

    /// The context for code that runs for this node but outside any task (the node's
    /// own thread decoding values that arrived from other nodes).
    pub(crate) fn context(self: &Arc<Self>) -> ExecContext {
        ExecContext {
            node: self.clone(),
            task_id: None,
            actor_id: None,
            cancelled: None,
            releases_cpu: false,
            restarted: false,
            attempt: 0,
            gpu_ids: Arc::from([]),
            capture: None,
        }
    }

    /// An arbiter (OS thread) for a new actor: an idle one, or a fresh one. With `io`,
    /// its tokio runtime has an I/O driver (async methods may use sockets); without, only
    /// a timer: a sync-only actor needs no more, and the driver's epoll and wake-up
    /// descriptors (4 per thread) would cap a node at ~5,000 actors under a
    /// 20,000-descriptor limit.
    pub(crate) fn actor_thread(&self, io: bool) -> Result<ArbiterHandle> {
        let mut idle = self.idle_actor_threads.lock();
        if let Some(i) = idle.iter().rposition(|(kind, _)| *kind == io) {
            return Ok(idle.swap_remove(i).1);
        }
        drop(idle);
        spawn_arbiter(&self.system, move || {
            let mut runtime = tokio::runtime::Builder::new_current_thread();
            if io {
                runtime.enable_all();
            } else {
                runtime.enable_time();
            }
            runtime.build()
        })
    }

    /// Takes back the thread of a stopped actor (called on that thread).
    pub(crate) fn recycle_actor_thread(&self, arbiter: ArbiterHandle, io: bool) {
        let mut idle = self.idle_actor_threads.lock();
        if idle.len() < MAX_IDLE_ACTOR_THREADS && !self.shut_down.load(Ordering::Relaxed) {
            idle.push((io, arbiter));
        } else {
            arbiter.stop();
        }
    }
}

/// Starts an arbiter (an OS thread with the tokio runtime `make` builds) registered with
/// `system`, so that it stops with it, whatever System (if any) the calling thread
/// belongs to.
pub(crate) fn spawn_arbiter(
    system: &System,
    make: impl FnOnce() -> std::io::Result<tokio::runtime::Runtime> + Send + 'static,
) -> Result<ArbiterHandle> {
    let previous = System::try_current();
    let ours = previous.as_ref().is_some_and(|s| s.id() == system.id());
    if !ours {
        System::set_current(system.clone());
    }
    let arbiter = actix_rt::Arbiter::try_with_tokio_rt(make);
    // A thread that had no System keeps ours registered: actix-rt offers no way to
    // unregister, and it only matters to code that starts arbiters on that thread.
    if let (false, Some(p)) = (ours, previous) {
        System::set_current(p);
    }
    arbiter
        .map(|a| a.handle())
        .map_err(|e| Error::OutOfResources(format!("cannot start a thread: {e}")))
}

/// Wakes a parked thread; the flag lets the waiter spin briefly before parking.
struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// How long a blocked caller spins before parking: a reply is often microseconds away,
/// and parking plus a wake-up costs ~16 µs here (docs/machine-limits.md).
const SPIN: Duration = Duration::from_micros(200);

/// Runs a future to completion on the calling thread, releasing the caller's CPU to the
/// node while it waits if the caller is a synchronous task (so nested tasks never
/// deadlock, as in Ray).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    block_on_deadline(fut, None).unwrap_or_else(|_| unreachable_timeout())
}

fn unreachable_timeout() -> ! {
    // `block_on_deadline` only times out when given a deadline, and `block_on` gives none.
    unreachable!("block_on without a deadline cannot time out")
}

/// A future that completes after `after`, kept by the current node's timer (so that
/// code on any executor can wait with a timeout).
pub(crate) fn alarm(
    after: std::time::Duration,
) -> crate::Result<futures::channel::oneshot::Receiver<()>> {
    let node = current_node()?;
    let (tx, rx) = futures::channel::oneshot::channel();
    node.system.arbiter().spawn(async move {
        actix_rt::time::sleep(after).await;
        let _ = tx.send(());
    });
    Ok(rx)
}

/// Like [`block_on`], giving up at `deadline` with `Err(())`.
pub(crate) fn block_on_deadline<F: Future>(
    fut: F,
    deadline: Option<Instant>,
) -> std::result::Result<F::Output, ()> {
    let mut fut = pin!(fut);
    let tw = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
        return Ok(v);
    }
    // The value is not there yet: let the node use our CPU (and, on an async executor,
    // our thread's share of the tasks waiting for one) meanwhile.
    let _released = context::BlockedGuard::enter();
    let _executor = BlockedExecutor::enter();
    // While this process's endpoint thread polls for the value (it comes from another
    // node), spinning here too would only take the CPU that thread or the other host's
    // work needs.
    let spin = if crate::transport::polling() {
        Duration::ZERO
    } else {
        SPIN
    };
    let spin_until = Instant::now() + spin;
    loop {
        if tw.woken.swap(false, Ordering::Acquire) {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return Ok(v);
            }
            continue;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(());
        }
        if now < spin_until {
            std::thread::yield_now();
            continue;
        }
        match deadline {
            Some(d) => std::thread::park_timeout(d.saturating_duration_since(now)),
            None => std::thread::park(),
        }
    }
}
