//! Large task results left where they were made, and made again when that node dies.
//!
//! As in Ray, a task's result of at least 100 KiB stays in the store of the node that ran
//! it: the caller (the object's owner) records where (`HeldResult`) and fetches the value
//! when it is first read, then lets the holder drop its copy. The owner also keeps the
//! task's lineage (function, encoded arguments, resources, retries left): when the
//! holder dies before the value was read, reading it runs the task again on a live node
//! (lineage reconstruction), bounded by the task's `max_retries`. Arguments are kept
//! encoded as they were sent: small ones by value, large objects by reference, kept
//! alive with the lineage (a lost one is made again by its own owner when pulled).
//! Lineage is bounded in memory (`Config::max_lineage_bytes`) and freed with the object.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use actix::prelude::*;
use serde_bytes::ByteBuf;

use super::ClusterAgent;
use super::tasks::{Retry, RunRemote, place_again};
use crate::ids::{NodeId, ObjectId};
use crate::node::{Node, off_node_thread};
use crate::store::{AnyValue, Elsewhere, Encoded, Handoff, RawRef, StoredValue};
use crate::tasks::to_resources;
use crate::transport::WireMessage;
use crate::transport::{Bulk, Piece};
use crate::{Error, Result, SchedulingStrategy};

/// What running a task again takes.
pub(crate) struct Lineage {
    pub(crate) function: &'static str,
    pub(crate) args: Bulk,
    /// This node's objects the arguments take by reference (large ones) or carry:
    /// kept while the lineage is, and lent again with the task.
    pub(crate) refs: Vec<RawRef>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) strategy: SchedulingStrategy,
    /// Attempts left (-1: always), shared with node-death retries as in Ray.
    pub(crate) retries_left: i32,
    /// The attempt that made the value.
    pub(crate) attempt: u32,
    pub(crate) cancelled: Arc<AtomicBool>,
}

/// The bytes of lineage a node keeps, against its cap.
pub(crate) struct LineageBudget {
    cap: usize,
    used: AtomicUsize,
}

impl LineageBudget {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` if they fit under the cap.
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|n| *n <= self.cap)
            })
            .is_ok()
    }
}

/// A lineage record, counted against its node's budget while it lives.
struct Kept {
    lineage: Lineage,
    budget: Arc<LineageBudget>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(self.lineage.args.len(), Ordering::AcqRel);
    }
}

/// The owner's record of a task result another node holds for it.
pub(crate) struct HeldResult {
    agent: Addr<ClusterAgent>,
    node: Weak<Node>,
    holder: NodeId,
    /// Its size there, in bytes: what placement weighs (a task goes where its large
    /// arguments are).
    size: usize,
    decode: crate::tasks::DecodeReturns,
    /// `None` when it did not fit the budget: then the object cannot be made again.
    lineage: Option<Kept>,
}

impl HeldResult {
    pub(crate) fn new(
        agent: Addr<ClusterAgent>,
        node: Weak<Node>,
        (holder, size): (NodeId, usize),
        decode: crate::tasks::DecodeReturns,
        lineage: Lineage,
        budget: &Arc<LineageBudget>,
    ) -> Self {
        let lineage = if budget.take(lineage.args.len()) {
            Some(Kept {
                lineage,
                budget: budget.clone(),
            })
        } else {
            tracing::debug!(
                function = lineage.function,
                cap = budget.cap,
                "lineage over max_lineage_bytes: this result cannot be made again if lost"
            );
            None
        };
        Self {
            agent,
            node,
            holder,
            size,
            decode,
            lineage,
        }
    }
}

impl Elsewhere for HeldResult {
    fn fetch(self: Arc<Self>, id: ObjectId) {
        let (node, agent) = (self.node.clone(), self.agent.clone());
        if agent.try_send(FetchHeld { id, held: self }).is_err()
            && let Some(node) = node.upgrade()
        {
            node.store.complete(id, Err(Error::ShutDown));
        }
    }

    fn holder(&self) -> NodeId {
        self.holder
    }

    fn size(&self) -> usize {
        self.size
    }

    fn release(&self, id: ObjectId) {
        // The owner's last ref went before it read the value.
        let _ = self.agent.try_send(ReleaseHeld {
            holder: self.holder,
            id,
            holds: 1,
        });
    }
}

/// Brings a held result to its owner.
#[derive(Message)]
#[rtype(result = "()")]
struct FetchHeld {
    id: ObjectId,
    held: Arc<HeldResult>,
}

/// Lets the holder of an object drop `holds` of its holds.
#[derive(Message)]
#[rtype(result = "()")]
struct ReleaseHeld {
    holder: NodeId,
    id: ObjectId,
    holds: usize,
}

/// The holder's side: keeps a result for the node that ran the task.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct KeepResult {
    pub(super) owner: NodeId,
    pub(super) result: RawRef,
    /// This node's refs the result carries: kept with it, lent to the owner when it
    /// fetches the result.
    pub(super) carried: Vec<RawRef>,
}

/// A result held for another node: its encoded bytes, served as they are.
pub(super) fn held_value(bytes: ByteBuf) -> StoredValue {
    // Served as they are: the held bytes themselves, shared, never copied.
    fn encode(v: &AnyValue) -> Result<Encoded> {
        v.clone()
            .downcast::<ByteBuf>()
            .map(|b| Encoded::Shared(Bulk::from_pieces([b as Piece])))
            .map_err(|_| Error::Serialization("a held result has an unexpected type".into()))
    }
    fn decode(bytes: &[u8]) -> Result<StoredValue> {
        Ok(held_value(ByteBuf::from(bytes.to_vec())))
    }
    StoredValue {
        size: bytes.len(),
        value: Arc::new(bytes),
        encode,
        decode,
    }
}

impl Handler<KeepResult> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: KeepResult, _: &mut Context<Self>) {
        self.lender.do_send(msg);
    }
}

impl Handler<ReleaseHeld> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: ReleaseHeld, _: &mut Context<Self>) {
        self.release_remote(msg.holder, msg.id, msg.holds);
    }
}

impl Handler<FetchHeld> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: FetchHeld, ctx: &mut Context<Self>) {
        let FetchHeld { id, held } = msg;
        tracing::debug!(node_id = %self.node_id, object_id = %id, holder = %held.holder, "fetching a result held elsewhere");
        let request = WireMessage::FetchObject {
            object_id: id,
            borrowed: false,
            redirect: false,
        };
        let answer = self.request(held.holder, None, request, Vec::new());
        ctx.spawn(answer.into_actor(self).map(move |answer, act, ctx| {
            let Some(node) = act.node.upgrade() else {
                return;
            };
            let lost = match answer {
                Ok((WireMessage::ObjectData { error: None, lent }, bytes)) => {
                    let (decode, holder, me) = (held.decode, held.holder, ctx.address());
                    let mut handoff = Handoff::with(super::objects::loan(&me, holder, lent));
                    // A large value is decoded (and stored, which may spill) off the
                    // node thread.
                    actix::spawn(async move {
                        let (store, own) = (node.store.clone(), node.store.clone());
                        let decoded = off_node_thread(bytes.len(), Some(node), move || {
                            let value = handoff.run(|| decode(&bytes)).and_then(|v| {
                                <[StoredValue; 1]>::try_from(v).map(|[v]| v).map_err(|_| {
                                    Error::Serialization("wrong number of returns".into())
                                })
                            });
                            Ok(store.complete(id, value))
                        });
                        let here = match decoded.await {
                            Ok(here) => here,
                            Err(e) => own.complete(id, Err(e)),
                        };
                        // The holder counted this pull, and held the result for us: both
                        // go once the value is here (the result's hold went already if
                        // every ref dropped meanwhile).
                        let holds = if here { 2 } else { 1 };
                        me.do_send(ReleaseHeld { holder, id, holds });
                    });
                    return;
                }
                Ok((WireMessage::ObjectData { error: Some(e), .. }, _)) => e.into(),
                Ok((other, _)) => {
                    let e = Error::Serialization(format!("unexpected answer {other:?}"));
                    node.store.complete(id, Err(e));
                    return;
                }
                Err(e) => e,
            };
            act.remake(&node, id, &held, &lost, ctx);
        }));
    }
}

impl ClusterAgent {
    /// The only copy of `id` is gone with its holder: runs the task that made it again,
    /// or settles the object as lost when it cannot be made again.
    fn remake(
        &mut self,
        node: &Arc<Node>,
        id: ObjectId,
        held: &HeldResult,
        why: &Error,
        ctx: &mut Context<Self>,
    ) {
        let Some(owner) = node.store.owner(id) else {
            // Nobody wants it any more.
            return;
        };
        let lost = |reason: String| {
            tracing::warn!(node_id = %node.id, object_id = %id, reason, "object lost");
            node.store.complete(
                id,
                Err(Error::ObjectLost {
                    object_id: id,
                    reason,
                }),
            );
        };
        let gone = format!("its only copy was on node {} ({why})", held.holder);
        let Some(Kept { lineage: l, .. }) = &held.lineage else {
            lost(format!(
                "{gone}, and its lineage was not kept (over max_lineage_bytes)"
            ));
            return;
        };
        if l.retries_left == 0 || l.cancelled.load(Ordering::Relaxed) {
            lost(format!(
                "{gone}, and `{}` has no retries left to make it again (max_retries)",
                l.function
            ));
            return;
        }
        let req = to_resources(&l.resources);
        let Some(target) = place_again(Some(node), &req, &l.strategy, &[held.holder]) else {
            lost(format!(
                "{gone}, and no live node can run `{}` to make it again",
                l.function
            ));
            return;
        };
        tracing::warn!(node_id = %node.id, object_id = %id, function = l.function, target = %target,
            "an object's only copy was lost with its node: running the task that made it again");
        ctx.notify(RunRemote {
            target,
            function: l.function,
            args: Ok((l.args.clone(), Box::new(()))),
            carried: l.refs.clone(),
            resources: l.resources.clone(),
            decode: held.decode,
            returns: vec![RawRef::from_inner(owner)],
            retry: Retry {
                left: l.retries_left - i32::from(l.retries_left > 0),
                strategy: l.strategy.clone(),
                cancelled: l.cancelled.clone(),
                attempt: l.attempt + 1,
                // Made again for a lost value: its own errors were settled the first time.
                app_left: 0,
                app_if: None,
            },
        });
    }
}
