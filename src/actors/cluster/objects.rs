//! Objects across nodes. The node whose store created an object owns it; a node that
//! decodes a ref to it keeps a local copy under the same id, pulled from the holder in the
//! background (`PullObject`) and shared by every ref on that node. The holder counts each
//! node's pulls as borrows and keeps the object while any borrow is outstanding; a copy
//! whose last ref drops releases its borrow (`ReleaseBorrow`), and a dead node's borrows
//! go with it. A ref that leaves in a message is pinned for a grace period (the node
//! timeout) so that the receiver's pull finds it.

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::ClusterAgent;
use crate::error::Error;
use crate::ids::{NodeId, ObjectId};
use crate::runtime::off_node_thread;
use crate::store::{PullObject, RawRef, ReleaseBorrow};
use crate::transport::{Bulk, WireMessage};

/// The holder's side: objects pinned for the nodes that pulled them.
pub(super) type Borrowers = super::holds::Holds<ObjectId, RawRef>;

impl Handler<PullObject> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: PullObject, ctx: &mut Context<Self>) {
        let request = WireMessage::FetchObject {
            object_id: msg.object_id,
        };
        let answer = self.request(msg.holder, Some(msg.at), request, Vec::new());
        let node = self.node.clone();
        let holder = msg.holder;
        tracing::debug!(node_id = %self.node_id, object_id = %msg.object_id, holder = %holder, "pulling an object");
        ctx.spawn(answer.into_actor(self).map(move |answer, act, _| {
            let bytes = match answer {
                Ok((WireMessage::ObjectData { error: None }, bytes)) => Ok(bytes),
                Ok((WireMessage::ObjectData { error: Some(e) }, _)) => Err(e.into()),
                Ok((other, _)) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
                // The node that made the object owns its value: with it, the value is gone.
                Err(Error::NodeDied { .. }) => Err(Error::OwnerDied {
                    object_id: msg.object_id,
                }),
                Err(e) => Err(e),
            };
            if bytes.is_ok() && msg.state.counted() {
                // Every ref to the copy went while the value travelled.
                act.release_remote(holder, msg.object_id, 1);
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
                    settle.complete(bytes.and_then(|b| decode(&b)));
                    Ok(())
                });
                if let Err(e) = decoded.await {
                    copy.complete(Err(e));
                }
            });
        }));
    }
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
    /// counts the asking node as a borrower of it.
    pub(super) fn serve_object(
        &mut self,
        from: NodeId,
        object_id: ObjectId,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let held = self
            .node
            .upgrade()
            .and_then(|n| n.store.owner(object_id))
            .map(RawRef::from_inner);
        if let Some(r) = &held {
            self.borrowers.add(object_id, from, || r.clone());
        }
        async move {
            let outcome = match held {
                None => Err(Error::unreferenced(object_id)),
                // A large value is encoded once however many nodes ask for it at once.
                Some(r) => match r.settled().await {
                    Ok(v) => off_node_thread(v.size, None, move || r.encoded(&v)).await,
                    Err(e) => Err(e),
                },
            };
            match outcome {
                Ok(bulk) => (WireMessage::ObjectData { error: None }, bulk),
                Err(e) => (
                    WireMessage::ObjectData {
                        error: Some(e.into()),
                    },
                    Bulk::default(),
                ),
            }
        }
        .boxed()
    }

    pub(super) fn release_borrows(&mut self, from: NodeId, ids: &[ObjectId]) {
        for id in ids {
            self.borrowers.release(*id, from);
        }
    }

    /// Unpins the refs that left this node longer than the grace period ago.
    pub(super) fn sweep_escaped(&self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let grace = self.timeout;
        let expired: Vec<crate::runtime::Escaped> = {
            let mut q = node.escaped.lock();
            let keep = q
                .iter()
                .position(|(t, _)| t.elapsed() < grace)
                .unwrap_or(q.len());
            q.drain(..keep).map(|(_, r)| r).collect()
        };
        // Freed outside the lock.
        drop(expired);
    }
}
