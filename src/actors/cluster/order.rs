//! The host's side of calls from other nodes: each caller's calls run in the order it
//! made them (`seq`), whatever order their streams arrive in. A call ahead of its turn
//! (or ahead of its actor's creation) is parked, within bounds a peer cannot grow.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::channel::oneshot;

use super::ClusterAgent;
use super::actors::Hosted;
use super::tasks::{answer_with, failure};
use crate::actors::remote::{self, HostedActor};
use crate::ids::{ActorId, NodeId};
use crate::node::with_context;
use crate::store::{Handoff, Loan};
use crate::transport::{Bulk, WireMessage};
use crate::{Error, Result};
use actix::Addr;

/// A call waiting for its turn (or for its actor's creation).
pub(super) struct Parked {
    pub(super) from: NodeId,
    pub(super) method: String,
    pub(super) args: Vec<u8>,
    /// The borrows the caller lent with the arguments (`store/handoff.rs`).
    pub(super) loan: Option<Loan>,
    pub(super) failed: bool,
    pub(super) reply: oneshot::Sender<(WireMessage, Bulk)>,
}

#[derive(Default)]
pub(super) struct Order {
    pub(super) next: u64,
    pub(super) parked: BTreeMap<u64, Parked>,
}

/// How far ahead of a caller's next call another of its calls may arrive: a caller opens
/// its calls' streams in order, and no more streams than this are open at once.
pub(super) const MAX_AHEAD: u64 = crate::transport::MAX_STREAMS as u64;
/// Calls waiting for their turn on this node, all callers together, and the bytes of
/// their arguments: a peer that sends calls out of order and drops their streams
/// cannot make the node keep more.
const MAX_PARKED: usize = 1 << 16;
const MAX_PARKED_BYTES: usize = 1 << 30;

impl Hosted {
    /// Whether one more call with `bytes` of arguments may wait for its turn; makes room
    /// by dropping parked calls whose callers went (their streams closed) when full.
    pub(super) fn room_for(&mut self, bytes: usize) -> Result<(), String> {
        let fits = |p: (usize, usize)| p.0 < MAX_PARKED && p.1 + bytes <= MAX_PARKED_BYTES;
        if fits(self.parked) {
            return Ok(());
        }
        let mut dropped = (0, 0);
        for order in self.orders.values_mut() {
            order.parked.retain(|_, call| {
                let keep = !call.reply.is_canceled();
                if !keep {
                    dropped.0 += 1;
                    dropped.1 += call.args.len();
                }
                keep
            });
        }
        self.parked.0 -= dropped.0;
        self.parked.1 -= dropped.1;
        if fits(self.parked) {
            return Ok(());
        }
        Err(format!(
            "this node already has {} calls ({} bytes of arguments) waiting for their turn \
             (at most {MAX_PARKED} calls, {MAX_PARKED_BYTES} bytes)",
            self.parked.0, self.parked.1
        ))
    }
}

impl ClusterAgent {
    /// Runs the parked calls of `caller` that are next in order, once the actor exists.
    pub(super) fn drain(&mut self, actor_id: ActorId, caller: u64) {
        let Some(actor) = self.hosted_actor(actor_id) else {
            return;
        };
        let Some(order) = self.hosted.orders.get_mut(&(actor_id, caller)) else {
            return;
        };
        let node = self.node.upgrade();
        let me = self.addr.upgrade();
        let holds = &mut self.hosted.holds;
        // A gone actor fails every call waiting for it, in order or not.
        let gone = actor.is_err();
        loop {
            let next = if gone {
                order.parked.pop_first()
            } else {
                order.parked.remove_entry(&order.next)
            };
            let Some((seq, call)) = next else {
                break;
            };
            order.next = seq + 1;
            self.hosted.parked.0 -= 1;
            self.hosted.parked.1 -= call.args.len();
            // A handle on another node starts or stops keeping the actor alive, in its
            // place among that handle's calls.
            match call.method.as_str() {
                _ if call.failed => {}
                remote::HOLD => holds.add(actor_id, call.from, || actor.clone().ok()),
                remote::RELEASE => {
                    holds.release(actor_id, call.from);
                }
                _ => {
                    dispatch_one(node.as_ref(), &actor, call, me.clone());
                    continue;
                }
            }
            let _ = call.reply.send((WireMessage::Ack, Bulk::default()));
        }
    }

    /// Fails the calls still waiting for an actor whose creation never arrived.
    pub(super) fn give_up_on(&mut self, actor_id: ActorId) {
        if self.hosted_actor(actor_id).is_some() {
            return;
        }
        tracing::warn!(node_id = %self.node_id, actor_id = %actor_id, "calls for an actor this node does not host");
        self.hosted.gone.insert(
            actor_id,
            Error::ActorNotFound {
                name: actor_id.to_string(),
                detail: format!(" on node {}", self.node_id),
            },
        );
        self.drain_all(actor_id);
    }

    /// Runs what can run of every caller's parked calls to `actor_id`.
    pub(super) fn drain_all(&mut self, actor_id: ActorId) {
        let callers: Vec<u64> = self
            .hosted
            .orders
            .keys()
            .filter(|(a, _)| *a == actor_id)
            .map(|(_, c)| *c)
            .collect();
        for caller in callers {
            self.drain(actor_id, caller);
        }
    }
}

/// Submits one call to the actor (its arguments decoded under their loan); answers
/// when it finished.
fn dispatch_one(
    node: Option<&Arc<crate::node::Node>>,
    actor: &Result<Arc<dyn HostedActor>>,
    mut call: Parked,
    me: Option<Addr<ClusterAgent>>,
) {
    let Some(me) = me else {
        let _ = call.reply.send(failure(Error::ShutDown));
        return;
    };
    let submitted = match actor {
        Ok(h) => Handoff::with(call.loan.take()).run(|| {
            with_context(node.map(|n| n.context()), || {
                h.dispatch(&call.method, &call.args)
            })
        }),
        Err(e) => Err(e.clone()),
    };
    match submitted {
        // Submitted in order; the answer goes when the call finished.
        Ok(r) => {
            let (to, node) = (call.from, node.cloned());
            actix::spawn(async move {
                let _ = call.reply.send(answer_with(r, to, me, node).await);
            });
        }
        Err(e) => {
            let _ = call.reply.send(failure(e));
        }
    }
}
