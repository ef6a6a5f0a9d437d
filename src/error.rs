//! The one public error type, `ray::Error`, and `ray::Result`. Every variant names what
//! happened and its `Display` says what to do about it. Errors are `Clone` because one
//! failed object can be read by many getters and propagates into every dependent task.

mod dag;
mod gpu;

pub use dag::DagError;
pub use gpu::GpuError;

use std::time::Duration;

use crate::ids::{ActorId, NodeId, ObjectId, TaskId};

/// `Result<T, ray::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a Ray program.
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn fails(x: i64) -> Result<i64, String> {
///     if x < 0 { Err(format!("{x} is negative")) } else { Ok(x) }
/// }
///
/// let err = ray::get(&fails.remote(-1)).unwrap_err();
/// assert!(matches!(err, ray::Error::TaskFailed { .. }));
/// assert!(err.to_string().contains("-1 is negative"));
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The task (or actor method) returned `Err`; `message` is that error's `Display`,
    /// and what caused it (`std::error::Error::source`, or an `anyhow::Error`'s chain)
    /// is this error's [`source`](std::error::Error::source), so `{:#}` of an
    /// `anyhow::Error` made from it prints the whole chain.
    #[error("task `{function}` failed: {message}")]
    TaskFailed {
        /// The remote function or method that failed.
        function: String,
        /// The error's message.
        message: String,
        /// What caused it, as the task's error reported it (crosses nodes with it).
        #[source]
        #[serde(default)]
        cause: Option<ErrorCause>,
    },
    /// The task (or actor method) panicked.
    #[error("task `{function}` panicked: {message} (a panic in an actor method kills the actor)")]
    TaskPanicked {
        /// The remote function or method that panicked.
        function: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The actor is dead: killed, out of scope, crashed without restarts left, or its
    /// constructor failed. Create a new one, or give it `max_restarts`.
    #[error("actor {actor_id} died: {reason}")]
    ActorDied {
        /// The actor.
        actor_id: ActorId,
        /// Why it died.
        reason: String,
    },
    /// The actor is restarting (its node died and it has `max_restarts` left): this call
    /// was lost with the node. Calls made once it is back reach the new instance; give it
    /// `max_task_retries` to have lost calls run again there.
    #[error("actor {actor_id} is unavailable: {reason}")]
    ActorUnavailable {
        /// The actor.
        actor_id: ActorId,
        /// Why.
        reason: String,
    },
    /// No actor is registered under this name (or it has another type).
    #[error("no actor named `{name}`{detail}: create it with `A::options().name(..)` first")]
    ActorNotFound {
        /// The name looked up.
        name: String,
        /// Extra detail, e.g. a type mismatch.
        detail: String,
    },
    /// An actor with this name already exists; names are unique per namespace.
    #[error(
        "an actor named `{name}` already exists: use `ray::get_actor` to reach it, or pick another name"
    )]
    ActorNameTaken {
        /// The name requested.
        name: String,
    },
    /// The object is gone: all of its references were dropped, or its value was lost
    /// and cannot be made again (a `put` object, or a task result out of retries).
    #[error("object {object_id} is lost: {reason}")]
    ObjectLost {
        /// The object.
        object_id: ObjectId,
        /// What happened to it.
        reason: String,
    },
    /// The worker that owned the object died, so its value cannot be recovered.
    #[error("the owner of object {object_id} died")]
    OwnerDied {
        /// The object.
        object_id: ObjectId,
    },
    /// The node the work was on died.
    #[error("node {node_id} died")]
    NodeDied {
        /// The node.
        node_id: NodeId,
    },
    /// `get_timeout` or `wait` gave up.
    #[error(
        "timed out after {after:?} waiting for objects: raise the timeout or check `ray::memory_summary()` for stuck tasks"
    )]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The task was cancelled with `ray::cancel`.
    #[error("task {task_id} was cancelled")]
    Cancelled {
        /// The task.
        task_id: TaskId,
    },
    /// The task or actor asks for more resources than the node has: it could never run.
    #[error(
        "task `{function}` is infeasible: it requests {requested} but the node has {total}; lower the request or start the node with more resources"
    )]
    Infeasible {
        /// The function or actor class.
        function: String,
        /// The resources requested.
        requested: String,
        /// The node's total resources.
        total: String,
    },
    /// The executing node has no function or actor class of this name.
    #[error(
        "function `{function}` is not registered on node {node_id}: every node must run the same build of the program"
    )]
    FunctionNotRegistered {
        /// The function name.
        function: String,
        /// The node that lacks it.
        node_id: NodeId,
    },
    /// A value could not be encoded or decoded (wrong type across the wire, bad bytes).
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// No runtime is connected, or the cluster refused us (for example a bad token).
    #[error("not connected to a ray cluster: {0}")]
    NotConnected(String),
    /// A `ray::util::Queue` was full for a `put` that would not wait (longer).
    #[error("the queue is full")]
    QueueFull,
    /// A `ray::util::Queue` was empty for a `get` that would not wait (longer).
    #[error("the queue is empty")]
    QueueEmpty,
    /// A public API was called with an argument it cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The machine ran out of something the runtime needs to start work: threads, file
    /// descriptors, memory mappings (each actor has a thread of its own).
    #[error("out of resources: {0}")]
    OutOfResources(String),
    /// The cluster refused or could not serve a job request (`ray job`): an unknown job,
    /// a program that cannot run there, an upload that does not match its hash.
    #[error("job request failed: {0}")]
    Job(String),
    /// The runtime is shutting down or was shut down while the call waited.
    #[error("the ray runtime was shut down: call `ray::init()` again")]
    ShutDown,
    /// A malformed or oversized frame, or a transport failure.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// A GPU failure: no GPU assigned, a kernel rejected, a device lost (`ray::gpu`).
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A compiled graph could not compile or take an execution (`ray::dag`).
    #[error(transparent)]
    Dag(#[from] DagError),
}

/// One error below a task's error in its source chain, kept as text so it crosses nodes:
/// its message and, in turn, what caused it.
///
/// # Examples
/// ```
/// use std::error::Error as _;
///
/// #[derive(Debug)]
/// struct BadPort(std::num::ParseIntError);
/// impl std::fmt::Display for BadPort {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("bad port")
///     }
/// }
/// impl std::error::Error for BadPort {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// #[ray::remote]
/// fn port(s: String) -> Result<u16, BadPort> {
///     s.parse().map_err(BadPort)
/// }
///
/// let err = ray::get(&port.remote("70000".to_string())).unwrap_err();
/// assert!(err.to_string().contains("bad port"));
/// // What caused the task's error is the source of the caller's.
/// let cause = err.source().expect("the cause crossed over");
/// assert!(cause.to_string().contains("too large"));
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorCause {
    message: String,
    cause: Option<Box<ErrorCause>>,
}

impl ErrorCause {
    /// The chain below `top` (its sources), at most 64 deep; `None` when it has none.
    pub(crate) fn chain_of(top: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut messages = Vec::new();
        let mut next = top.source();
        while let Some(e) = next {
            if messages.len() == 64 {
                break;
            }
            messages.push(e.to_string());
            next = e.source();
        }
        messages.into_iter().rev().fold(None, |cause, message| {
            Some(ErrorCause {
                message,
                cause: cause.map(Box::new),
            })
        })
    }

    /// This cause's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ErrorCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|c| c as _)
    }
}

impl Error {
    /// [`Error::ObjectLost`] for an object whose every reference was dropped.
    pub(crate) fn unreferenced(object_id: ObjectId) -> Self {
        Error::ObjectLost {
            object_id,
            reason: "no reference to it remains: keep an ObjectRef alive while you need its value"
                .into(),
        }
    }

    /// Whether this error means the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled { .. })
    }

    /// Whether this error comes from a panic in user code.
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::TaskPanicked { .. })
    }
}

/// An error sent to another node: encoded for the transport, which carries it opaque.
impl From<Error> for crate::transport::WireError {
    fn from(e: Error) -> Self {
        // Every variant is strings, ids and numbers: encoding cannot fail; if it ever
        // did, the receiver still gets an error that says so.
        let bytes = rmp_serde::to_vec(&e).unwrap_or_else(|why| {
            rmp_serde::to_vec(&Error::Serialization(format!(
                "an error ({e}) could not be encoded: {why}"
            )))
            .unwrap_or_default()
        });
        crate::transport::WireError(bytes)
    }
}

/// An error another node sent; one that does not decode becomes a serialization error
/// naming that.
impl From<crate::transport::WireError> for Error {
    fn from(e: crate::transport::WireError) -> Self {
        rmp_serde::from_slice(&e.0).unwrap_or_else(|why| {
            Error::Serialization(format!("a peer sent an error that does not decode: {why}"))
        })
    }
}

/// Turns a caught panic payload into a readable message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    };
    // tokio's panic when a sync body blocks on a runtime of its own (`block_on`,
    // `reqwest::blocking`): say what works instead.
    if message.contains("from within a runtime") || message.contains("blocking is not allowed") {
        return format!("{message} [{BLOCKING_HINT}]");
    }
    message
}

/// Why a sync task cannot block on a runtime of its own, and what to do instead.
const BLOCKING_HINT: &str = "a sync task or actor method runs on one of the node's tokio threads: \
make it `async fn` and `.await` instead, or run your runtime on a thread of its own \
(`std::thread::spawn(move || rt.block_on(f)).join()`); see docs/tokio.md";
