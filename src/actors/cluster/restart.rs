//! Actor restarts after a node died: the creating node keeps how it created each actor
//! that may restart (`max_restarts`), and re-creates it on another node that fits when
//! the node table shows its node dead.

use actix::prelude::*;

use super::ClusterAgent;
use super::WorkerOn;
use super::tasks::placement_again;
use crate::actors::remote::Restart;
use crate::ids::{ActorId, NodeId};
use crate::tasks::Placement;
use crate::transport::Bulk;
use crate::transport::WireMessage;

/// An actor this node created on another node, kept to re-create it when that node
/// dies: its creation message and payload, and where its handles send calls.
pub(crate) struct Owned {
    pub(super) node: NodeId,
    pub(super) request: WireMessage,
    pub(super) args: Bulk,
    /// What the arguments' refs need alive (the objects they name), for as long as
    /// the actor may be created again.
    pub(super) _held: Option<crate::tasks::Held>,
    pub(super) restart: Restart,
    /// Waiting for a job worker to start, to restart there.
    pub(super) waiting: bool,
}

impl ClusterAgent {
    /// Re-creates, elsewhere, the actors this node created on `dead` that may restart.
    /// Their handles' calls go to the new node from now on, continuing their order there;
    /// calls that were in flight run again there with `max_task_retries`, else fail with
    /// `ActorUnavailable` (`follow.rs`).
    pub(super) fn restart_actors_on(&mut self, dead: NodeId) {
        let node = self.node.upgrade();
        let ids: Vec<ActorId> = self
            .owned
            .iter()
            .filter(|(_, o)| o.node == dead && !o.waiting)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(owned) = self.owned.get_mut(&id) else {
                continue;
            };
            if owned.restart.routing.strong_count() == 0 {
                self.owned.remove(&id); // Its creator's handles are gone: nothing to restart.
                continue;
            }
            let placement = node.as_ref().map(|n| {
                placement_again(
                    n,
                    &owned.restart.resources,
                    &owned.restart.strategy,
                    &[dead],
                )
            });
            let target = match (placement, node.as_ref().and_then(|n| n.work.job)) {
                (_, _) if owned.restart.left == 0 => None,
                (Some(Placement::Local), _) => Some(self.node_id),
                (Some(Placement::Remote(n)), _) => Some(n),
                (Some(Placement::StartWorker(host)), Some(job_id)) => {
                    // A worker of the job on a generic node: it restarts there once the
                    // worker joined (its calls wait, as for any restart).
                    owned.waiting = true;
                    let started = self
                        .addr
                        .upgrade()
                        .map(|me| me.send(WorkerOn { host, job_id }));
                    let me = self.addr.clone();
                    actix::spawn(async move {
                        let Some(started) = started else { return };
                        let target = match started.await {
                            Ok(Ok(worker)) => Some(worker),
                            Ok(Err(e)) => {
                                tracing::warn!(actor_id = %id, host = %host, error = %e, "no worker to restart the actor in");
                                None
                            }
                            Err(_) => None,
                        };
                        if let Some(me) = me.upgrade() {
                            me.do_send(RestartAt { id, dead, target });
                        }
                    });
                    continue;
                }
                _ => None,
            };
            self.restart_at(id, dead, target);
        }
    }

    /// Re-creates actor `id`, lost with node `dead`, on `target` (`None`: it does not
    /// come back).
    fn restart_at(&mut self, id: ActorId, dead: NodeId, target: Option<NodeId>) {
        let Some(mut owned) = self.owned.remove(&id) else {
            return;
        };
        owned.waiting = false;
        let Some(routing) = owned.restart.routing.upgrade() else {
            return;
        };
        let Some(target) = target else {
            tracing::warn!(actor_id = %id, dead = %dead, "the actor's node died and it cannot restart");
            return;
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
                    creator: None,
                    task_retries: 0,
                }),
        }
    }
}

/// A worker started for an actor lost with node `dead` joined (`target`), or none could
/// start (`None`).
#[derive(Message)]
#[rtype(result = "()")]
struct RestartAt {
    id: ActorId,
    dead: NodeId,
    target: Option<NodeId>,
}

impl Handler<RestartAt> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: RestartAt, _: &mut Context<Self>) {
        self.restart_at(msg.id, msg.dead, msg.target);
    }
}
