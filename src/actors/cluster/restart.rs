//! Actor restarts after a node died: the creating node keeps how it created each actor
//! that may restart (`max_restarts`), and re-creates it on another node that fits when
//! the node table shows its node dead.

use super::ClusterAgent;
use super::tasks::place_again;
use crate::actors::remote::Restart;
use crate::ids::{ActorId, NodeId};
use crate::transport::Bulk;
use crate::transport::WireMessage;

/// An actor this node created on another node, kept to re-create it when that node
/// dies: its creation message and payload, and where its handles send calls.
pub(crate) struct Owned {
    pub(super) node: NodeId,
    pub(super) request: WireMessage,
    pub(super) args: Bulk,
    pub(super) restart: Restart,
}

impl ClusterAgent {
    /// Re-creates, elsewhere, the actors this node created on `dead` that may restart.
    /// Their handles' calls go to the new node from now on, continuing their order there;
    /// calls that were in flight fail with `ActorDied`.
    pub(super) fn restart_actors_on(&mut self, dead: NodeId) {
        let node = self.node.upgrade();
        let ids: Vec<ActorId> = self
            .owned
            .iter()
            .filter(|(_, o)| o.node == dead)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(mut owned) = self.owned.remove(&id) else {
                continue;
            };
            let Some(routing) = owned.restart.routing.upgrade() else {
                continue; // Its creator's handles are gone: nothing to restart.
            };
            let target = place_again(
                node.as_ref(),
                &owned.restart.resources,
                &owned.restart.strategy,
                &[dead],
            );
            let Some(target) = target.filter(|_| owned.restart.left != 0) else {
                tracing::warn!(actor_id = %id, dead = %dead, "the actor's node died and it cannot restart");
                continue;
            };
            owned.restart.left -= i32::from(owned.restart.left > 0);
            // Calls numbered from here on go there, continuing the creator's order.
            let (caller, next) = routing.restarted(target);
            if let WireMessage::CreateActor { resume, lent, .. } = &mut owned.request {
                *resume = Some((caller, next));
                // The arguments' refs were lent to the dead node: the new one pulls
                // them as any decoder does.
                lent.clear();
            }
            tracing::warn!(actor_id = %id, dead = %dead, target = %target, "the actor's node died: restarting it elsewhere");
            if target == self.node_id {
                // Here: this node is not a peer of its own.
                let me = self.node_id;
                let answer = self.host_actor(me, owned.request.clone(), &owned.args.concat());
                if let WireMessage::Error { message } = answer {
                    tracing::warn!(actor_id = %id, error = %message, "actor restart failed");
                }
            } else {
                let send = self.request(target, None, owned.request.clone(), owned.args.clone());
                actix::spawn(async move {
                    if let Err(e) = send.await {
                        tracing::warn!(actor_id = %id, error = %e, "actor restart failed");
                    }
                });
            }
            owned.node = target;
            self.owned.insert(id, owned);
        }
    }

    /// Where an actor this node created lives now (asked by handles on other nodes whose
    /// calls were lost with its node): `None` when it does not come back.
    pub(super) fn locate(&self, actor_id: ActorId) -> WireMessage {
        WireMessage::ActorAt {
            actor: self
                .owned
                .get(&actor_id)
                .map(|o| crate::transport::WireActor {
                    actor_id,
                    name: String::new(),
                    class: String::new(),
                    node_id: o.node,
                    at: None,
                }),
        }
    }
}
