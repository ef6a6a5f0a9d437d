//! What tasks send their node's manager (`actors/node_manager.rs`, which handles them):
//! a task to schedule, a finished task, a worker whose batch ran out, a synchronous task
//! blocked in `get` and resumed. The messages belong
//! to this layer; the manager is above it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use actix::Message;

use super::TaskSpec;
use crate::ids::TaskId;

/// Schedules a task on this node (or routes it to another).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SubmitTask(pub(crate) TaskSpec);

/// A sync task blocked in `get`: lend its CPU to others.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TaskBlocked {
    pub(crate) task_id: TaskId,
}

/// The blocked task resumes: take its CPU back (possibly oversubscribing briefly).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TaskUnblocked {
    pub(crate) task_id: TaskId,
}

/// A task ran (for the node's counts and timeline).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TaskFinished(pub(crate) TaskEvent);

/// One finished task: what the node counts and the timeline shows.
#[derive(Debug, Clone)]
pub(crate) struct TaskEvent {
    pub(crate) task_id: TaskId,
    pub(crate) name: Arc<str>,
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) ok: bool,
    /// Which try it was.
    pub(crate) attempt: u32,
    /// What it failed with.
    pub(crate) error: Option<Arc<str>>,
}

/// A worker drained its batch: its lease ends and it becomes idle.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LeaseDone {
    pub(crate) worker: usize,
}

/// Tasks a worker runs back to back under one lease, without a round trip to the node
/// manager between them (Ray's worker-lease reuse). Shared with the worker's TaskActors.
pub(crate) type Batch = Arc<parking_lot::Mutex<VecDeque<TaskSpec>>>;
