//! `TaskSpec`: everything the node manager needs to schedule and run one task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::LocalBoxFuture;

use crate::Error;
use crate::ids::TaskId;
use crate::resources::Resources;
use crate::store::{RawRef, StoredValue};

/// What a task body produces: one stored value per return, or the error for all.
#[doc(hidden)]
pub type TaskOutput = crate::Result<Vec<StoredValue>>;

/// The body of a task. The `bool` says whether another attempt may follow (then the body
/// keeps a copy of its arguments; otherwise it moves them into the call).
pub(crate) enum TaskBody {
    Sync(Box<dyn FnMut(bool) -> TaskOutput + Send>),
    Async(Box<dyn FnMut(bool) -> LocalBoxFuture<'static, TaskOutput> + Send>),
}

/// How a task travels to another node: its registered name, its arguments encoded on
/// demand (after its dependencies resolved), and how to decode what comes back.
#[doc(hidden)]
pub struct RemoteForm {
    pub(crate) function: &'static str,
    pub(crate) encode: Box<dyn FnOnce() -> crate::Result<(crate::transport::Bulk, Held)> + Send>,
    pub(crate) decode: fn(&[u8]) -> crate::Result<Vec<StoredValue>>,
    /// A streaming generator: where its items go.
    pub(crate) stream: Option<StreamForm>,
}

/// Where a streaming generator placed on another node sends its items: the caller's
/// stream sender (a `node::StreamSender`, opaque to this layer) and how an item's bytes
/// become a stored value.
#[doc(hidden)]
pub struct StreamForm {
    pub(crate) sink: Box<dyn std::any::Any + Send>,
    pub(crate) decode_item: fn(&[u8]) -> crate::Result<StoredValue>,
}

/// What a remote task's caller keeps alive until the answer: its resolved arguments
/// (refs nested in them are fetched from the caller meanwhile).
#[doc(hidden)]
pub type Held = Box<dyn std::any::Any + Send>;

impl RemoteForm {
    /// Used by generated code.
    pub fn new(
        function: &'static str,
        encode: impl FnOnce() -> crate::Result<(crate::transport::Bulk, Held)> + Send + 'static,
        decode: fn(&[u8]) -> crate::Result<Vec<StoredValue>>,
    ) -> Self {
        Self {
            function,
            encode: Box::new(encode),
            decode,
            stream: None,
        }
    }

    /// A streaming generator's form: `sink` receives its items.
    pub(crate) fn streaming(
        function: &'static str,
        encode: impl FnOnce() -> crate::Result<(crate::transport::Bulk, Held)> + Send + 'static,
        sink: Box<dyn std::any::Any + Send>,
        decode_item: fn(&[u8]) -> crate::Result<StoredValue>,
    ) -> Self {
        fn no_returns(_: &[u8]) -> crate::Result<Vec<StoredValue>> {
            Ok(Vec::new())
        }
        Self {
            function,
            encode: Box::new(encode),
            decode: no_returns,
            stream: Some(StreamForm { sink, decode_item }),
        }
    }
}

pub(crate) struct TaskSpec {
    pub(crate) id: TaskId,
    pub(crate) name: Arc<str>,
    /// Objects that must be settled before the task may start (kept alive by this spec).
    pub(crate) deps: Vec<RawRef>,
    pub(crate) returns: Vec<RawRef>,
    pub(crate) resources: Resources,
    pub(crate) body: Option<TaskBody>,
    pub(crate) cancelled: Arc<AtomicBool>,
    /// Extra attempts left for application errors (`retry_exceptions`).
    pub(crate) retries_left: i32,
    /// Which application errors those attempts are for (`None`: all).
    pub(crate) retry_if: Option<fn(&crate::Error) -> bool>,
    /// Extra attempts left when the node running it dies (`max_retries`; -1: always).
    pub(crate) system_retries: i32,
    /// Which try this is (0 for the first; another node's retries count too).
    pub(crate) attempt: u32,
    /// Present for functions that can run on another node.
    pub(crate) remote: Option<RemoteForm>,
    pub(crate) strategy: crate::SchedulingStrategy,
    /// The GPUs it holds while it runs (set when it is started).
    pub(crate) gpu_ids: Arc<[u32]>,
    /// The placement group its own tasks run in (`capture_child_tasks`).
    pub(crate) capture: Option<crate::ids::PlacementGroupId>,
    /// In a job worker: it holds a lease on the generic node's resources (sent by
    /// another node, which leased before running it, or leased here before queueing).
    pub(crate) host_leased: bool,
    /// The task that submitted it here (cancelled with it, `recursive`).
    pub(crate) parent: Option<TaskId>,
}

impl crate::SchedulingStrategy {
    /// The group that work with this strategy makes its children run in.
    pub(crate) fn captures(&self) -> Option<crate::ids::PlacementGroupId> {
        match self {
            crate::SchedulingStrategy::PlacementGroup {
                group,
                capture_child_tasks: true,
                ..
            } => Some(*group),
            _ => None,
        }
    }
}

impl TaskSpec {
    pub(crate) fn is_sync(&self) -> bool {
        matches!(self.body, Some(TaskBody::Sync(_)))
    }

    /// Settles every return with `result` (values are matched by position).
    pub(crate) fn settle(&self, result: TaskOutput) {
        match result {
            Ok(values) if values.len() == self.returns.len() => {
                for (r, v) in self.returns.iter().zip(values) {
                    r.complete(Ok(v));
                }
            }
            Ok(values) => {
                let err = Error::TaskFailed {
                    function: self.name.to_string(),
                    message: format!(
                        "returned {} values for {} declared returns",
                        values.len(),
                        self.returns.len()
                    ),
                    cause: None,
                };
                self.fail(err);
            }
            Err(e) => self.fail(e),
        }
    }

    pub(crate) fn fail(&self, err: Error) {
        for r in &self.returns {
            r.complete(Err(err.clone()));
        }
    }
}

impl Drop for TaskSpec {
    /// A spec dropped before it ran (cancelled while queued, or the runtime stopped) still
    /// settles its returns; settled objects ignore this.
    fn drop(&mut self) {
        let err = if self.cancelled.load(Ordering::Relaxed) {
            Error::Cancelled { task_id: self.id }
        } else {
            Error::ShutDown
        };
        self.fail(err);
    }
}
