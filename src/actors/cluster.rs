//! `ClusterAgent`: a node's membership in a cluster, as an actix actor. On the head it
//! keeps the node table (registration, heartbeats, failure detection) and the directory
//! of named actors; on every other node it joins the head, reports in, and mirrors the
//! table. Everything a node asks of another goes through its agent:
//! - `tasks.rs`: tasks sent to other nodes (`RunRemote`) and run for them (`RunTask`);
//! - `objects.rs`: pulling objects, serving them, and the owner's borrower counts;
//! - `actors.rs`: actors hosted for other nodes, calls to remote actors in per-caller
//!   order, and named actors cluster-wide.

mod actors;
mod bundles;
mod cancel;
mod channels;
mod follow;
mod holds;
mod inbound;
mod jobs;
mod leases;
mod lender;
mod lineage;
mod link;
mod membership;
mod names;
mod objects;
mod order;
mod received;
mod restart;
mod streams;
mod tasks;
mod workers;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;

use crate::actors::NodeActors;
use crate::ids::NodeId;
use crate::node::{Node, Peers};
use crate::resources::Resources;
use crate::transport::{Bulk, Endpoint, JoinAddress, NodeLoad, Service, WireMessage, WireNode};
use crate::{Error, Result};

pub(crate) use actors::{
    ActorStopped, CallRemoteActor, CreateRemoteActor, KillRemoteActor, NameRequest,
};
pub(crate) use bundles::Ask;
pub(crate) use cancel::CancelRemote;
pub(crate) use channels::{OpenDagChannel, OpenedChannel};
pub(crate) use jobs::{AskJobs, JobEnded};
pub(crate) use leases::{LeaseBlocked, LeaseThenQueue};
use link::{Connecting, Link};
pub(crate) use link::{NodeAddr, random_token};
pub(crate) use membership::heard;
pub(crate) use streams::{PullStream, RunGenerator, park_stream};
pub(crate) use tasks::{Retry, RunRemote};
pub(crate) use workers::{LeaseGuard, LeaseOnHost, StartWorkerOn, WorkerGone, WorkerOn};

/// A request from an authenticated peer.
#[derive(Message)]
#[rtype(result = "(WireMessage, Bulk)")]
pub(crate) struct Inbound {
    pub(crate) from: NodeId,
    pub(crate) msg: WireMessage,
    pub(crate) payload: Vec<u8>,
    /// Resolves when the peer gave up on the request (its stream or connection went):
    /// the answer is dropped then, with whatever waited for it (a parked call). actix
    /// runs a handler's answer to completion even when nobody waits for it any more.
    pub(crate) gone: Option<oneshot::Receiver<()>>,
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

/// The head's node id, as this node knows it (its own on the head).
#[derive(Message)]
#[rtype(result = "Option<NodeId>")]
pub(crate) struct HeadId;

impl Handler<HeadId> for ClusterAgent {
    type Result = Option<NodeId>;

    fn handle(&mut self, _: HeadId, _: &mut Context<Self>) -> Option<NodeId> {
        self.head_id()
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
    /// This agent's own address, for the work it spawns (weak: it must not keep itself
    /// alive).
    addr: actix::WeakAddr<ClusterAgent>,
    /// Head only: every node with when it was last heard from.
    table: BTreeMap<NodeId, (WireNode, Instant)>,
    /// Open connections, shared with the requests in flight (they add the ones they open).
    peers: Arc<parking_lot::Mutex<HashMap<NodeId, Connecting>>>,
    token: String,
    heartbeat: Duration,
    timeout: Duration,
    /// Head: dead nodes kept in `table` (the oldest deaths go first).
    max_dead_nodes: usize,
    /// Head: what drivers (not in the table) reported they wait for.
    driver_demands: HashMap<NodeId, (Vec<String>, Instant)>,
    /// Worker: when the head stopped answering.
    head_silent_since: Option<Instant>,
    /// Head only: the build whose functions this cluster runs. A head started without
    /// user code (`ray start --head`) adopts the first joiner's build.
    build: Option<u64>,
    /// What this node lends other nodes (its objects they copied, counted per node): an
    /// actor of its own, which this one forwards to.
    lender: Addr<lender::Lender>,
    /// Testing only: a wait before each pull (`Config::testing_pull_delay`).
    pull_delay: Option<Duration>,
    /// Actors this node hosts for other nodes, and their callers' ordering state.
    hosted: actors::Hosted,
    /// This node's handles to actors elsewhere: their calls' order of sending.
    calling: actors::Calling,
    /// Actors this node created elsewhere that restart when their node dies.
    owned: HashMap<crate::ids::ActorId, restart::Owned>,
    /// Head only: the directory of named actors.
    names: Option<Addr<names::NameDirectory>>,
    /// Head only: the driver programs it has heard from.
    jobs: jobs::Jobs,
    /// Head only: submitted jobs (`ray job`), when their directory could be made.
    submissions: Option<Addr<crate::actors::JobManager>>,
    /// Job workers: a generic node's pool and leases, the starts this node asked for.
    workers: workers::Workers,
    /// A job worker's leases on its generic node's resources, by task.
    host_leases: leases::HostLeases,
    /// Tasks this node sent to other nodes and waits for (what a cancel needs).
    flights: cancel::Flights,
    /// This node's job, when it runs a driver program (sent with its heartbeats).
    job: Option<crate::ids::JobId>,
    /// The lineage of results other nodes hold for this one, against its cap.
    lineage: Arc<lineage::LineageBudget>,
    /// What it hands to the layers above (`Upcalls`).
    upcalls: Upcalls,
    /// The demands and jobs the head last told this node of.
    heard: membership::Heard,
}

/// Forwards transport requests to the agent.
struct AgentService(Addr<ClusterAgent>);

impl Service for AgentService {
    fn channel(
        &self,
        from: NodeId,
        open: WireMessage,
        payload: Vec<u8>,
        channel: crate::transport::Channel,
    ) {
        self.0.do_send(channels::OpenedChannel {
            from,
            open,
            payload,
            channel,
        });
    }

    fn handle(
        &self,
        from: NodeId,
        msg: WireMessage,
        payload: Vec<u8>,
    ) -> BoxFuture<'static, (WireMessage, Bulk)> {
        let addr = self.0.clone();
        // Dropped with this future when the transport stops waiting for the answer.
        let (waiting, gone) = oneshot::channel::<()>();
        async move {
            let _waiting = waiting;
            addr.send(Inbound {
                from,
                msg,
                payload,
                gone: Some(gone),
            })
            .await
            .unwrap_or_else(|_| {
                (
                    WireMessage::Error {
                        message: "the node is shutting down".into(),
                    },
                    Bulk::default(),
                )
            })
        }
        .boxed()
    }
}

pub(crate) fn wire_resources(r: &Resources) -> Vec<(String, f64)> {
    r.to_map().into_iter().collect()
}

/// How a node's agent runs.
pub(crate) struct AgentSettings {
    /// The UDP port to bind (0: any free one).
    pub(crate) port: u16,
    /// The address other hosts reach this node at; detected when `None`.
    pub(crate) node_ip: Option<std::net::IpAddr>,
    pub(crate) heartbeat: Duration,
    /// Silence after which a node counts as dead.
    pub(crate) timeout: Duration,
    /// Head: dead nodes kept in the table.
    pub(crate) max_dead_nodes: usize,
    /// Bytes of lineage kept for results other nodes hold.
    pub(crate) max_lineage_bytes: usize,
    /// Testing only: a wait before each pull (`Config::testing_pull_delay`).
    pub(crate) testing_pull_delay: Option<Duration>,
    /// A job worker: the generic node that started it (`RAY_JOB_HOST`), whose
    /// resources it leases.
    pub(crate) job_host: Option<NodeId>,
    /// What the agent hands to the layers above it.
    pub(crate) upcalls: Upcalls,
}

/// What the agent hands to the layers above it, set by the composition root: this layer
/// serves other nodes' requests but knows neither the dashboard nor compiled graphs.
#[derive(Clone, Copy)]
pub(crate) struct Upcalls {
    /// This node's part of a state query (`GetState`: `ray list`, the dashboard), as
    /// JSON; the query is the dashboard's, encoded.
    pub(crate) local_state:
        fn(Arc<Node>, Vec<u8>) -> futures::future::LocalBoxFuture<'static, String>,
    /// Takes a channel another node opened (a compiled graph's part or edge).
    pub(crate) channel: fn(Arc<Node>, OpenedChannel),
}

/// Starts the agent for `node`: binds its QUIC endpoint and, unless it is the head,
/// joins the head. Runs on the node's system thread. Returns the agent, the address
/// other nodes join with, and how the node's refs reach the agent and its lender.
pub(crate) async fn start(
    node: &Arc<Node>,
    role: Role,
    job: Option<crate::ids::JobId>,
    settings: AgentSettings,
) -> Result<(Addr<ClusterAgent>, JoinAddress, Peers)> {
    let token = match &role {
        Role::Head => link::random_token()?,
        Role::Worker(j) | Role::Driver(j) => j.token.clone(),
    };
    let identity = crate::transport::Identity::generate()?;
    let ip = link::node_address(settings.node_ip, &role)?;
    // Every interface and both families (peers may be IPv4 or IPv6 whatever this node
    // advertises): other hosts reach it at `ip`, this host's programs at loopback.
    let bind = std::net::SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), settings.port);
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
    endpoint.advertise(ip);
    let join = endpoint.join_address()?;
    let me = me_of(node, &join, &settings);
    let lender =
        lender::Lender::new(Arc::downgrade(node), settings.timeout, settings.heartbeat).start();
    let mut agent = ClusterAgent {
        node: Arc::downgrade(node),
        node_id,
        endpoint: endpoint.clone(),
        role,
        me: me.clone(),
        addr: ctx.address().downgrade(),
        table: BTreeMap::new(),
        peers: Arc::default(),
        token,
        heartbeat: settings.heartbeat,
        timeout: settings.timeout,
        max_dead_nodes: settings.max_dead_nodes,
        build: super::remote::build_with_functions(),
        head_silent_since: None,
        driver_demands: HashMap::new(),
        lender: lender.clone(),
        pull_delay: settings.testing_pull_delay,
        hosted: Default::default(),
        calling: Default::default(),
        owned: HashMap::new(),
        names: None,
        jobs: Default::default(),
        submissions: None,
        workers: Default::default(),
        host_leases: Default::default(),
        flights: Default::default(),
        job,
        lineage: lineage::LineageBudget::new(settings.max_lineage_bytes),
        heard: Default::default(),
        upcalls: settings.upcalls,
    };
    let head_join = match &agent.role {
        Role::Head => {
            agent.names = Some(names::NameDirectory::default().start());
            agent.submissions = jobs::manager(node_id, &join, ctx.address().recipient());
            agent.table.insert(node_id, (me.clone(), Instant::now()));
            *node.view.write() = vec![me.clone()];
            None
        }
        Role::Worker(j) | Role::Driver(j) => Some(j.clone()),
    };
    if let Some(head) = head_join {
        let (peer, heard) = membership::greet_head(
            node,
            &endpoint,
            &head,
            membership::hello_for(&agent.role, &me, job),
        )
        .await?;
        agent.heard = heard;
        agent.peers.lock().insert(
            head_node_id(&node.view.read(), head.addr).unwrap_or(node_id),
            link::connected(peer),
        );
    }
    agent.start_pool(&ctx);
    let agent = ctx.run(agent);
    let peers = peers_of(&agent, lender);
    Ok((agent, join, peers))
}

/// This node as the node table lists it.
fn me_of(node: &Node, join: &JoinAddress, settings: &AgentSettings) -> WireNode {
    WireNode {
        node_id: node.id,
        addr: join.addr,
        fingerprint: join.fingerprint,
        // A job worker offers nothing of its own: it leases its generic node's.
        resources: if settings.job_host.is_some() {
            Vec::new()
        } else {
            wire_resources(&node.total)
        },
        alive: true,
        // Nothing runs yet: all of it is free.
        load: NodeLoad {
            available: node.total.free_map(&node.total).into_iter().collect(),
            total: wire_resources(&node.total),
            ..NodeLoad::default()
        },
        build: super::remote::build_with_functions(),
        job: settings.job_host.map(|_| node.job_id),
        host: settings.job_host,
    }
}

/// How the node's refs reach other nodes: pulls and releases through the agent, pins
/// of what leaves unlent straight to its lender.
fn peers_of(agent: &Addr<ClusterAgent>, lender: Addr<lender::Lender>) -> Peers {
    Peers {
        pull: agent.clone().recipient(),
        release: agent.clone().recipient(),
        pin: lender.recipient(),
    }
}

/// Whether this process is a worker node of the single-binary model (it exists only to
/// serve the cluster, so it exits with it).
fn serving_worker_process() -> bool {
    std::env::var("RAY_NODE_MODE").is_ok_and(|m| m == "worker")
}

fn head_node_id(view: &[WireNode], addr: std::net::SocketAddr) -> Option<NodeId> {
    view.iter().find(|n| n.addr == addr).map(|n| n.node_id)
}

impl ClusterAgent {
    fn head_join(&self) -> Option<&JoinAddress> {
        match &self.role {
            Role::Head => None,
            Role::Worker(j) | Role::Driver(j) => Some(j),
        }
    }

    /// What requests need to run outside the agent.
    fn link(&self) -> Link {
        Link {
            peers: self.peers.clone(),
            dial: link::Dial {
                node: self.node.clone(),
                endpoint: self.endpoint.clone(),
                token: self.token.clone(),
                patience: self.timeout + self.heartbeat * 2,
            },
        }
    }

    /// See [`Link::request`].
    fn request(
        &self,
        target: NodeId,
        at: Option<NodeAddr>,
        msg: WireMessage,
        payload: impl Into<crate::transport::Bulk>,
    ) -> BoxFuture<'static, Result<(WireMessage, Vec<u8>)>> {
        self.link().request(target, at, msg, payload)
    }

    /// The head's node id, as this node knows it.
    fn head_id(&self) -> Option<NodeId> {
        match self.head_join() {
            None => Some(self.node_id),
            Some(j) => {
                let node = self.node.upgrade()?;
                head_node_id(&node.view.read(), j.addr)
            }
        }
    }

    /// The head stopped answering for longer than the node timeout: without it there is
    /// no cluster (as in Ray without GCS fault tolerance). Every other node is taken as
    /// dead, so nothing more is sent to them and work that needs them fails at once.
    fn lose_cluster(&mut self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        if node
            .head_lost
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        tracing::error!(node_id = %self.node_id, "the head is gone: the cluster is lost; work for other nodes fails from now on");
        let me = self.node_id;
        let nodes: Vec<WireNode> = node
            .view
            .read()
            .iter()
            .cloned()
            .map(|mut n| {
                n.alive &= n.node_id == me;
                n
            })
            .collect();
        self.publish(nodes);
    }

    /// A driver that stopped sending heartbeats has ended (or died): what it held here
    /// goes, as for a dead node (its actors that are not detached stop).
    fn forget_finished_drivers(&mut self, jobs: &[crate::transport::WireJob]) {
        let me = self.node_id;
        for job in jobs.iter().filter(|j| !j.alive && j.driver != me) {
            self.forget_node(job.driver);
        }
    }

    /// Drops what this node keeps for a node that died.
    fn forget_node(&mut self, dead: NodeId) {
        self.lender.do_send(lender::Forget(dead));
        self.hosted.holds.forget(dead);
        if let Some(connecting) = self.peers.lock().remove(&dead)
            && let Some(Ok(peer)) = connecting.peek()
        {
            // Requests in flight to it fail now instead of after the idle timeout.
            peer.close("the node is dead");
        }
        if let Some(names) = &self.names {
            names.do_send(names::ForgetNames(dead));
        }
        if let Some(node) = self.node.upgrade() {
            // Placement-group bundles it made here go with it.
            node.actors()
                .manager
                .do_send(crate::actors::ReturnBundles::Creator(dead));
        }
    }
}

impl Actor for ClusterAgent {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(node_id = %self.node_id, addr = %self.me.addr, "cluster agent started");
        ctx.run_interval(self.heartbeat, |act, ctx| {
            act.calling.prune();
            if matches!(act.role, Role::Head) {
                act.detect_failures();
                // The head's own load, like everyone else's.
                let own = act.node_id;
                let query = membership::current_load(act.node.clone());
                ctx.spawn(query.into_actor(act).map(move |load, act, _| {
                    if let (Some(load), Some((n, _))) = (load, act.table.get_mut(&own)) {
                        n.load = load;
                    }
                    // The head's own copy carries the loads heartbeats brought too
                    // (deaths were acted on when `detect_failures` found them).
                    act.store_view(act.table_view());
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
            let node_id = act.node_id;
            let job = act.job;
            let at = job.map(|_| (act.me.addr, act.me.fingerprint));
            let limit = act.timeout;
            let load = membership::current_load(act.node.clone());
            // A job worker offers nothing of its own (its generic node's resources are
            // the ones its work uses).
            let offers = act.me.host.is_none();
            let load = async move {
                load.await.map(|l| match offers {
                    true => l,
                    false => NodeLoad { total: Vec::new(), available: Vec::new(), ..l },
                })
            };
            let link = act.link();
            let ask = async move {
                let ask = async move {
                    let msg = WireMessage::GetView {
                        node_id,
                        load: load.await,
                        job,
                        at,
                    };
                    link.request(head_id, None, msg, Vec::new())
                        .await
                        .map(|(m, _)| m)
                };
                // A dead head does not answer at all: give up after the node timeout.
                actix_rt::time::timeout(limit, ask)
                    .await
                    .unwrap_or(Err(Error::Timeout { after: limit }))
            };
            ctx.spawn(ask.into_actor(act).map(move |answer, act, _| match answer {
                Ok(WireMessage::View {
                    nodes,
                    demands,
                    jobs,
                }) => act.take_view(nodes, demands, jobs),
                Ok(other) => tracing::warn!(?other, "unexpected heartbeat answer"),
                Err(e) => {
                    // Ray without GCS fault tolerance loses the cluster with its head.
                    tracing::error!(node_id = %act.node_id, error = %e, "the head is unreachable");
                    let since = *act.head_silent_since.get_or_insert_with(Instant::now);
                    if matches!(act.role, Role::Worker(_))
                        && serving_worker_process()
                        && since.elapsed() > act.timeout
                    {
                        tracing::error!(node_id = %act.node_id, "the head is gone: this worker node exits");
                        eprintln!("ray: node {}: the head is gone, exiting", act.node_id);
                        std::process::exit(1);
                    }
                    if since.elapsed() > act.timeout {
                        act.lose_cluster();
                    }
                }
            }));
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.endpoint.close();
    }
}
