//! Acting on the cluster by id, from wherever the request came in: kill an actor,
//! cancel a task. The dashboard's buttons (`server/actions.rs`) and the CLI's
//! `ray kill-actor` and `ray cancel` (`dashboard::kill_actor`, `cancel_task`) use these.

use std::sync::Arc;

use crate::actors::NodeActors;
use crate::actors::{CancelTask, KillRemoteActor};
use crate::ids::{ActorId, TaskId};
use crate::node::Node;

/// Kills actor `actor_id` at once wherever it lives (`restart`: as a crash, restarting
/// while its `max_restarts` allows): here if this node hosts it (`Some(true)`), else
/// through every other live node and driver, the one hosting it stopping it
/// (`Some(false)`); `None` when it is not here and this node is in no cluster. `by` names
/// who asked, in the reason a hosted actor dies with.
pub(super) async fn kill_anywhere(
    node: &Arc<Node>,
    actor_id: ActorId,
    restart: bool,
    by: &str,
) -> Option<bool> {
    if let Some(hosted) = node
        .actors()
        .actor_cells
        .get(actor_id)
        .and_then(|c| c.hosted())
    {
        hosted.terminate(&format!("killed from {by}"), restart);
        return Some(true);
    }
    // Elsewhere: the node hosting it stops it; the others have nothing to stop.
    let agent = node.actors().cluster.get()?;
    for (target, at) in super::state::others(node).await {
        agent.do_send(KillRemoteActor {
            target,
            at,
            actor_id,
            force: true,
            restart,
        });
    }
    Some(false)
}

/// Cancels task `task_id` on this node and on every other live node and driver (see
/// `StateQuery::Cancel`): its owner settles its returns as cancelled (and, `recursive`,
/// cancels what it submitted), the node running it stops it. How many nodes took the
/// request, this one included.
pub(super) async fn cancel_anywhere(
    node: &Arc<Node>,
    task_id: TaskId,
    force: bool,
    recursive: bool,
) -> usize {
    node.actors().manager.do_send(CancelTask {
        task_id,
        force,
        recursive,
    });
    let query = super::state::StateQuery::Cancel {
        task_id,
        force,
        recursive,
    };
    let others = super::state::from_others(node, &query).await;
    1 + others.iter().filter(|a| !a.is_null()).count()
}
