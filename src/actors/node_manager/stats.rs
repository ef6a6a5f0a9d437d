//! What the node manager tells of itself: resources, queue lengths, the tasks running
//! and queued, and the recent task history (`available_resources`, the dashboard, `ray
//! status`, the timeline); and the samples of its load it takes for the dashboard's
//! plots.

use std::sync::Arc;

use actix::prelude::*;

use super::NodeManager;
use crate::ids::TaskId;
use crate::node::Load;
use crate::resources::Resources;
use crate::store::Located;
use crate::tasks::TaskEvent;

/// A snapshot of the node for `available_resources`, `timeline` and the like.
#[derive(Message)]
#[rtype(result = "NodeStats")]
pub(crate) struct QueryNode;

#[derive(Debug, Clone, MessageResponse)]
pub(crate) struct NodeStats {
    pub(crate) available: Resources,
    /// What the node offers now (placement-group bundles add their own names).
    pub(crate) total: Resources,
    pub(crate) queued: usize,
    /// Resource shapes of the tasks that fit no live node.
    pub(crate) infeasible: Vec<String>,
    pub(crate) waiting_for_deps: usize,
    pub(crate) running: usize,
    pub(crate) finished: u64,
    pub(crate) failed: u64,
    pub(crate) history: Vec<TaskEvent>,
}

impl Handler<QueryNode> for NodeManager {
    type Result = NodeStats;

    fn handle(&mut self, _: QueryNode, _: &mut Context<Self>) -> NodeStats {
        NodeStats {
            available: self.available.clone(),
            total: self.total.clone(),
            queued: self.queued(),
            infeasible: {
                let mut shapes: Vec<String> = self
                    .infeasible
                    .iter()
                    .map(|s| s.resources.to_string())
                    .collect();
                shapes.sort();
                shapes.dedup();
                shapes
            },
            waiting_for_deps: self.waiting_for_deps(),
            running: self.running.len(),
            finished: self.finished,
            failed: self.failed,
            history: self.history.iter().cloned().collect(),
        }
    }
}

impl NodeManager {
    /// Tasks waiting for resources (here or, infeasible, anywhere).
    fn queued(&self) -> usize {
        self.ready.values().map(|q| q.len()).sum::<usize>() + self.infeasible.len()
    }

    /// Tasks waiting for their arguments.
    fn waiting_for_deps(&self) -> usize {
        // Tasks pipelined behind the lease producing their arguments wait for them too.
        self.waiting.len()
            + self
                .leases
                .values()
                .map(|l| {
                    l.batch
                        .lock()
                        .iter()
                        .filter(|s| {
                            s.deps
                                .iter()
                                .any(|d| !matches!(d.located(), Located::Here(_)))
                        })
                        .count()
                })
                .sum::<usize>()
    }

    /// Records the node's load now in its samples (every `Config::dashboard_history`
    /// interval, on this actor's thread: counters and a lock, no allocation).
    pub(super) fn sample(&self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        node.samples.record(Load {
            tasks_running: self.running.len(),
            tasks_queued: self.queued() + self.waiting_for_deps(),
            store_bytes: node.store.summary().bytes_used,
        });
    }
}

/// The tasks this node runs or queues now, at most `limit`: running ones first.
#[derive(Message)]
#[rtype(result = "Vec<ActiveTask>")]
pub(crate) struct ListActive {
    pub(crate) limit: usize,
}

/// A task running or waiting on this node.
#[derive(Debug, Clone)]
pub(crate) struct ActiveTask {
    pub(crate) task_id: TaskId,
    pub(crate) name: Arc<str>,
    /// `RUNNING`, `PENDING_NODE_ASSIGNMENT` (waiting for resources) or
    /// `PENDING_ARGS_AVAIL` (for its arguments).
    pub(crate) state: &'static str,
}

impl Handler<ListActive> for NodeManager {
    type Result = MessageResult<ListActive>;

    fn handle(&mut self, msg: ListActive, _: &mut Context<Self>) -> Self::Result {
        let active = |task_id, name: &Arc<str>, state| ActiveTask {
            task_id,
            name: name.clone(),
            state,
        };
        let running = self
            .running
            .iter()
            .map(|(id, r)| active(*id, &r.name, "RUNNING"));
        let queued = self
            .ready
            .values()
            .flatten()
            .chain(&self.infeasible)
            .map(|s| active(s.id, &s.name, "PENDING_NODE_ASSIGNMENT"));
        let waiting = self
            .waiting
            .iter()
            .map(|(id, (_, _, name))| active(*id, name, "PENDING_ARGS_AVAIL"));
        MessageResult(
            running
                .chain(queued)
                .chain(waiting)
                .take(msg.limit)
                .collect(),
        )
    }
}
