//! Requests from other nodes, in the agent: one `Inbound` per request, answered by the
//! part of the agent that serves it (the head's table and directory, tasks, objects,
//! actors, placement-group bundles).

use std::time::Instant;

use actix::prelude::*;

use super::link::CONNECT_TIMEOUT;
use super::{ClusterAgent, Inbound, Role};
use crate::actors::NodeActors;
use crate::ids::NodeId;
use crate::transport::{Bulk, JoinAddress, Peer, WireMessage, WireNode};

impl Handler<Inbound> for ClusterAgent {
    type Result = ResponseFuture<(WireMessage, Bulk)>;

    /// Serves the request, until its peer gives up on it (`Inbound::gone`).
    fn handle(&mut self, mut msg: Inbound, ctx: &mut Context<Self>) -> Self::Result {
        let gone = msg.gone.take();
        let answer = self.serve(msg, ctx);
        let Some(gone) = gone else {
            return answer;
        };
        Box::pin(async move {
            match futures::future::select(answer, gone).await {
                futures::future::Either::Left((answer, _)) => answer,
                futures::future::Either::Right(_) => super::tasks::failure(
                    crate::Error::NotConnected("the peer stopped waiting for the answer".into()),
                ),
            }
        })
    }
}

impl ClusterAgent {
    fn serve(
        &mut self,
        msg: Inbound,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<(WireMessage, Bulk)> {
        tracing::trace!(node_id = %self.node_id, from = %msg.from, "request");
        let reply = |m: WireMessage| -> ResponseFuture<(WireMessage, Bulk)> {
            Box::pin(async move { (m, Bulk::default()) })
        };
        match msg.msg {
            WireMessage::Join { node, fingerprint } if matches!(self.role, Role::Head) => {
                if let Some(message) = self.join_refusal(msg.from, &node, fingerprint) {
                    return reply(WireMessage::Error { message });
                }
                self.dial_back(node, ctx)
            }
            WireMessage::View {
                nodes,
                demands,
                jobs,
            } if !matches!(self.role, Role::Head) && self.head_id() == Some(msg.from) => {
                self.take_view(nodes, demands, jobs);
                reply(WireMessage::Ack)
            }
            WireMessage::GetView {
                node_id,
                load,
                job,
                at,
            } if matches!(self.role, Role::Head) => {
                self.heard_from(node_id, load, job, at);
                reply(self.view_message())
            }
            run @ WireMessage::RunTask { .. } => {
                self.run_task(msg.from, run, msg.payload, ctx.address())
            }
            WireMessage::FetchObject {
                object_id,
                borrowed,
                redirect,
            } => self.serve_object(msg.from, object_id, (borrowed, redirect), ctx.address()),
            WireMessage::ReleaseObjects { object_ids } => {
                self.release_borrows(msg.from, object_ids);
                reply(WireMessage::Ack)
            }
            create @ WireMessage::CreateActor { .. } => {
                reply(self.host_actor(msg.from, create, &msg.payload))
            }
            call @ WireMessage::CallActor { .. } => {
                self.call_hosted(ctx, msg.from, call, msg.payload)
            }
            WireMessage::LocateActor { actor_id } => reply(self.locate(actor_id)),
            WireMessage::GetState { query } => self.local_state(query.into_vec()),
            WireMessage::ReserveBundles { pg, bundles } => {
                self.reserve_bundles(msg.from, pg, bundles)
            }
            WireMessage::ReturnBundles { pg } => {
                if let Some(node) = self.node.upgrade() {
                    node.actors()
                        .manager
                        .do_send(crate::actors::ReturnBundles::Group(pg));
                }
                reply(WireMessage::Ack)
            }
            WireMessage::KillActor {
                actor_id,
                force,
                restart,
            } => {
                self.kill_hosted(msg.from, actor_id, force, restart);
                reply(WireMessage::Ack)
            }
            m @ (WireMessage::RegisterName { .. }
            | WireMessage::DropName { .. }
            | WireMessage::LookupName { .. })
                if matches!(self.role, Role::Head) =>
            {
                let answer = self.head_request(m);
                Box::pin(async move { (answer.await, Bulk::default()) })
            }
            WireMessage::Job { request } if matches!(self.role, Role::Head) => {
                let answer = self.job_request(request, msg.payload);
                Box::pin(async move {
                    let (m, bulk) = answer.await;
                    (m, bulk.into())
                })
            }
            WireMessage::Worker { request } => {
                let answer = self.serve_worker(msg.from, request, ctx);
                Box::pin(async move { (answer.await, Bulk::default()) })
            }
            WireMessage::Heartbeat { .. } => reply(WireMessage::Heartbeat {
                node_id: self.node_id,
            }),
            other => reply(WireMessage::Error {
                message: format!("node {} cannot serve {other:?}", self.node_id),
            }),
        }
    }
}

/// Head: a joiner it dialed back, admitted to the table.
#[derive(Message)]
#[rtype(result = "WireMessage")]
struct Admit {
    node: WireNode,
    /// The head's connection to it, kept for later requests.
    peer: Peer,
}

impl Handler<Admit> for ClusterAgent {
    type Result = MessageResult<Admit>;

    fn handle(&mut self, msg: Admit, ctx: &mut Context<Self>) -> Self::Result {
        let Admit { node, peer } = msg;
        let joined = node.node_id;
        tracing::info!(node_id = %self.node_id, joined = %joined, addr = %node.addr, "node joined");
        self.peers
            .lock()
            .insert(joined, super::link::connected(peer));
        self.table.insert(joined, (node, Instant::now()));
        self.publish(self.table_view());
        let view = self.view_message();
        self.push_view(joined, &view, ctx);
        MessageResult(view)
    }
}

/// The answer to a joiner the head cannot reach where it says it listens.
fn refuse_unreachable(node: &WireNode, why: &str) -> WireMessage {
    tracing::warn!(joiner = %node.node_id, addr = %node.addr, why, "refused a node the head cannot reach");
    WireMessage::Error {
        message: format!(
            "the head cannot reach this node at {} ({why}): set the address other hosts reach it at with --node-ip-address (RAY_NODE_IP_ADDRESS, Config::node_ip_address), and open UDP port {}",
            node.addr,
            node.addr.port()
        ),
    }
}

impl ClusterAgent {
    /// Head: why a node asking to join (over a connection authenticated as `from`) is
    /// refused, if it is: another build, another node's name, a live node's id, or a
    /// full cluster.
    fn join_refusal(&mut self, from: NodeId, node: &WireNode, fingerprint: u64) -> Option<String> {
        // A generic node runs no functions of its own and a job's worker only its job's:
        // the cluster's one build binds only the nodes that run any job's work.
        let legacy = node.job.is_none() && node.build.is_some();
        let build = if legacy {
            *self.build.get_or_insert(fingerprint)
        } else {
            fingerprint
        };
        if fingerprint != build {
            tracing::warn!(joiner = %node.node_id, "refused a node of another build");
            return Some(format!(
                "node {} runs another build (functions fingerprint {fingerprint:x}, head has {:x}): run the same binary on every node",
                node.node_id, build
            ));
        }
        // A node joins as itself (the id its connection authenticated with), and never in
        // place of a live node: its address and certificate pin cannot be taken over.
        if node.node_id != from {
            tracing::warn!(from = %from, claimed = %node.node_id, "refused a join in another node's name");
            return Some(format!(
                "a node joins as itself: this connection is node {from}, the join names {}",
                node.node_id
            ));
        }
        if self.table.get(&node.node_id).is_some_and(|(n, _)| n.alive) {
            tracing::warn!(joiner = %node.node_id, "refused a join reusing a live node's id");
            return Some(format!(
                "node {} is already a live member of this cluster",
                node.node_id
            ));
        }
        let live = self.live_nodes();
        if live >= super::membership::MAX_NODES {
            tracing::warn!(joiner = %node.node_id, live, "refused a join: the cluster is full");
            return Some(format!(
                "the cluster already has {live} live nodes (at most {})",
                super::membership::MAX_NODES
            ));
        }
        None
    }

    /// Head: a member's or driver's `GetView` is its heartbeat: its job, what it waits
    /// for that no node meets (drivers), its load, and that it is alive (again).
    fn heard_from(
        &mut self,
        node_id: NodeId,
        load: Option<crate::transport::NodeLoad>,
        job: Option<crate::ids::JobId>,
        at: Option<(std::net::SocketAddr, [u8; 32])>,
    ) {
        if let Some(job) = job {
            self.jobs.heard(job, node_id, at);
        }
        if !self.table.contains_key(&node_id)
            && let Some(load) = &load
        {
            self.driver_demands
                .insert(node_id, (load.infeasible.clone(), Instant::now()));
        }
        if let Some((n, seen)) = self.table.get_mut(&node_id) {
            *seen = Instant::now();
            if let Some(load) = load {
                if !load.total.is_empty() {
                    // Placement-group bundles change what a node offers.
                    n.resources = load.total.clone();
                }
                n.load = load;
            }
            if !n.alive {
                n.alive = true;
                tracing::info!(node_id = %node_id, "node is back");
            }
        }
    }
}

impl ClusterAgent {
    /// Head: admits a joiner once it dialed it back where it says it listens (every node
    /// must be able to reach it there), else refuses it naming that address.
    fn dial_back(
        &self,
        node: WireNode,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<(WireMessage, Bulk)> {
        let back = JoinAddress {
            addr: node.addr,
            token: self.token.clone(),
            fingerprint: node.fingerprint,
        };
        let (endpoint, me) = (self.endpoint.clone(), ctx.address());
        Box::pin(async move {
            let dial = endpoint.connect(&back);
            let answer = match actix_rt::time::timeout(CONNECT_TIMEOUT, dial).await {
                Ok(Ok(peer)) => me.send(Admit { node, peer }).await.ok(),
                Ok(Err(e)) => Some(refuse_unreachable(&node, &e.to_string())),
                Err(_) => Some(refuse_unreachable(&node, "no answer")),
            };
            let answer = answer.unwrap_or_else(|| WireMessage::Error {
                message: "the head is shutting down".into(),
            });
            (answer, Bulk::default())
        })
    }

    /// This node's part of a state query (`ray list`, `ray summary`, the dashboard).
    fn local_state(&self, query: Vec<u8>) -> ResponseFuture<(WireMessage, Bulk)> {
        let node = self.node.upgrade();
        let upcalls = self.upcalls;
        Box::pin(async move {
            let Some(node) = node else {
                let message = "the node is shutting down".to_string();
                return (WireMessage::Error { message }, Bulk::default());
            };
            let json = (upcalls.local_state)(node, query).await;
            (WireMessage::State { json }, Bulk::default())
        })
    }
}
