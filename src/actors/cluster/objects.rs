//! Objects across nodes. The node whose store created an object owns it; a node that
//! decodes a ref to it keeps a local copy under the same id, pulled from the holder in the
//! background (`PullObject`) and shared by every ref on that node. The holder counts each
//! node's pulls as borrows and keeps the object while any borrow is outstanding; a copy
//! whose last ref drops releases its borrow (`ReleaseBorrow`), and a dead node's borrows
//! go with it. A ref that leaves in a message is lent (`store/handoff.rs`): the receiver
//! is counted as a borrower before the message goes (`Lend`), and its copy takes the
//! borrow over or it releases it; a ref in a message that carries no loan is pinned for
//! the node timeout instead.

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;

use super::ClusterAgent;
use super::lender::{Borrow, Lend, Returned};
use crate::error::{Error, Result};
use crate::ids::{NodeId, ObjectId};
use crate::node::{Node, off_node_thread};
use crate::store::{Handoff, Loan, Located, PullObject, RawRef, ReleaseBorrow, StoredValue};
use crate::transport::{Bulk, WireMessage};

impl Handler<Lend> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: Lend, _: &mut Context<Self>) {
        self.lender.do_send(msg);
    }
}

/// Lends `refs` (this node's refs that a message to node `to` carries) to `to`, before
/// the message goes; returns the message's loan list. A message to this node itself
/// lends nothing: its refs are pinned for the node timeout instead.
pub(super) fn lend(
    me: &Addr<ClusterAgent>,
    node: Option<&Arc<Node>>,
    to: NodeId,
    refs: Vec<RawRef>,
) -> Vec<ObjectId> {
    if refs.is_empty() {
        return Vec::new();
    }
    if let Some(n) = node
        && n.id == to
    {
        for r in refs {
            n.pin_escaped(Box::new(r));
        }
        return Vec::new();
    }
    let ids = refs.iter().map(RawRef::id).collect();
    me.do_send(Lend { to, refs });
    ids
}

/// The loan of a message from `holder` listing `ids`, released through `me`.
pub(super) fn loan(me: &Addr<ClusterAgent>, holder: NodeId, ids: Vec<ObjectId>) -> Option<Loan> {
    (!ids.is_empty()).then(|| Loan::new(holder, ids, me.clone().recipient()))
}

/// The encoding of the settled object `r` for node `to`, with its loan list: refs of
/// this node inside the value are lent to `to` (`lend`). A large value is encoded off
/// the node thread.
pub(super) async fn encode_for(
    r: RawRef,
    v: StoredValue,
    to: NodeId,
    me: Addr<ClusterAgent>,
    node: Option<Arc<Node>>,
) -> Result<(Bulk, Vec<ObjectId>)> {
    // In the node's context: refs inside are encoded as this node's.
    let (bytes, carried) = off_node_thread(v.size, node.clone(), move || {
        let mut handoff = Handoff::default();
        let bytes = handoff.run(|| r.encoded(&v))?;
        Ok((bytes, handoff.escaped()))
    })
    .await?;
    Ok((bytes, lend(&me, node.as_ref(), to, carried)))
}

impl Handler<PullObject> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: PullObject, ctx: &mut Context<Self>) {
        let request = WireMessage::FetchObject {
            object_id: msg.object_id,
            borrowed: msg.lent,
            redirect: true,
        };
        let answer = self.request(msg.holder, Some(msg.at), request, Vec::new());
        let (node, me, link) = (self.node.clone(), ctx.address(), self.link());
        let owner = msg.holder;
        tracing::debug!(node_id = %self.node_id, object_id = %msg.object_id, owner = %owner, lent = msg.lent, "pulling an object");
        let delay = self.pull_delay;
        // Its own task, not an item of the agent's context (which polls every item on
        // each wake-up: thousands of pulls in flight would make each wake-up cost that
        // many polls).
        actix::spawn(async move {
            if let Some(delay) = delay {
                actix_rt::time::sleep(delay).await;
            }
            let (holder, answer) = match answer.await {
                Ok((WireMessage::ObjectAt { holder }, _)) => {
                    redirected(&link, (owner, msg.at), holder, msg.object_id).await
                }
                answer => (owner, answer),
            };
            let mut nested = None;
            let bytes = match answer {
                Ok((WireMessage::ObjectData { error: None, lent }, bytes)) => {
                    // Refs inside the value come with their own loan.
                    nested = loan(&me, holder, lent);
                    Ok(bytes)
                }
                Ok((WireMessage::ObjectData { error: Some(e), .. }, _)) => Err(e.into()),
                Ok((other, _)) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
                // The node that made the object owns its value: with it, the value is gone.
                Err(Error::NodeDied { .. }) => Err(Error::OwnerDied {
                    object_id: msg.object_id,
                }),
                Err(e) => Err(e),
            };
            if bytes.is_ok() && !msg.lent && msg.state.counted() {
                // Every ref to the copy went while the value travelled (a lent copy's
                // drop released its borrow itself).
                me.do_send(ReleaseBorrow {
                    holder,
                    object_id: msg.object_id,
                });
                return;
            }
            let Some(copy) = msg.into.upgrade() else {
                return;
            };
            let copy = RawRef::from_inner(copy);
            let (decode, len) = (msg.decode, bytes.as_ref().map_or(0, Vec::len));
            let settle = copy.clone();
            // A large value is decoded (and stored, which may spill) off this thread.
            actix::spawn(async move {
                let decoded = off_node_thread(len, node.upgrade(), move || {
                    let mut handoff = Handoff::with(nested);
                    settle.complete(handoff.run(|| bytes.and_then(decode)));
                    Ok(())
                });
                if let Err(e) = decoded.await {
                    copy.complete(Err(e));
                }
            });
        });
    }
}

/// The value of `object_id` from `holder`, which holds it for its owner: a large task
/// result, sent from where it was made rather than through the owner. The owner keeps
/// it there while this node borrows it; when `holder` no longer has it (the owner read
/// it meanwhile, or `holder` died), the owner sends it (making it again if need be).
/// Returns the node that answered, and its answer.
async fn redirected(
    link: &super::Link,
    (owner, at): (NodeId, super::NodeAddr),
    holder: NodeId,
    object_id: ObjectId,
) -> (NodeId, Result<(WireMessage, Vec<u8>)>) {
    // Counted by the owner already: the holder counts nothing.
    let fetch = || WireMessage::FetchObject {
        object_id,
        borrowed: true,
        redirect: false,
    };
    let direct = link.request(holder, None, fetch(), Vec::new()).await;
    if let Ok((WireMessage::ObjectData { error: None, .. }, _)) = &direct {
        return (holder, direct);
    }
    tracing::debug!(object_id = %object_id, holder = %holder, "the holder could not send the value: asking its owner");
    let again = link.request(owner, Some(at), fetch(), Vec::new()).await;
    (owner, again)
}

impl Handler<ReleaseBorrow> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: ReleaseBorrow, _: &mut Context<Self>) {
        self.release_remote(msg.holder, msg.object_id, 1);
    }
}

impl ClusterAgent {
    /// Lets `holder` drop `holds` of the holds this node has on `object_id` (a copy
    /// gone; a held result read or dropped).
    pub(super) fn release_remote(&self, holder: NodeId, object_id: ObjectId, holds: usize) {
        let request = WireMessage::ReleaseObjects {
            object_ids: vec![object_id; holds],
        };
        // Fire and forget: a holder that cannot be reached has nothing left to release.
        let send = self.request(holder, None, request, Vec::new());
        actix::spawn(async move {
            let _ = send.await;
        });
    }

    /// Sends the encoded value of a local object (waiting for it if still pending), and
    /// counts the asking node as a borrower of it (unless it was `borrowed` already: a
    /// lent ref). Refs inside the value are lent to the asking node, and so are those a
    /// result kept here for it carries (`carried`).
    pub(super) fn serve_object(
        &mut self,
        from: NodeId,
        object_id: ObjectId,
        (borrowed, redirect): (bool, bool),
        me: Addr<ClusterAgent>,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let node = self.node.upgrade();
        let held = node
            .as_ref()
            .and_then(|n| n.store.owner(object_id))
            .map(RawRef::from_inner);
        // A value another node holds for this one is fetched there by the asker, not
        // brought here on its way (its borrow is counted here all the same).
        let at = match &held {
            Some(r) if redirect => match r.located() {
                Located::HeldBy(holder, _) if holder != from => Some(holder),
                _ => None,
            },
            _ => None,
        };
        // Asked now, not in the future below: a release from the same node that arrives
        // later reaches the lender after this borrow.
        let carried = self.lender.send(Borrow {
            from,
            object_id,
            held: held.clone(),
            borrowed,
        });
        async move {
            let carried = carried.await.unwrap_or_default();
            if let Some(holder) = at {
                return (WireMessage::ObjectAt { holder }, Bulk::default());
            }
            let outcome = match held {
                None => Err(Error::unreferenced(object_id)),
                // A large value is encoded once however many nodes ask for it at once.
                Some(r) => match r.settled().await {
                    Ok(v) => encode_for(r, v, from, me.clone(), node.clone()).await,
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok((bulk, mut lent)) => {
                    lent.extend(lend(&me, node.as_ref(), from, carried));
                    (WireMessage::ObjectData { error: None, lent }, bulk)
                }
                Err(e) => (
                    WireMessage::ObjectData {
                        error: Some(e.into()),
                        lent: Vec::new(),
                    },
                    Bulk::default(),
                ),
            }
        }
        .boxed()
    }

    pub(super) fn release_borrows(&mut self, from: NodeId, ids: Vec<ObjectId>) {
        self.lender.do_send(Returned { from, ids });
    }
}
