//! What the node manager tells of itself: resources, queue lengths and the recent task
//! history (`available_resources`, the dashboard, `ray status`, the timeline).

use actix::prelude::*;

use super::NodeManager;
use crate::resources::Resources;
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
            queued: self.ready.values().map(|q| q.len()).sum::<usize>() + self.infeasible.len(),
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
            // Tasks pipelined behind the lease producing their arguments wait for them too.
            waiting_for_deps: self.waiting.len()
                + self
                    .leases
                    .values()
                    .map(|l| {
                        l.batch
                            .lock()
                            .iter()
                            .filter(|s| s.deps.iter().any(|d| d.peek().is_none()))
                            .count()
                    })
                    .sum::<usize>(),
            running: self.running.len(),
            finished: self.finished,
            failed: self.failed,
            history: self.history.iter().cloned().collect(),
        }
    }
}
