//! Tasks across nodes: sending a task to the node placement chose (`RunRemote`), running
//! a task another node sent (`RunTask`), and settling a caller's returns from the answer
//! (shared with remote actor calls).

use std::sync::Arc;

use actix::prelude::*;

use std::sync::atomic::{AtomicBool, Ordering};

use super::lineage::{HeldResult, Lineage, LineageBudget};
use super::objects::{encode_for, lend, loan};
use super::{ClusterAgent, Inbound};
use crate::ids::{NodeId, ObjectId};
use crate::node::{HEAVY_BYTES, Node, off_node_thread, with_context};
use crate::resources::Resources;
use crate::store::{Handoff, RawRef, StoredValue};
use crate::tasks::{Placement, place, to_resources};
use crate::transport::{Bulk, WireMessage};
use crate::{Error, Result, SchedulingStrategy};

/// Runs a task on another node and settles `returns` with its outcome.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RunRemote {
    pub(crate) target: NodeId,
    pub(crate) function: &'static str,
    /// The encoded arguments, and the resolved ones kept alive until the answer.
    pub(crate) args: Result<(Bulk, crate::tasks::Held)>,
    /// This node's refs the encoded arguments carry: lent to each node the task is sent
    /// to (`store/handoff.rs`).
    pub(crate) carried: Vec<RawRef>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) decode: crate::tasks::DecodeReturns,
    pub(crate) returns: Vec<RawRef>,
    pub(crate) retry: Retry,
}

/// What a task sent to another node needs to be tried again elsewhere when that node
/// dies (Ray's `max_retries` for system failures).
pub(crate) struct Retry {
    /// Attempts left (-1: always).
    pub(crate) left: i32,
    pub(crate) strategy: SchedulingStrategy,
    /// A cancelled task is not tried again.
    pub(crate) cancelled: Arc<AtomicBool>,
    /// The attempt this send starts with (above 0 when a lost result is made again).
    pub(crate) attempt: u32,
    /// Attempts left for the task's own errors (`retry_exceptions`; -1: always), and
    /// which of them are retried (`retry_exceptions_if`; `None`: all). The sending node
    /// retries them, since the executing node runs each attempt it is sent once.
    pub(crate) app_left: i32,
    pub(crate) app_if: Option<fn(&Error) -> bool>,
}

impl Retry {
    /// Whether `answer` is the task's own error that another attempt may fix; counts the
    /// attempt if so.
    fn again_for(&mut self, answer: &Result<(WireMessage, Vec<u8>)>) -> bool {
        let Ok((WireMessage::TaskResult { error: Some(e), .. }, _)) = answer else {
            return false;
        };
        if self.app_left == 0 || self.cancelled.load(Ordering::Relaxed) {
            return false;
        }
        let err = Error::from(e.clone());
        let own = matches!(err, Error::TaskFailed { .. } | Error::TaskPanicked { .. });
        if !own || !self.app_if.is_none_or(|retry| retry(&err)) {
            return false;
        }
        self.app_left -= i32::from(self.app_left > 0);
        tracing::info!(error = %err, retries_left = self.app_left, "the task failed on another node: trying it again (retry_exceptions)");
        true
    }
}

impl Handler<RunRemote> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: RunRemote, ctx: &mut Context<Self>) {
        let (args, held) = match msg.args {
            Ok(args) => args,
            Err(e) => {
                for r in &msg.returns {
                    r.complete(Err(e.clone()));
                }
                return;
            }
        };
        let (mut request, keep) =
            run_task_of(msg.function, msg.resources, &msg.returns, &msg.retry);
        let budget = self.lineage.clone();
        let (node, link, me) = (self.node.upgrade(), self.link(), ctx.address());
        let (pause, mut retry, function, carried) =
            (self.heartbeat, msg.retry, msg.function, msg.carried);
        let mut target = msg.target;
        let flight = self
            .flights
            .start(&msg.returns, target, retry.cancelled.clone());
        let run = async move {
            // Nodes that died under this task: not chosen again for it.
            let mut lost = Vec::new();
            let answer = loop {
                if let Some(f) = &flight {
                    f.at(target);
                }
                let here = Some(target) == node.as_ref().map(|n| n.id);
                if !here && let Some(lost) = node.as_ref().and_then(|n| n.cluster_lost(function)) {
                    break Err(lost);
                }
                tracing::debug!(target = %target, function, "task sent to another node");
                if let WireMessage::RunTask { keep: k, lent, .. } = &mut request {
                    *k = keep.filter(|_| !here);
                    // Each node the task goes to borrows the refs in its arguments.
                    *lent = lend(&me, node.as_ref(), target, carried.clone());
                }
                let answer = if here {
                    let local = Inbound {
                        from: target,
                        msg: request.clone(),
                        payload: args.concat(),
                        gone: None,
                    };
                    me.send(local)
                        .await
                        .map(|(m, bulk)| (m, bulk.concat()))
                        .map_err(|_| Error::ShutDown)
                } else {
                    link.request(target, None, request.clone(), args.clone())
                        .await
                };
                let dead = match &answer {
                    Err(Error::NodeDied { node_id }) => *node_id,
                    _ if retry.again_for(&answer) => {
                        if let WireMessage::RunTask { attempt, .. } = &mut request {
                            *attempt += 1;
                        }
                        continue;
                    }
                    _ => break answer,
                };
                if retry.left == 0 || retry.cancelled.load(Ordering::Relaxed) {
                    break answer;
                }
                retry.left -= i32::from(retry.left > 0);
                if let WireMessage::RunTask { attempt, .. } = &mut request {
                    *attempt += 1;
                }
                lost.push(dead);
                tracing::warn!(function, dead = %dead, retries_left = retry.left, "the task's node died: trying it again elsewhere");
                let again = || next_node(node.as_ref(), &me, &request, &retry.strategy, &lost);
                match retry_target(again, pause, dead).await {
                    Some(n) => target = n,
                    // No live node fits now: the table may change; the dead one may too.
                    None => lost.retain(|n| *n != dead),
                }
            };
            drop(held);
            let WireMessage::RunTask {
                resources, attempt, ..
            } = request
            else {
                return;
            };
            let lineage = Lineage {
                function,
                args,
                refs: carried,
                resources,
                strategy: retry.strategy,
                retries_left: retry.left,
                attempt,
                cancelled: retry.cancelled,
            };
            let returns = (msg.returns, msg.decode);
            settle_sent(answer, node, returns, lineage, (me, target), &budget).await;
        };
        actix::spawn(run); // Its own task, not a context item (docs/internals.md).
    }
}

/// The `RunTask` request a task is sent as, and the id under which its one result may
/// stay on the node that makes it (`lineage.rs`).
fn run_task_of(
    function: &str,
    resources: Vec<(String, f64)>,
    returns: &[RawRef],
    retry: &Retry,
) -> (WireMessage, Option<ObjectId>) {
    let request = WireMessage::RunTask {
        function: function.to_string(),
        resources,
        attempt: retry.attempt,
        keep: None,
        capture: retry.strategy.captures(),
        lent: Vec::new(),
    };
    let keep = match returns {
        [one] => Some(one.id()),
        _ => None,
    };
    (request, keep)
}

/// Settles the returns of a task sent to node `at.1` from its answer: a large result that
/// node keeps becomes a held ref here, with the `lineage` to make it again if it is lost
/// (`lineage.rs`); anything else is decoded into the returns here.
async fn settle_sent(
    answer: Result<(WireMessage, Vec<u8>)>,
    node: Option<Arc<Node>>,
    (returns, decode): (Vec<RawRef>, crate::tasks::DecodeReturns),
    lineage: Lineage,
    (me, target): (Addr<ClusterAgent>, NodeId),
    budget: &Arc<LineageBudget>,
) {
    match (answer, node, returns.first()) {
        (Ok((WireMessage::TaskResultHeld { size }, _)), Some(node), Some(ret)) => {
            tracing::debug!(object_id = %ret.id(), holder = %target, bytes = size, "task result held by the node that made it");
            let at = (target, usize::try_from(size).unwrap_or(usize::MAX));
            let held = HeldResult::new(me, Arc::downgrade(&node), at, decode, lineage, budget);
            node.store.relocate(ret.id(), Arc::new(held));
        }
        (answer, node, _) => {
            settle_from_answer(node, answer, decode, &returns, (&me, target)).await
        }
    }
}

/// Where a task whose node `dead` died tries again (`again` places it): a live node
/// that fits, found now or (while a generic node starts a worker of its job) once the
/// worker joins; `None` after a pause when none does.
async fn retry_target(
    again: impl Fn() -> Next,
    pause: std::time::Duration,
    dead: NodeId,
) -> Option<NodeId> {
    match again() {
        Next::Node(n) => Some(n),
        Next::Starting => {
            // The start itself has a deadline on the generic node; this one bounds
            // the wait for the worker to appear in the table.
            let deadline = std::time::Instant::now() + WORKER_START_WAIT;
            loop {
                actix_rt::time::sleep(pause).await;
                match again() {
                    Next::Node(n) => return Some(n),
                    _ if std::time::Instant::now() > deadline => return Some(dead),
                    _ => {}
                }
            }
        }
        Next::None => {
            actix_rt::time::sleep(pause).await;
            None
        }
    }
}

/// How long a task waits for a generic node to start a worker of its job to retry on.
const WORKER_START_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a task tries again.
enum Next {
    /// A live node that fits it.
    Node(NodeId),
    /// None yet: a generic node was asked to start a worker of its job.
    Starting,
    /// None.
    None,
}

/// Where to try a task again: a live node that fits it and has not died under it, or a
/// generic node asked to start a worker for it.
fn next_node(
    node: Option<&Arc<Node>>,
    me: &Addr<ClusterAgent>,
    request: &WireMessage,
    strategy: &SchedulingStrategy,
    lost: &[NodeId],
) -> Next {
    let WireMessage::RunTask { resources, .. } = request else {
        return Next::None;
    };
    let Some(node) = node else {
        return Next::None;
    };
    match (
        placement_again(node, &to_resources(resources), strategy, lost),
        node.work.job,
    ) {
        (Placement::Local, _) => Next::Node(node.id),
        (Placement::Remote(n), _) => Next::Node(n),
        (Placement::StartWorker(host), Some(job_id)) => {
            me.do_send(super::StartWorkerOn { host, job_id });
            Next::Starting
        }
        _ => Next::None,
    }
}

/// A live node for work that needs `req`, other than the nodes in `lost` (which died
/// under it): this node or another.
pub(super) fn place_again(
    node: Option<&Arc<Node>>,
    req: &Resources,
    strategy: &SchedulingStrategy,
    lost: &[NodeId],
) -> Option<NodeId> {
    match placement_again(node?, req, strategy, lost) {
        Placement::Local => node.map(|n| n.id),
        Placement::Remote(n) => Some(n),
        _ => None,
    }
}

/// Where work that needs `req` goes, leaving out the nodes in `lost`.
pub(super) fn placement_again(
    node: &Arc<Node>,
    req: &Resources,
    strategy: &SchedulingStrategy,
    lost: &[NodeId],
) -> Placement {
    let view: Vec<_> = node
        .view
        .read()
        .iter()
        .filter(|n| !lost.contains(&n.node_id))
        .cloned()
        .collect();
    let mut turn = crate::tasks::Turn {
        next: lost.len(),
        last: None,
    };
    let placement = place(
        node.id,
        &node.total,
        &node.total,
        req,
        strategy,
        &view,
        &node.work,
        &mut turn,
    );
    match placement {
        Placement::Local if lost.contains(&node.id) => Placement::Infeasible,
        p => p,
    }
}

/// Settles a caller's `returns` from a `TaskResult` answer of node `from.1`, decoding the
/// values with `decode` in the node's context (refs inside them become copies pulled from
/// their node, taking over the borrows the answer lent).
pub(super) async fn settle_from_answer(
    node: Option<Arc<Node>>,
    answer: Result<(WireMessage, Vec<u8>)>,
    decode: crate::tasks::DecodeReturns,
    returns: &[RawRef],
    (me, from): (&Addr<ClusterAgent>, NodeId),
) {
    let outcome = match answer {
        Ok((WireMessage::TaskResult { error: None, lent }, bytes)) if bytes.len() < HEAVY_BYTES => {
            let mut handoff = Handoff::with(loan(me, from, lent));
            handoff.run(|| with_context(node.map(|n| n.context()), || decode(&bytes)))
        }
        Ok((WireMessage::TaskResult { error: None, lent }, bytes)) => {
            // A large value is decoded (and stored, which may spill) off the node thread.
            let owned = returns.to_vec();
            let mut handoff = Handoff::with(loan(me, from, lent));
            let decoded = off_node_thread(bytes.len(), node, move || {
                settle(&owned, handoff.run(|| decode(&bytes)));
                Ok(())
            });
            match decoded.await {
                Ok(()) => return,
                Err(e) => Err(e),
            }
        }
        Ok((WireMessage::TaskResult { error: Some(e), .. }, _)) => Err(e.into()),
        Ok((WireMessage::Error { message }, _)) => Err(Error::NotConnected(message)),
        Ok((other, _)) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
        Err(e) => Err(e),
    };
    settle(returns, outcome);
}

/// Settles `returns` with the decoded values, one each, or all with the error.
fn settle(returns: &[RawRef], outcome: Result<Vec<StoredValue>>) {
    match outcome {
        Ok(values) if values.len() == returns.len() => {
            for (r, v) in returns.iter().zip(values) {
                r.complete(Ok(v));
            }
        }
        Ok(_) => {
            for r in returns {
                r.complete(Err(Error::Serialization("wrong number of returns".into())));
            }
        }
        Err(e) => {
            for r in returns {
                r.complete(Err(e.clone()));
            }
        }
    }
}

/// The answer carrying one settled object's encoded value (or its error) to node `to`:
/// refs of this node inside the value are lent to it.
pub(super) async fn answer_with(
    r: RawRef,
    to: NodeId,
    me: Addr<ClusterAgent>,
    node: Option<Arc<Node>>,
) -> (WireMessage, Bulk) {
    let encoded = match r.settled().await {
        Ok(v) => encode_for(r, v, to, me, node).await,
        Err(e) => Err(e),
    };
    match encoded {
        // The value travels as the bulk payload, never inside a frame.
        Ok((bulk, lent)) => (WireMessage::TaskResult { error: None, lent }, bulk),
        Err(e) => failure(e),
    }
}

/// The answer of a task or call that failed.
pub(super) fn failure(e: Error) -> (WireMessage, Bulk) {
    (
        WireMessage::TaskResult {
            error: Some(e.into()),
            lent: Vec::new(),
        },
        Bulk::default(),
    )
}
