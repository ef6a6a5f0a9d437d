//! Compiled graphs across nodes (`ray::dag`), in the agent: opening a persistent channel
//! to an actor on another node for the driver's graph, and handing a channel another
//! node opened to the actor it names (which serves it on a thread of its own).

use actix::prelude::*;

use super::{ClusterAgent, NodeAddr};
use crate::ids::{ActorId, NodeId};
use crate::transport::{Channel, WireMessage};
use crate::{Error, Result};

/// Opens a channel to actor `actor_id` on node `node` (reached at `at` when the table
/// does not list it).
#[derive(Message)]
#[rtype(result = "Result<Channel>")]
pub(crate) struct OpenDagChannel {
    pub(crate) node: NodeId,
    pub(crate) at: Option<NodeAddr>,
    pub(crate) actor_id: ActorId,
}

impl Handler<OpenDagChannel> for ClusterAgent {
    type Result = ResponseFuture<Result<Channel>>;

    fn handle(&mut self, msg: OpenDagChannel, _: &mut Context<Self>) -> Self::Result {
        let link = self.link();
        Box::pin(async move {
            let peer = link.peer(msg.node, msg.at).await?;
            let open = WireMessage::DagOpen {
                actor_id: msg.actor_id,
            };
            Ok(peer.open_channel(&open).await?)
        })
    }
}

/// A channel another node opened (`DagOpen`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct OpenedChannel {
    pub(crate) from: NodeId,
    pub(crate) open: WireMessage,
    pub(crate) channel: Channel,
}

impl Handler<OpenedChannel> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: OpenedChannel, _: &mut Context<Self>) {
        let WireMessage::DagOpen { actor_id } = msg.open else {
            return;
        };
        let hosted = self
            .node
            .upgrade()
            .and_then(|n| n.actor_cells.get(actor_id))
            .and_then(|cell| cell.hosted());
        tracing::info!(node_id = %self.node_id, from = %msg.from, actor_id = %actor_id, found = hosted.is_some(), "compiled-graph channel opened");
        match hosted {
            Some(actor) => actor.serve_dag(msg.channel),
            None => {
                let mut channel = msg.channel;
                actix_rt::spawn(async move {
                    let err = Error::ActorNotFound {
                        name: actor_id.to_string(),
                        detail: " on this node (it is no longer alive)".into(),
                    };
                    let _ = channel
                        .send(&WireMessage::DagReply { result: Err(err) })
                        .await;
                    channel.finish();
                });
            }
        }
    }
}
