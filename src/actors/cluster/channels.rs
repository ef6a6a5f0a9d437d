//! Persistent channels between nodes, in the agent: opening one to another node (a
//! compiled graph's driver sending a node its part, or one part reaching another), and
//! handing one another node opened to what serves it (`dag`, through the upcall the
//! composition root set: `Upcalls::channel`; a streaming generator's, `streams.rs`).

use actix::prelude::*;

use super::{ClusterAgent, NodeAddr};
use crate::Result;
use crate::ids::NodeId;
use crate::transport::{Channel, WireMessage};

/// Opens a channel to node `node` (reached at `at` when the table does not list it) with
/// `open` as its first frame (`DagPart` or `DagEdges`).
#[derive(Message)]
#[rtype(result = "Result<Channel>")]
pub(crate) struct OpenDagChannel {
    pub(crate) node: NodeId,
    pub(crate) at: Option<NodeAddr>,
    pub(crate) open: WireMessage,
}

impl Handler<OpenDagChannel> for ClusterAgent {
    type Result = ResponseFuture<Result<Channel>>;

    fn handle(&mut self, msg: OpenDagChannel, _: &mut Context<Self>) -> Self::Result {
        let link = self.link();
        Box::pin(async move {
            let peer = link.peer(msg.node, msg.at).await?;
            Ok(peer.open_channel(&msg.open, &Default::default()).await?)
        })
    }
}

/// A channel another node opened (`DagPart` or `DagEdges`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct OpenedChannel {
    pub(crate) from: NodeId,
    pub(crate) open: WireMessage,
    /// The opening request's bulk payload (a generator's arguments).
    pub(crate) payload: Vec<u8>,
    pub(crate) channel: Channel,
}

impl Handler<OpenedChannel> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: OpenedChannel, ctx: &mut Context<Self>) {
        match msg.open {
            WireMessage::RunGenerator { .. } => return self.serve_generator(msg, ctx.address()),
            WireMessage::PullStream { .. } => return self.serve_parked(msg, ctx.address()),
            _ => {}
        }
        if let Some(node) = self.node.upgrade() {
            (self.upcalls.channel)(node, msg);
        }
    }
}
