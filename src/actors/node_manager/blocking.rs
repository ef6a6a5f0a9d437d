//! A task blocked in `ray::get` lends its CPU to the node until it returns, as a Ray
//! worker does: the task it waits for may need that CPU. A sync task's lease lends it
//! (and gives back the tasks batched behind it); an async task lends its own.

use actix::prelude::*;

use super::NodeManager;
use crate::actors::NodeActors;
use crate::tasks::{TaskBlocked, TaskSpec, TaskUnblocked};

impl Handler<TaskBlocked> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: TaskBlocked, ctx: &mut Context<Self>) {
        if self.in_job_worker()
            && let Some(agent) = self
                .node
                .upgrade()
                .and_then(|n| n.actors().cluster.get().cloned())
        {
            agent.do_send(crate::actors::LeaseBlocked(msg.task_id));
        }
        let Some(running) = self.running.get_mut(&msg.task_id) else {
            return;
        };
        let Some(worker) = running.worker else {
            if !running.lent {
                running.lent = true;
                let cpu = running.resources.only("CPU");
                self.available.give(&cpu);
                tracing::debug!(task_id = %msg.task_id, "async task blocked in get: CPU lent out");
                self.dispatch();
            }
            return;
        };
        let Some(lease) = self.leases.get_mut(&worker) else {
            return;
        };
        if lease.blocked {
            return;
        }
        lease.blocked = true;
        let cpu = lease.resources.only("CPU");
        // Tasks batched behind the blocked one must not wait for it (it may be waiting
        // for them): they go back to the front of their queue.
        let stolen: Vec<TaskSpec> = lease.batch.lock().drain(..).collect();
        self.available.give(&cpu);
        for spec in stolen.into_iter().rev() {
            self.requeue(spec, ctx);
        }
        tracing::debug!(task_id = %msg.task_id, "task blocked in get: CPU lent out");
        self.dispatch();
    }
}

impl Handler<TaskUnblocked> for NodeManager {
    type Result = ();

    fn handle(&mut self, msg: TaskUnblocked, _: &mut Context<Self>) {
        let Some(running) = self.running.get_mut(&msg.task_id) else {
            return;
        };
        let cpu = match running.worker {
            None if running.lent => {
                running.lent = false;
                running.resources.only("CPU")
            }
            Some(worker) => match self.leases.get_mut(&worker) {
                Some(lease) if lease.blocked => {
                    lease.blocked = false;
                    lease.resources.only("CPU")
                }
                _ => return,
            },
            None => return,
        };
        self.available.take(&cpu);
    }
}
