//! Placement-group bundles across nodes, in the agent: reserving bundles another node's
//! group placed here (`ReserveBundles` in), and `Ask`, one request to another node for
//! callers outside the agent (the creating node's `PlacementGroups`).

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::ClusterAgent;
use crate::Result;
use crate::actors::NodeActors;
use crate::ids::NodeId;
use crate::resources::Resources;
use crate::transport::{Bulk, WireMessage};

impl ClusterAgent {
    /// Reserves bundles of a placement group another node created (all or none).
    pub(super) fn reserve_bundles(
        &self,
        creator: NodeId,
        pg: crate::ids::PlacementGroupId,
        bundles: Vec<(u32, Vec<(String, f64)>)>,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let node = self.node.upgrade();
        async move {
            let outcome = async {
                let node = node.ok_or(crate::Error::ShutDown)?;
                let mut parsed = Vec::with_capacity(bundles.len());
                for (i, r) in &bundles {
                    let mut res = Resources::new();
                    for (k, v) in r {
                        res.set_units(k, crate::resources::to_units(k, *v)?);
                    }
                    parsed.push((*i, res));
                }
                let ask = crate::actors::ReserveBundles {
                    pg,
                    creator,
                    bundles: parsed,
                };
                node.actors()
                    .manager
                    .send(ask)
                    .await
                    .map_err(|_| crate::Error::ShutDown)?
            };
            match outcome.await {
                Ok(()) => (WireMessage::Ack, Bulk::default()),
                Err(e) => (
                    WireMessage::Error {
                        message: e.to_string(),
                    },
                    Bulk::default(),
                ),
            }
        }
        .boxed()
    }
}

/// Sends one request to another node and returns its answer (for callers outside the
/// agent: placement groups, the dashboard).
#[derive(Message)]
#[rtype(result = "Result<WireMessage>")]
pub(crate) struct Ask {
    pub(crate) target: NodeId,
    /// Where it listens, for a node the table does not list (a driver).
    pub(crate) at: Option<super::NodeAddr>,
    pub(crate) msg: WireMessage,
}

impl Handler<Ask> for ClusterAgent {
    type Result = ResponseFuture<Result<WireMessage>>;

    fn handle(&mut self, msg: Ask, _: &mut Context<Self>) -> Self::Result {
        let answer = self.request(msg.target, msg.at, msg.msg, Vec::new());
        Box::pin(async move { answer.await.map(|(m, _)| m) })
    }
}
