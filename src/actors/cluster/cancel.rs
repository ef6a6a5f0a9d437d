//! Cancelling a task this node sent to another node. The caller's returns settle as
//! cancelled at once (a late answer is ignored) and the task is not tried again; with
//! `force`, a task running in a job's worker process ends that process, as Ray's
//! `cancel(force=True)` ends the worker (the job's other tasks there are tried again on a
//! new worker). A node that is not a job worker cannot be ended this way: there `force`
//! acts as a plain cancel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::prelude::*;

use super::ClusterAgent;
use crate::Error;
use crate::ids::{NodeId, TaskId};
use crate::store::RawRef;
use crate::transport::{WireMessage, WorkerRequest};

/// How long a job worker told to end waits for its answer to leave.
const EXIT_AFTER: Duration = Duration::from_millis(20);

/// Tasks this node sent to another node and waits for.
#[derive(Default, Clone)]
pub(super) struct Flights(Arc<parking_lot::Mutex<HashMap<TaskId, Flight>>>);

struct Flight {
    /// Where it runs now (retries move it).
    target: NodeId,
    returns: Vec<RawRef>,
    cancelled: Arc<AtomicBool>,
}

impl Flights {
    /// Records a task sent to `target`; forgotten when the guard drops.
    pub(super) fn start(
        &self,
        returns: &[RawRef],
        target: NodeId,
        cancelled: Arc<AtomicBool>,
    ) -> Option<FlightGuard> {
        let id = returns.first()?.id().task_id();
        let flight = Flight {
            target,
            returns: returns.to_vec(),
            cancelled,
        };
        self.0.lock().insert(id, flight);
        Some(FlightGuard {
            flights: self.clone(),
            id,
        })
    }
}

/// A task in flight, forgotten when dropped.
pub(super) struct FlightGuard {
    flights: Flights,
    id: TaskId,
}

impl FlightGuard {
    /// The task was sent (again) to `target`.
    pub(super) fn at(&self, target: NodeId) {
        if let Some(f) = self.flights.0.lock().get_mut(&self.id) {
            f.target = target;
        }
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.flights.0.lock().remove(&self.id);
    }
}

/// From the node manager: cancel a task it sent to another node.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CancelRemote {
    pub(crate) task_id: TaskId,
    pub(crate) force: bool,
}

impl Handler<CancelRemote> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: CancelRemote, _: &mut Context<Self>) {
        let target = {
            let flights = self.flights.0.lock();
            let Some(f) = flights.get(&msg.task_id) else {
                return;
            };
            f.cancelled.store(true, Ordering::SeqCst);
            for r in &f.returns {
                r.complete(Err(Error::Cancelled {
                    task_id: msg.task_id,
                }));
            }
            f.target
        };
        tracing::info!(task_id = %msg.task_id, target = %target, force = msg.force, "task on another node cancelled");
        if !msg.force {
            return;
        }
        let end = WireMessage::Worker {
            request: WorkerRequest::End {
                task_id: msg.task_id,
            },
        };
        let sent = self.request(target, None, end, Vec::new());
        actix::spawn(async move {
            if let Ok((WireMessage::Error { message }, _)) = sent.await {
                tracing::warn!(target = %target, error = %message, "force cancel: the task's process was not ended");
            }
        });
    }
}

impl ClusterAgent {
    /// A job worker told by `from` to end (a force cancel of a task it runs): answers,
    /// then exits. Any other node refuses.
    pub(super) fn end_worker(&self, from: NodeId, task_id: TaskId) -> WireMessage {
        if self.me.host.is_none() {
            return WireMessage::Error {
                message: format!(
                    "node {} is not a job's worker process: a force cancel ends only those",
                    self.node_id
                ),
            };
        }
        tracing::warn!(node_id = %self.node_id, by = %from, task_id = %task_id, "force cancel: this job worker ends");
        actix::spawn(async {
            actix_rt::time::sleep(EXIT_AFTER).await;
            // As a killed worker: its generic node sees it exit and tells the head.
            std::process::exit(137);
        });
        WireMessage::Ack
    }
}
