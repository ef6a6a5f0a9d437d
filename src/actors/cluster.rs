//! `ClusterAgent`: a node's membership in a cluster, as an actix actor. On the head it
//! keeps the node table (registration, heartbeats, failure detection); on every other
//! node it joins the head, reports in, and mirrors the table. It also carries tasks to
//! other nodes (`RunRemote`) and runs the tasks other nodes send here (`RunTask`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_bytes::ByteBuf;

use super::{QueryNode, SubmitTask, ViewChanged};
use crate::ids::{NodeId, ObjectId, TaskId};
use crate::resources::{Resources, to_units};
use crate::runtime::Node;
use crate::store::{RawRef, StoredValue, stored};
use crate::tasks::{RemoteBody, TaskBody, TaskSpec, build_fingerprint, has_functions, lookup};
use crate::transport::{Endpoint, JoinAddress, NodeLoad, Peer, Service, WireMessage, WireNode};
use crate::{Error, Result, SchedulingStrategy};

/// A request from an authenticated peer.
#[derive(Message)]
#[rtype(result = "(WireMessage, Vec<u8>)")]
pub(crate) struct Inbound {
    pub(crate) from: NodeId,
    pub(crate) msg: WireMessage,
    pub(crate) payload: Vec<u8>,
}

/// Runs a task on another node and settles `returns` with its outcome.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RunRemote {
    pub(crate) target: NodeId,
    pub(crate) function: &'static str,
    /// The encoded arguments, and the resolved ones kept alive until the answer.
    pub(crate) args: Result<(Vec<u8>, crate::tasks::Held)>,
    pub(crate) resources: Vec<(String, f64)>,
    pub(crate) decode: fn(&[u8]) -> Result<Vec<StoredValue>>,
    pub(crate) returns: Vec<RawRef>,
}

/// Fetches the encoded value of an object held by another node (a ref that arrived
/// inside a value).
#[derive(Message)]
#[rtype(result = "Result<Vec<u8>>")]
pub(crate) struct FetchObject {
    pub(crate) holder: NodeId,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) object_id: ObjectId,
}

impl Handler<FetchObject> for ClusterAgent {
    type Result = ResponseFuture<Result<Vec<u8>>>;

    fn handle(&mut self, msg: FetchObject, _: &mut Context<Self>) -> Self::Result {
        let cached = self.peers.get(&msg.holder).cloned();
        let endpoint = self.endpoint.clone();
        let join = JoinAddress {
            addr: msg.addr,
            token: self.token.clone(),
            fingerprint: msg.fingerprint,
        };
        let holder = msg.holder;
        Box::pin(async move {
            let peer = match cached {
                Some(p) => p,
                None => endpoint
                    .connect(&join)
                    .await
                    .map_err(|_| Error::NodeDied { node_id: holder })?,
            };
            let request = WireMessage::FetchObject {
                object_id: msg.object_id,
            };
            match peer.request_with(&request, &[]).await {
                Ok((WireMessage::ObjectData { error: None }, bytes)) => Ok(bytes),
                Ok((WireMessage::ObjectData { error: Some(e) }, _)) => Err(e),
                Ok((other, _)) => Err(Error::Serialization(format!("unexpected answer {other:?}"))),
                Err(_) => Err(Error::NodeDied { node_id: holder }),
            }
        })
    }
}

/// Stops the agent (and with it the node's QUIC endpoint).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopAgent;

impl Handler<StopAgent> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, _: StopAgent, ctx: &mut Context<Self>) {
        self.endpoint.close();
        ctx.stop();
    }
}

/// How this node takes part in the cluster.
pub(crate) enum Role {
    /// Keeps the node table.
    Head,
    /// Registers with the head and offers its resources.
    Worker(JoinAddress),
    /// A driver: reads the table, offers nothing.
    Driver(JoinAddress),
}

pub(crate) struct ClusterAgent {
    node: Weak<Node>,
    node_id: NodeId,
    endpoint: Arc<Endpoint>,
    role: Role,
    me: WireNode,
    /// Head only: every node with when it was last heard from.
    table: BTreeMap<NodeId, (WireNode, Instant)>,
    peers: HashMap<NodeId, Peer>,
    token: String,
    heartbeat: Duration,
    timeout: Duration,
    /// Head: what drivers (not in the table) reported they wait for.
    driver_demands: HashMap<NodeId, (Vec<String>, Instant)>,
    /// Worker: when the head stopped answering.
    head_silent_since: Option<Instant>,
    /// Head only: the build whose functions this cluster runs. A head started without
    /// user code (`ray start --head`) adopts the first joiner's build.
    build: Option<u64>,
}

/// Forwards transport requests to the agent.
struct AgentService(Addr<ClusterAgent>);

impl Service for AgentService {
    fn handle(
        &self,
        from: NodeId,
        msg: WireMessage,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, Vec<u8>)> {
        let addr = self.0.clone();
        async move {
            addr.send(Inbound { from, msg, payload })
                .await
                .unwrap_or_else(|_| {
                    (
                        WireMessage::Error {
                            message: "the node is shutting down".into(),
                        },
                        Vec::new(),
                    )
                })
        }
        .boxed()
    }
}

fn wire_resources(r: &Resources) -> Vec<(String, f64)> {
    r.to_map().into_iter().collect()
}

/// Starts the agent for `node`: binds its QUIC endpoint and, unless it is the head,
/// joins the head. Runs on the node's system thread.
pub(crate) async fn start(
    node: &Arc<Node>,
    role: Role,
    port: u16,
    heartbeat: Duration,
    timeout: Duration,
) -> Result<(Addr<ClusterAgent>, JoinAddress)> {
    let token = match &role {
        Role::Head => random_token()?,
        Role::Worker(j) | Role::Driver(j) => j.token.clone(),
    };
    let identity = crate::transport::Identity::generate()?;
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let node_id = node.id;
    // The service needs the agent's address and the agent needs the endpoint: start the
    // agent first with a context, then bind.
    let ctx = Context::<ClusterAgent>::new();
    let service = Arc::new(AgentService(ctx.address()));
    let endpoint = Arc::new(Endpoint::bind(
        bind,
        node_id,
        token.clone(),
        identity,
        service,
    )?);
    let join = endpoint.join_address()?;
    let me = WireNode {
        node_id,
        addr: join.addr,
        fingerprint: join.fingerprint,
        resources: wire_resources(&node.total),
        alive: true,
        load: NodeLoad::default(),
    };
    let mut agent = ClusterAgent {
        node: Arc::downgrade(node),
        node_id,
        endpoint: endpoint.clone(),
        role,
        me: me.clone(),
        table: BTreeMap::new(),
        peers: HashMap::new(),
        token,
        heartbeat,
        timeout,
        build: has_functions().then(build_fingerprint),
        head_silent_since: None,
        driver_demands: HashMap::new(),
    };
    let head_join = match &agent.role {
        Role::Head => {
            agent.table.insert(node_id, (me.clone(), Instant::now()));
            *node.view.write() = vec![me.clone()];
            None
        }
        Role::Worker(j) | Role::Driver(j) => Some(j.clone()),
    };
    if let Some(head) = head_join {
        let peer = endpoint
            .connect(&head)
            .await
            .map_err(|e| Error::NotConnected(e.to_string()))?;
        let hello = match agent.role {
            Role::Worker(_) => WireMessage::Join {
                node: me.clone(),
                fingerprint: build_fingerprint(),
            },
            _ => WireMessage::GetView {
                node_id,
                load: None,
            },
        };
        match peer
            .request(&hello)
            .await
            .map_err(|e| Error::NotConnected(e.to_string()))?
        {
            WireMessage::View { nodes, .. } => *node.view.write() = nodes,
            WireMessage::Error { message } => return Err(Error::NotConnected(message)),
            other => {
                return Err(Error::NotConnected(format!(
                    "unexpected answer from the head: {other:?}"
                )));
            }
        }
        agent.peers.insert(
            head_node_id(&node.view.read(), head.addr).unwrap_or(node_id),
            peer,
        );
    }
    let addr = ctx.run(agent);
    Ok((addr, join))
}

/// Whether this process is a worker node of the single-binary model (it exists only to
/// serve the cluster, so it exits with it).
fn serving_worker_process() -> bool {
    std::env::var("RAY_NODE_MODE").is_ok_and(|m| m == "worker")
}

fn load_of(stats: &super::NodeStats) -> NodeLoad {
    NodeLoad {
        available: wire_resources(&stats.available),
        pending: (stats.queued + stats.waiting_for_deps) as u64,
        running: stats.running as u64,
        infeasible: stats.infeasible.clone(),
    }
}

fn head_node_id(view: &[WireNode], addr: std::net::SocketAddr) -> Option<NodeId> {
    view.iter().find(|n| n.addr == addr).map(|n| n.node_id)
}

fn random_token() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::InvalidArgument("no randomness for the cluster token".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl ClusterAgent {
    fn head_join(&self) -> Option<&JoinAddress> {
        match &self.role {
            Role::Head => None,
            Role::Worker(j) | Role::Driver(j) => Some(j),
        }
    }

    /// Head: the table as sent to members; dead nodes stay listed as dead.
    fn table_view(&self) -> Vec<WireNode> {
        self.table.values().map(|(n, _)| n.clone()).collect()
    }

    fn publish(&self, nodes: Vec<WireNode>) {
        if let Some(node) = self.node.upgrade() {
            let changed = {
                let mut view = node.view.write();
                let membership = |v: &[WireNode]| -> Vec<(NodeId, bool)> {
                    v.iter().map(|n| (n.node_id, n.alive)).collect()
                };
                let changed = membership(&view) != membership(&nodes);
                *view = nodes;
                changed
            };
            if changed {
                node.manager.do_send(ViewChanged);
            }
        }
    }

    /// Head: the node table plus every demand no live node can meet, from nodes and
    /// from drivers heard from within the timeout.
    fn view_message(&mut self) -> WireMessage {
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
        if let Some(node) = self.node.upgrade() {
            *node.demands.write() = demands.clone();
        }
        WireMessage::View {
            nodes: self.table_view(),
            demands,
        }
    }

    /// Head: marks nodes not heard from within the timeout as dead.
    fn detect_failures(&mut self) {
        let now = Instant::now();
        let mut changed = false;
        for (id, (n, seen)) in self.table.iter_mut() {
            if *id != self.node_id && n.alive && now.duration_since(*seen) > self.timeout {
                n.alive = false;
                changed = true;
                tracing::warn!(node_id = %self.node_id, dead = %id, "node missed its heartbeats: marked dead");
            }
        }
        if changed {
            self.publish(self.table_view());
        }
    }

    /// A connection to `target`, opened on first use.
    fn peer(&self, target: NodeId) -> BoxFuture<'static, Result<Peer>> {
        if let Some(p) = self.peers.get(&target) {
            let p = p.clone();
            return async move { Ok(p) }.boxed();
        }
        let entry = self
            .node
            .upgrade()
            .and_then(|n| n.view.read().iter().find(|w| w.node_id == target).cloned());
        let endpoint = self.endpoint.clone();
        let token = self.token.clone();
        async move {
            let entry = entry.ok_or(Error::NodeDied { node_id: target })?;
            let join = JoinAddress {
                addr: entry.addr,
                token,
                fingerprint: entry.fingerprint,
            };
            endpoint
                .connect(&join)
                .await
                .map_err(|_| Error::NodeDied { node_id: target })
        }
        .boxed()
    }

    /// Sends the encoded value of a local object (waiting for it if still pending).
    fn serve_object(&self, object_id: ObjectId) -> BoxFuture<'static, (WireMessage, Vec<u8>)> {
        let held = self
            .node
            .upgrade()
            .and_then(|n| n.store.owner(object_id))
            .map(crate::store::RawRef::from_inner);
        async move {
            let outcome = match held {
                None => Err(Error::ObjectLost { object_id }),
                Some(r) => r.settled().await.and_then(|v| (v.encode)(v.value.as_ref())),
            };
            match outcome {
                Ok(bytes) => (WireMessage::ObjectData { error: None }, bytes),
                Err(e) => (WireMessage::ObjectData { error: Some(e) }, Vec::new()),
            }
        }
        .boxed()
    }

    /// Runs a task another node sent: as a local task with the requested resources.
    fn run_task(
        &self,
        function: String,
        args: Vec<u8>,
        resources: Vec<(String, f64)>,
    ) -> BoxFuture<'static, (WireMessage, Vec<u8>)> {
        let result = || -> Result<RawRef> {
            let node = self.node.upgrade().ok_or(Error::ShutDown)?;
            let f = lookup(&function, node.id)?;
            let mut req = Resources::new();
            for (k, v) in &resources {
                req.set_units(k, to_units(k, *v)?);
            }
            let mut body = Some((f.body)(args));
            let task_body = match body.take() {
                Some(RemoteBody::Sync(run)) => {
                    let mut run = Some(run);
                    TaskBody::Sync(Box::new(move |_| match run.take() {
                        Some(run) => Ok(vec![stored(ByteBuf::from(run()?))]),
                        None => Err(crate::__private::consumed()),
                    }))
                }
                Some(RemoteBody::Async(run)) => {
                    let mut run = Some(run);
                    TaskBody::Async(Box::new(move |_| match run.take() {
                        Some(run) => async move { Ok(vec![stored(ByteBuf::from(run().await?))]) }
                            .boxed_local(),
                        None => async { Err(crate::__private::consumed()) }.boxed_local(),
                    }))
                }
                None => return Err(Error::InvalidArgument("no body".into())),
            };
            let id = TaskId::new();
            let ret = RawRef::pending(&node.store, ObjectId::for_return(id, 0));
            let spec = TaskSpec {
                id,
                name: function.as_str().into(),
                deps: Vec::new(),
                returns: vec![ret.clone()],
                resources: req,
                body: Some(task_body),
                cancelled: Default::default(),
                retries_left: 0,
                remote: None,
                // It was placed here: it runs here.
                strategy: SchedulingStrategy::NodeAffinity {
                    node_id: node.id,
                    soft: false,
                },
            };
            node.manager.do_send(SubmitTask(spec));
            Ok(ret)
        };
        let ret = result();
        async move {
            let outcome = match ret {
                Ok(r) => r
                    .settled()
                    .await
                    .and_then(|v| crate::store::object_ref_downcast::<ByteBuf>(r.id(), v)),
                Err(e) => Err(e),
            };
            match outcome {
                // The returns travel as the bulk payload, never inside a frame.
                Ok(bytes) => (WireMessage::TaskResult { error: None }, bytes.to_vec()),
                Err(e) => (WireMessage::TaskResult { error: Some(e) }, Vec::new()),
            }
        }
        .boxed()
    }
}

impl Actor for ClusterAgent {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(node_id = %self.node_id, addr = %self.me.addr, "cluster agent started");
        ctx.run_interval(self.heartbeat, |act, ctx| {
            if matches!(act.role, Role::Head) {
                act.detect_failures();
                // The head's own load, like everyone else's.
                let own = act.node_id;
                let manager = act.node.upgrade().map(|n| n.manager.clone());
                let query = async move {
                    match manager {
                        Some(m) => m.send(QueryNode).await.ok(),
                        None => None,
                    }
                };
                ctx.spawn(query.into_actor(act).map(move |stats, act, _| {
                    if let (Some(stats), Some((n, _))) = (stats, act.table.get_mut(&own)) {
                        n.load = load_of(&stats);
                    }
                }));
                return;
            }
            let Some(head) = act.head_join().cloned() else {
                return;
            };
            let head_id = act
                .node
                .upgrade()
                .and_then(|n| head_node_id(&n.view.read(), head.addr));
            let Some(head_id) = head_id else { return };
            let peer = act.peer(head_id);
            let node_id = act.node_id;
            let limit = act.timeout;
            let manager = act.node.upgrade().map(|n| n.manager.clone());
            let ask = async move {
                let ask = async move {
                    let load = match manager {
                        Some(m) => m.send(QueryNode).await.ok().map(|s| load_of(&s)),
                        None => None,
                    };
                    let peer = peer.await?;
                    peer.request(&WireMessage::GetView { node_id, load })
                        .await
                        .map_err(|e| Error::NotConnected(e.to_string()))
                };
                // A dead head does not answer at all: give up after the node timeout.
                actix_rt::time::timeout(limit, ask)
                    .await
                    .unwrap_or(Err(Error::Timeout { after: limit }))
            };
            ctx.spawn(ask.into_actor(act).map(move |answer, act, _| match answer {
                Ok(WireMessage::View { nodes, demands }) => {
                    if let Some(node) = act.node.upgrade() {
                        *node.demands.write() = demands;
                    }
                    act.head_silent_since = None;
                    act.publish(nodes);
                }
                Ok(other) => tracing::warn!(?other, "unexpected heartbeat answer"),
                Err(e) => {
                    // Ray without GCS fault tolerance loses the cluster with its head.
                    tracing::error!(node_id = %act.node_id, error = %e, "the head is unreachable");
                    act.peers.remove(&head_id);
                    let since = *act.head_silent_since.get_or_insert_with(Instant::now);
                    if matches!(act.role, Role::Worker(_))
                        && serving_worker_process()
                        && since.elapsed() > act.timeout
                    {
                        tracing::error!(node_id = %act.node_id, "the head is gone: this worker node exits");
                        eprintln!("ray: node {}: the head is gone, exiting", act.node_id);
                        std::process::exit(1);
                    }
                }
            }));
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.endpoint.close();
    }
}

impl Handler<Inbound> for ClusterAgent {
    type Result = ResponseFuture<(WireMessage, Vec<u8>)>;

    fn handle(&mut self, msg: Inbound, _: &mut Context<Self>) -> Self::Result {
        tracing::trace!(node_id = %self.node_id, from = %msg.from, "request");
        let reply = |m: WireMessage| -> Self::Result { Box::pin(async move { (m, Vec::new()) }) };
        match msg.msg {
            WireMessage::Join { node, fingerprint } if matches!(self.role, Role::Head) => {
                let build = *self.build.get_or_insert(fingerprint);
                if fingerprint != build {
                    tracing::warn!(joiner = %node.node_id, "refused a node of another build");
                    return reply(WireMessage::Error {
                        message: format!(
                            "node {} runs another build (functions fingerprint {fingerprint:x}, head has {:x}): run the same binary on every node",
                            node.node_id, build
                        ),
                    });
                }
                tracing::info!(node_id = %self.node_id, joined = %node.node_id, addr = %node.addr, "node joined");
                self.table.insert(node.node_id, (node, Instant::now()));
                self.publish(self.table_view());
                reply(self.view_message())
            }
            WireMessage::GetView { node_id, load } if matches!(self.role, Role::Head) => {
                if !self.table.contains_key(&node_id)
                    && let Some(load) = &load
                {
                    self.driver_demands
                        .insert(node_id, (load.infeasible.clone(), Instant::now()));
                }
                if let Some((n, seen)) = self.table.get_mut(&node_id) {
                    *seen = Instant::now();
                    if let Some(load) = load {
                        n.load = load;
                    }
                    if !n.alive {
                        n.alive = true;
                        tracing::info!(node_id = %node_id, "node is back");
                    }
                }
                reply(self.view_message())
            }
            WireMessage::RunTask {
                function,
                resources,
            } => self.run_task(function, msg.payload, resources),
            WireMessage::FetchObject { object_id } => self.serve_object(object_id),
            WireMessage::Heartbeat { .. } => reply(WireMessage::Heartbeat {
                node_id: self.node_id,
            }),
            other => reply(WireMessage::Error {
                message: format!("node {} cannot serve {other:?}", self.node_id),
            }),
        }
    }
}

impl Handler<RunRemote> for ClusterAgent {
    type Result = ();

    fn handle(&mut self, msg: RunRemote, ctx: &mut Context<Self>) {
        let target = msg.target;
        let peer = self.peer(target);
        let returns = msg.returns;
        let decode = msg.decode;
        let (request, args, held) = match msg.args {
            Ok((args, held)) => (
                WireMessage::RunTask {
                    function: msg.function.to_string(),
                    resources: msg.resources,
                },
                args,
                held,
            ),
            Err(e) => {
                for r in &returns {
                    r.complete(Err(e.clone()));
                }
                return;
            }
        };
        tracing::debug!(node_id = %self.node_id, target = %target, function = msg.function, "task sent to another node");
        let run = async move {
            let peer = peer.await?;
            let answer = peer
                .request_with(&request, &args)
                .await
                .map_err(|_| Error::NodeDied { node_id: target })?;
            Ok::<_, Error>((peer, answer))
        };
        ctx.spawn(run.into_actor(self).map(move |answer, act, _| {
            drop(held);
            let outcome = match answer {
                Ok((peer, (WireMessage::TaskResult { error: None }, bytes))) => {
                    act.peers.insert(target, peer);
                    decode(&bytes)
                }
                Ok((_, (WireMessage::TaskResult { error: Some(e) }, _))) => Err(e),
                Ok((_, (WireMessage::Error { message }, _))) => Err(Error::NotConnected(message)),
                Ok((_, (other, _))) => {
                    Err(Error::Serialization(format!("unexpected answer {other:?}")))
                }
                Err(e) => {
                    act.peers.remove(&target);
                    Err(e)
                }
            };
            match outcome {
                Ok(values) if values.len() == returns.len() => {
                    for (r, v) in returns.iter().zip(values) {
                        r.complete(Ok(v));
                    }
                }
                Ok(_) => {
                    for r in &returns {
                        r.complete(Err(Error::Serialization("wrong number of returns".into())));
                    }
                }
                Err(e) => {
                    for r in &returns {
                        r.complete(Err(e.clone()));
                    }
                }
            }
        }));
    }
}
