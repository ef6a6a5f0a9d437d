//! `PlacementGroups`, one actor per node: the placement groups this node created. It
//! places each group (a node per bundle by the group's strategy, then each node asked to
//! reserve its bundles, all or none), tries waiting groups again every 100 ms, places a
//! group again when a node holding its bundles dies, and removes groups.

mod group;
mod place;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::prelude::*;

use super::cluster::Ask;
use super::{QueryNode, ReserveBundles, ReturnBundles};
use crate::actors::NodeActors;
use crate::ids::{NodeId, PlacementGroupId};
use crate::node::Node;
use crate::resources::Resources;
use crate::tasks::to_resources;
use crate::transport::WireMessage;
use crate::{Error, Result};
pub(crate) use group::Group;
pub use group::{PlacementGroupState, PlacementStrategy};
use place::place_bundles;

/// How often waiting groups are tried again.
const RETRY: Duration = Duration::from_millis(100);

pub(crate) struct PlacementGroups {
    node: Weak<Node>,
    groups: HashMap<PlacementGroupId, Entry>,
}

struct Entry {
    group: Arc<Group>,
    /// A placement attempt is in flight.
    placing: bool,
}

/// Places a new group.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct CreateGroup(pub(crate) Arc<Group>);

/// Removes a group, returning its bundles.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RemoveGroup(pub(crate) PlacementGroupId);

/// The group of this node with that name.
#[derive(Message)]
#[rtype(result = "Option<Arc<Group>>")]
pub(crate) struct FindGroup(pub(crate) String);

impl PlacementGroups {
    pub(crate) fn new(node: Weak<Node>) -> Self {
        Self {
            node,
            groups: HashMap::new(),
        }
    }

    /// Tries waiting groups again, and places again the groups a dead node held bundles of.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let dead: Vec<NodeId> = node
            .view
            .read()
            .iter()
            .filter(|n| !n.alive)
            .map(|n| n.node_id)
            .collect();
        let ids: Vec<PlacementGroupId> = self.groups.keys().copied().collect();
        for id in ids {
            let Some(e) = self.groups.get(&id) else {
                continue;
            };
            match e.group.state() {
                PlacementGroupState::Pending if !e.placing => self.place(id, ctx),
                PlacementGroupState::Created(nodes) if nodes.iter().any(|n| dead.contains(n)) => {
                    tracing::warn!(pg = %id, "a node holding bundles of the placement group died: placing it again");
                    give_back(&node, id, &nodes);
                    e.group.set(PlacementGroupState::Pending);
                }
                _ => {}
            }
        }
    }

    /// One attempt to place group `id`.
    fn place(&mut self, id: PlacementGroupId, ctx: &mut Context<Self>) {
        let (Some(node), Some(e)) = (self.node.upgrade(), self.groups.get_mut(&id)) else {
            return;
        };
        e.placing = true;
        let group = e.group.clone();
        let attempt = async move {
            // This node with what it has free now, then the live nodes as last heard.
            let here = node.actors().manager.send(QueryNode).await.ok()?.available;
            let mut nodes = vec![(node.id, here)];
            nodes.extend(
                node.view
                    .read()
                    .iter()
                    .filter(|n| n.alive && n.node_id != node.id)
                    .map(|n| (n.node_id, to_resources(&n.load.available))),
            );
            let chosen = place_bundles(&group.bundles, group.strategy, &nodes)?;
            let mut per_node: BTreeMap<NodeId, Vec<(u32, Resources)>> = BTreeMap::new();
            for (i, (n, b)) in chosen.iter().zip(&group.bundles).enumerate() {
                per_node.entry(*n).or_default().push((i as u32, b.clone()));
            }
            let asks = per_node
                .into_iter()
                .map(|(target, bundles)| reserve(&node, target, group.id, bundles));
            let answers = futures::future::join_all(asks).await;
            let got: Vec<NodeId> = answers
                .iter()
                .filter_map(|a| a.as_ref().ok())
                .copied()
                .collect();
            if got.len() == answers.len() {
                return Some(chosen);
            }
            // All or nothing: what was reserved goes back; the group waits.
            tracing::debug!(pg = %group.id, "a node refused its bundles: the placement group waits");
            give_back(&node, group.id, &got);
            None
        };
        ctx.spawn(attempt.into_actor(self).map(move |chosen, act, _| {
            let node = act.node.upgrade();
            match act.groups.get_mut(&id) {
                Some(e) => {
                    e.placing = false;
                    if let Some(nodes) = chosen {
                        tracing::info!(pg = %id, nodes = ?nodes, "placement group created");
                        e.group.set(PlacementGroupState::Created(nodes));
                    }
                }
                // Removed while it was being placed.
                None => {
                    if let (Some(node), Some(nodes)) = (node, chosen) {
                        give_back(&node, id, &nodes);
                    }
                }
            }
        }));
    }
}

/// Asks `target` to reserve `bundles` of group `pg`; the node on success.
async fn reserve(
    node: &Arc<Node>,
    target: NodeId,
    pg: PlacementGroupId,
    bundles: Vec<(u32, Resources)>,
) -> Result<NodeId> {
    if target == node.id {
        let ask = ReserveBundles {
            pg,
            creator: node.id,
            bundles,
        };
        return node
            .actors()
            .manager
            .send(ask)
            .await
            .map_err(|_| Error::ShutDown)?
            .map(|()| target);
    }
    let agent = node
        .actors()
        .cluster
        .get()
        .ok_or_else(|| Error::NotConnected("this node is not part of a cluster".into()))?;
    let msg = WireMessage::ReserveBundles {
        pg,
        bundles: bundles
            .into_iter()
            .map(|(i, r)| (i, r.to_map().into_iter().collect()))
            .collect(),
    };
    match agent
        .send(Ask {
            target,
            at: None,
            msg,
        })
        .await
        .map_err(|_| Error::ShutDown)??
    {
        WireMessage::Ack => Ok(target),
        WireMessage::Error { message } => Err(Error::NotConnected(message)),
        other => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
    }
}

/// Returns group `pg`'s bundles on `nodes` (fire and forget: a node that cannot be
/// reached holds nothing any more).
fn give_back(node: &Arc<Node>, pg: PlacementGroupId, nodes: &[NodeId]) {
    let mut nodes = nodes.to_vec();
    nodes.sort();
    nodes.dedup();
    for target in nodes {
        if target == node.id {
            node.actors().manager.do_send(ReturnBundles::Group(pg));
        } else if let Some(agent) = node.actors().cluster.get() {
            agent.do_send(Ask {
                at: None,
                target,
                msg: WireMessage::ReturnBundles { pg },
            });
        }
    }
}

impl Actor for PlacementGroups {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(RETRY, |act, ctx| act.tick(ctx));
    }
}

impl Handler<CreateGroup> for PlacementGroups {
    type Result = Result<()>;

    fn handle(&mut self, msg: CreateGroup, ctx: &mut Context<Self>) -> Result<()> {
        let group = msg.0;
        if let Some(name) = &group.name
            && self
                .groups
                .values()
                .any(|e| e.group.name.as_ref() == Some(name))
        {
            return Err(Error::InvalidArgument(format!(
                "a placement group named `{name}` exists already"
            )));
        }
        let id = group.id;
        tracing::info!(pg = %id, bundles = group.bundles.len(), strategy = ?group.strategy, "placement group requested");
        self.groups.insert(
            id,
            Entry {
                group,
                placing: false,
            },
        );
        self.place(id, ctx);
        Ok(())
    }
}

impl Handler<RemoveGroup> for PlacementGroups {
    type Result = ();

    fn handle(&mut self, msg: RemoveGroup, _: &mut Context<Self>) {
        let Some(e) = self.groups.remove(&msg.0) else {
            return;
        };
        if let (Some(node), PlacementGroupState::Created(nodes)) =
            (self.node.upgrade(), e.group.state())
        {
            give_back(&node, msg.0, &nodes);
        }
        e.group.set(PlacementGroupState::Removed);
        tracing::info!(pg = %msg.0, "placement group removed");
    }
}

impl Handler<FindGroup> for PlacementGroups {
    type Result = Option<Arc<Group>>;

    fn handle(&mut self, msg: FindGroup, _: &mut Context<Self>) -> Option<Arc<Group>> {
        self.groups
            .values()
            .find(|e| e.group.name.as_deref() == Some(msg.0.as_str()))
            .map(|e| e.group.clone())
    }
}

/// Every group this node created.
#[derive(Message)]
#[rtype(result = "Vec<Arc<Group>>")]
pub(crate) struct ListGroups;

impl Handler<ListGroups> for PlacementGroups {
    type Result = Vec<Arc<Group>>;

    fn handle(&mut self, _: ListGroups, _: &mut Context<Self>) -> Vec<Arc<Group>> {
        let mut all: Vec<Arc<Group>> = self.groups.values().map(|e| e.group.clone()).collect();
        all.sort_by_key(|g| g.id);
        all
    }
}
