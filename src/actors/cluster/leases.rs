//! A job worker's leases on its generic node's resources, by the task holding each.
//! A task sent by another node leases on arrival; a task of the worker's own (submitted
//! by a task or actor running in it) leases before it queues here, so every job on a
//! machine shares its generic node's resources. A lease goes back when the task's
//! returns settle, or early when the task blocks in `get`: Ray lends a blocked task's
//! CPU to others; here its whole lease goes back, and once the task resumes it runs on
//! without one (an unblocked Ray task may oversubscribe its node the same way).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::future::BoxFuture;

use super::ClusterAgent;
use super::workers::LeaseGuard;
use crate::Result;
use crate::actors::NodeActors;
use crate::ids::TaskId;
use crate::store::RawRef;
use crate::tasks::{SubmitTask, TaskSpec};

/// The leases held for tasks of this job worker.
#[derive(Default)]
pub(super) struct HostLeases(HashMap<TaskId, LeaseGuard>);

impl ClusterAgent {
    /// Holds `guard` for task `task` until its `returns` settle (or it blocks).
    pub(super) fn hold_lease(
        &mut self,
        task: TaskId,
        returns: Vec<RawRef>,
        guard: LeaseGuard,
        ctx: &mut Context<Self>,
    ) {
        self.host_leases.0.insert(task, guard);
        let settled = async move {
            for r in &returns {
                let _ = r.settled().await;
            }
        };
        ctx.spawn(settled.into_actor(self).map(move |_, act, _| {
            act.host_leases.0.remove(&task);
        }));
    }
}

/// From a job worker's node manager: a task of its own that would run here; it queues
/// once the generic node leased its resources (or fails with why it could not).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LeaseThenQueue(pub(crate) TaskSpec);

impl Handler<LeaseThenQueue> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, LeaseThenQueue(mut spec): LeaseThenQueue, ctx: &mut Context<Self>) {
        let Some(node) = self.node.upgrade() else {
            return; // Shutting down: the spec's drop settles its returns.
        };
        let manager = node.actors().manager.clone();
        spec.host_leased = true;
        let Some(lease) = self.lease_for_task(&super::wire_resources(&spec.resources)) else {
            manager.do_send(SubmitTask(spec));
            return;
        };
        ctx.spawn(
            lease
                .into_actor(self)
                .map(move |leased, act, ctx| match leased {
                    Ok(guard) => {
                        spec.gpu_ids = guard.gpus.clone();
                        act.hold_lease(spec.id, spec.returns.clone(), guard, ctx);
                        manager.do_send(SubmitTask(spec));
                    }
                    Err(e) => spec.fail(e),
                }),
        );
    }
}

/// From a job worker's node manager: task `0` blocked in `get`; its lease goes back.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LeaseBlocked(pub(crate) TaskId);

impl Handler<LeaseBlocked> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, LeaseBlocked(task): LeaseBlocked, _: &mut Context<Self>) {
        if self.host_leases.0.remove(&task).is_some() {
            tracing::debug!(node_id = %self.node_id, task_id = %task, "task blocked in get: its lease on the generic node went back");
        }
    }
}

/// Queues a task another node sent (`queue`, as task `task`, on the lease's GPUs) once
/// `lease` on the generic node is granted; the lease is then held for it.
pub(super) async fn under_lease(
    lease: BoxFuture<'static, Result<LeaseGuard>>,
    task: TaskId,
    me: &Addr<ClusterAgent>,
    queue: impl FnOnce(Arc<[u32]>) -> Result<RawRef>,
) -> Result<RawRef> {
    let guard = lease.await?;
    let ret = queue(guard.gpus.clone());
    if let Ok(r) = &ret {
        me.do_send(HoldLease {
            task,
            returns: vec![r.clone()],
            guard,
        });
    }
    ret
}

/// A task sent by another node holds the lease it was run under.
#[derive(Message)]
#[rtype(result = "()")]
struct HoldLease {
    task: TaskId,
    returns: Vec<RawRef>,
    guard: LeaseGuard,
}

impl Handler<HoldLease> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: HoldLease, ctx: &mut Context<Self>) {
        self.hold_lease(msg.task, msg.returns, msg.guard, ctx);
    }
}
