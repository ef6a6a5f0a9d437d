//! The head's node table over time: nodes that stop sending heartbeats are marked dead,
//! and dead nodes beyond [`Config::max_dead_nodes`](crate::Config::max_dead_nodes) are
//! forgotten, oldest death first, so the table a peer can grow stays bounded. The head
//! sends its view of the table (with the demands no node meets and the jobs) to members,
//! who keep a copy in their node. A node that is not the head starts by greeting it
//! (`greet_head`).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::{ClusterAgent, Role};
use crate::actors::NodeActors;
use crate::actors::ViewChanged;
use crate::ids::NodeId;
use crate::node::Node;
use crate::transport::{Endpoint, JoinAddress};
use crate::transport::{WireJob, WireMessage, WireNode};
use crate::{Error, Result};

/// Live nodes a cluster admits: a join beyond them is refused.
pub(super) const MAX_NODES: usize = 10_000;

impl ClusterAgent {
    /// Head: marks nodes not heard from within the timeout as dead, and forgets the
    /// oldest dead ones beyond the cap.
    pub(super) fn detect_failures(&mut self) {
        let now = Instant::now();
        let mut changed = false;
        for (id, (n, seen)) in self.table.iter_mut() {
            if *id != self.node_id && n.alive && now.duration_since(*seen) > self.timeout {
                n.alive = false;
                changed = true;
                tracing::warn!(node_id = %self.node_id, dead = %id, "node missed its heartbeats: marked dead");
            }
        }
        changed |= self.prune_dead();
        if changed {
            self.publish(self.table_view());
        }
    }

    /// Forgets dead nodes beyond `max_dead_nodes`, those silent longest first; whether
    /// any went.
    fn prune_dead(&mut self) -> bool {
        let mut dead: Vec<(Instant, NodeId)> = self
            .table
            .iter()
            .filter(|(_, (n, _))| !n.alive)
            .map(|(id, (_, seen))| (*seen, *id))
            .collect();
        let Some(over) = dead
            .len()
            .checked_sub(self.max_dead_nodes)
            .filter(|n| *n > 0)
        else {
            return false;
        };
        dead.sort_unstable();
        for (_, id) in dead.into_iter().take(over) {
            self.table.remove(&id);
            self.peers.lock().remove(&id);
        }
        tracing::info!(node_id = %self.node_id, forgotten = over, kept = self.max_dead_nodes, "dead nodes forgotten");
        true
    }

    /// Head: live nodes in the table.
    pub(super) fn live_nodes(&self) -> usize {
        self.table.values().filter(|(n, _)| n.alive).count()
    }
}

impl ClusterAgent {
    /// Head: the table as sent to members; dead nodes stay listed as dead.
    pub(super) fn table_view(&self) -> Vec<WireNode> {
        self.table.values().map(|(n, _)| n.clone()).collect()
    }

    pub(super) fn publish(&mut self, nodes: Vec<WireNode>) {
        for n in nodes.iter().filter(|n| !n.alive) {
            self.forget_node(n.node_id);
            self.restart_actors_on(n.node_id);
        }
        self.store_view(nodes);
    }

    /// Replaces this node's copy of the table (telling the node manager when membership
    /// or what a node offers changed), without acting on deaths.
    pub(super) fn store_view(&self, nodes: Vec<WireNode>) {
        if let Some(node) = self.node.upgrade() {
            let changed = {
                let mut view = node.view.write();
                // Membership, and what each node offers (bundles reserved or returned).
                let same = |a: &WireNode, b: &WireNode| {
                    (a.node_id, a.alive, &a.resources) == (b.node_id, b.alive, &b.resources)
                };
                let changed =
                    view.len() != nodes.len() || view.iter().zip(&nodes).any(|(a, b)| !same(a, b));
                *view = nodes;
                changed
            };
            if changed {
                node.actors().manager.do_send(ViewChanged);
            }
        }
    }

    /// Head: the node table plus every demand no live node can meet, from nodes and
    /// from drivers heard from within the timeout.
    pub(super) fn view_message(&mut self) -> WireMessage {
        let timeout = self.timeout;
        self.driver_demands
            .retain(|_, (_, seen)| seen.elapsed() <= timeout);
        let mut demands: Vec<String> = self
            .table
            .values()
            .filter(|(n, _)| n.alive)
            .flat_map(|(n, _)| n.load.infeasible.iter().cloned())
            .chain(
                self.driver_demands
                    .values()
                    .flat_map(|(d, _)| d.iter().cloned()),
            )
            .collect();
        demands.sort();
        demands.dedup();
        self.heard.demands = demands.clone();
        if let Some(job) = self.job {
            self.jobs.heard(job, self.node_id, None);
        }
        let jobs = self.jobs.view(timeout);
        self.forget_finished_drivers(&jobs);
        self.heard.jobs = jobs.clone();
        WireMessage::View {
            nodes: self.table_view(),
            demands,
            jobs,
        }
    }

    /// Member: a view from the head, answering a heartbeat or pushed on a change.
    pub(super) fn take_view(
        &mut self,
        nodes: Vec<WireNode>,
        demands: Vec<String>,
        jobs: Vec<WireJob>,
    ) {
        self.forget_finished_drivers(&jobs);
        self.jobs_heard(&jobs, &nodes);
        self.heard = Heard { demands, jobs };
        self.head_silent_since = None;
        if let Some(node) = self.node.upgrade()
            && node
                .head_lost
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            tracing::warn!(node_id = %self.node_id, "the head answers again");
        }
        self.publish(nodes);
    }

    /// Head: sends `view` (its current one) to every live member and driver but `joined`
    /// (which has it in its answer), so a node that joined is known everywhere at once,
    /// not a heartbeat later.
    pub(super) fn push_view(&self, joined: NodeId, view: &WireMessage, ctx: &mut Context<Self>) {
        let WireMessage::View { nodes, jobs, .. } = view else {
            return;
        };
        let skip = [self.node_id, joined];
        let members = nodes
            .iter()
            .filter(|n| n.alive && !skip.contains(&n.node_id))
            .map(|n| (n.node_id, None));
        let drivers = jobs
            .iter()
            .filter(|j| j.alive && !skip.contains(&j.driver))
            .filter_map(|j| Some((j.driver, Some(j.at?))));
        let sends: Vec<_> = members
            .chain(drivers)
            .map(|(to, at)| self.request(to, at, view.clone(), Vec::new()))
            .collect();
        ctx.spawn(
            async move {
                // A member that misses it learns the same with its next heartbeat.
                futures::future::join_all(sends).await;
            }
            .into_actor(self),
        );
    }
}

/// What a node says first to the head: a worker joins the table; a driver (or a tool)
/// asks for the view, with where it can be reached.
pub(super) fn hello_for(role: &Role, me: &WireNode, job: Option<crate::ids::JobId>) -> WireMessage {
    match role {
        Role::Worker(_) => WireMessage::Join {
            node: me.clone(),
            fingerprint: crate::actors::build_fingerprint(),
        },
        _ => WireMessage::GetView {
            node_id: me.node_id,
            load: None,
            job,
            at: Some((me.addr, me.fingerprint)),
        },
    }
}

/// Connects to the head within the connect timeout, says `hello`, and stores the view it
/// answers with on `node`: all of it, so that a tool that joins only to ask asks at once.
pub(super) async fn greet_head(
    node: &Arc<Node>,
    endpoint: &Endpoint,
    head: &JoinAddress,
    hello: WireMessage,
) -> Result<(crate::transport::Peer, Heard)> {
    let unreachable =
        |why: String| Error::NotConnected(format!("cannot reach the head at {}: {why}", head.addr));
    let peer = actix_rt::time::timeout(super::link::CONNECT_TIMEOUT, endpoint.connect(head))
        .await
        .map_err(|_| {
            unreachable(format!(
                "no answer within {:?} (is the address right, and UDP port {} open?)",
                super::link::CONNECT_TIMEOUT,
                head.addr.port()
            ))
        })?
        .map_err(|e| unreachable(e.to_string()))?;
    match peer
        .request(&hello)
        .await
        .map_err(|e| Error::NotConnected(e.to_string()))?
    {
        WireMessage::View {
            nodes,
            demands,
            jobs,
        } => {
            *node.view.write() = nodes;
            Ok((peer, Heard { demands, jobs }))
        }
        WireMessage::Error { message } => Err(Error::NotConnected(message)),
        other => Err(Error::NotConnected(format!(
            "unexpected answer from the head: {other:?}"
        ))),
    }
}

/// What the head last told this node of the cluster beyond its node table: resource
/// requests no live node can meet, and the jobs (driver programs).
#[derive(Clone, Default)]
pub(crate) struct Heard {
    pub(crate) demands: Vec<String>,
    pub(crate) jobs: Vec<WireJob>,
}

/// What `node` last heard from the head (nothing on a lone node): for
/// `ray::pending_demands`, `ray::jobs` and the dashboard.
pub(crate) async fn heard(node: &Node) -> Heard {
    match node.actors().cluster.get() {
        Some(agent) => agent.send(QueryHeard).await.unwrap_or_default(),
        None => Heard::default(),
    }
}

/// Asks the agent for [`Heard`].
#[derive(Message)]
#[rtype(result = "Heard")]
pub(crate) struct QueryHeard;

impl Handler<QueryHeard> for ClusterAgent {
    type Result = MessageResult<QueryHeard>;

    fn handle(&mut self, _: QueryHeard, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.heard.clone())
    }
}

pub(super) fn load_of(
    stats: &crate::actors::NodeStats,
    store_bytes: usize,
) -> crate::transport::NodeLoad {
    crate::transport::NodeLoad {
        available: stats.total.free_map(&stats.available).into_iter().collect(),
        pending: (stats.queued + stats.waiting_for_deps) as u64,
        running: stats.running as u64,
        infeasible: stats.infeasible.clone(),
        object_store_bytes: store_bytes as u64,
        total: super::wire_resources(&stats.total),
    }
}

/// The node's current load, for its heartbeat.
pub(super) async fn current_load(
    node: std::sync::Weak<Node>,
) -> Option<crate::transport::NodeLoad> {
    let node = node.upgrade()?;
    let stats = node
        .actors()
        .manager
        .send(crate::actors::QueryNode)
        .await
        .ok()?;
    Some(load_of(&stats, node.store.summary().bytes_used))
}
