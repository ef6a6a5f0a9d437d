//! A call to an actor that restarts, lost with the actor's node: the handle follows the
//! actor to its new node (the creator's handle is moved by its own restart; a borrowed
//! one asks the creator, `LocateActor`), and with `max_task_retries` the call runs again
//! there as a new call of the handle.

use crate::actors::remote::{self, Routing, Ticket};
use crate::ids::{ActorId, NodeId};
use crate::transport::WireMessage;
use crate::{Error, Result};

/// A call to an actor that restarts, lost with the actor's node.
pub(super) struct Lost<'a> {
    pub(super) link: &'a super::Link,
    pub(super) routing: &'a Routing,
    pub(super) actor_id: ActorId,
    pub(super) patience: std::time::Duration,
}

impl Lost<'_> {
    /// While the call's node keeps dying under it: follows the actor to its new node and,
    /// with tries left, runs the call again there as a new call of the handle. Returns
    /// the last answer and the node it came from (`answered`: the first try's).
    pub(super) async fn follow(
        &self,
        mut request: WireMessage,
        payload: &crate::transport::Bulk,
        mut answer: Result<(WireMessage, Vec<u8>)>,
        (mut left, mut answered): (i32, NodeId),
    ) -> (Result<(WireMessage, Vec<u8>)>, NodeId) {
        while let Err(Error::NodeDied { node_id: dead }) = answer {
            // The creator's own handle has nothing to learn when no try is left; a
            // borrowed one must learn where the actor went for its next calls.
            if left == 0 && self.routing.creator.is_none() {
                break;
            }
            if !self.moved(dead).await || left == 0 {
                break;
            }
            left -= i32::from(left > 0);
            let ticket = self.routing.next();
            if let WireMessage::CallActor {
                caller, seq, lent, ..
            } = &mut request
            {
                // A new call of the handle: it runs after the calls already made. The
                // refs in its arguments were lent to the dead node: the new one pulls
                // them as any ref, while this call keeps them alive.
                (*caller, *seq) = (ticket.caller, ticket.seq);
                lent.clear();
            }
            answered = ticket.target;
            tracing::warn!(actor_id = %self.actor_id, dead = %dead, target = %ticket.target, "actor call lost with its node: running it again on the restarted actor");
            answer = self
                .link
                .request(ticket.target, None, request.clone(), payload.clone())
                .await;
        }
        (answer, answered)
    }

    /// Waits until the handle routes to a node other than `dead`: its creator moves it
    /// (the creator's handle), or this asks the creator where the actor went (a borrowed
    /// handle) and becomes a caller there. `false` when the actor does not come back.
    async fn moved(&self, dead: NodeId) -> bool {
        let deadline = std::time::Instant::now() + self.patience;
        loop {
            if self.routing.node() != dead {
                return true;
            }
            if let Some(creator) = self.routing.creator {
                let ask = WireMessage::LocateActor {
                    actor_id: self.actor_id,
                };
                match self
                    .link
                    .request(creator.node, creator.at, ask, Vec::new())
                    .await
                {
                    Ok((WireMessage::ActorAt { actor: Some(a) }, _)) if a.node_id != dead => {
                        if let Some(first) = self.routing.moved(dead, a.node_id) {
                            self.hold(first);
                        }
                        return true;
                    }
                    Ok((WireMessage::ActorAt { actor: Some(_) }, _)) => {}
                    // The creator will not restart it, or is gone itself.
                    _ => return false,
                }
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A borrowed handle's first call at the actor's new node: it keeps the actor alive
    /// there, as it did at the old one.
    fn hold(&self, first: Ticket) {
        tracing::info!(actor_id = %self.actor_id, target = %first.target, "a borrowed handle follows its restarted actor");
        let request = WireMessage::CallActor {
            actor_id: self.actor_id,
            caller: first.caller,
            seq: first.seq,
            method: remote::HOLD.to_string(),
            failed: false,
            lent: Vec::new(),
        };
        let send = self.link.request(first.target, None, request, Vec::new());
        // Not awaited: the calls after it wait for it at the host.
        actix::spawn(async move {
            let _ = send.await;
        });
    }
}
