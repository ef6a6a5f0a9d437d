//! Actors on other nodes, from both ends.
//! - The caller's end: where a new actor is placed, and the `RemoteSite` a handle's cell
//!   carries when its actor lives on another node (calls go through the cluster agent
//!   with per-caller sequence numbers).
//! - The host's end: actor classes registered by name (`RemoteClass`, emitted by
//!   `#[ray::remote]`), so a node can create an actor another node placed on it, and
//!   `HostedActor`, the type-erased handle through which calls arriving by name reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::Addr;

mod routing;

pub(crate) use routing::{Creator, Routing, Ticket};

use super::cluster::{
    CallRemoteActor, ClusterAgent, CreateRemoteActor, KillRemoteActor, NameRequest, NodeAddr,
    WorkerOn,
};
use super::{ActorHandle, ActorOptions, RemoteActor};
use crate::actors::NodeActors;
use crate::ids::{ActorId, NodeId, ObjectId, TaskId};
use crate::node::{Node, block_on};
use crate::resources::Resources;
use crate::store::{RawRef, StoredValue};
use crate::tasks::{Held, RawRefHandle};
use crate::tasks::{Placement, place, to_resources};
use crate::transport::WireActor;
use crate::{Error, Result};

/// Encodes a call's (or constructor's) arguments once its dependencies are settled.
pub(crate) type EncodeArgs = Box<dyn FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send>;

/// One method call to an actor on another node, as the generated stub gives it.
pub(crate) struct RemoteCall {
    pub(crate) method: &'static str,
    /// Refs the arguments wait for.
    pub(crate) deps: Vec<RawRef>,
    /// How many refs the call returns (the host answers them as one tuple).
    pub(crate) num_returns: usize,
    pub(crate) encode: EncodeArgs,
    /// Decodes the answer into the call's return value.
    pub(crate) decode: crate::tasks::DecodeReturns,
}

/// Where the actor of a cell lives when it is not on the cell's node.
pub(crate) struct RemoteSite {
    /// Where its calls go and how they are numbered (it follows restarts).
    pub(crate) routing: Arc<Routing>,
    /// The first host's address, for nodes that are not in the node table (drivers).
    pub(crate) at: Option<NodeAddr>,
    pub(crate) agent: Addr<ClusterAgent>,
    /// Whether this cell created the actor: dropping it stops the actor.
    pub(crate) owner: bool,
    /// Whether this (borrowed) handle told the host it keeps the actor alive.
    pub(crate) holding: std::sync::atomic::AtomicBool,
    /// Tries a call gets again on the restarted actor after its node died
    /// (`max_task_retries`).
    pub(crate) task_retries: i32,
    /// Whether the actor restarts when its node dies (`max_restarts`): calls lost with
    /// the node are then `ActorUnavailable`, and the handle follows the actor.
    pub(crate) restarts: bool,
}

impl RemoteSite {
    pub(crate) fn new(
        node: NodeId,
        at: Option<NodeAddr>,
        agent: Addr<ClusterAgent>,
        owner: bool,
        submitted: Arc<AtomicU64>,
        creator: Option<Creator>,
    ) -> Self {
        Self {
            routing: Routing::new(node, submitted, creator),
            at,
            agent,
            owner,
            holding: Default::default(),
            task_retries: 0,
            restarts: false,
        }
    }

    /// The node hosting the actor now.
    pub(crate) fn node(&self) -> NodeId {
        self.routing.node()
    }

    /// Sends the next call of this cell; returns its result refs.
    pub(crate) fn call(
        &self,
        actor_id: ActorId,
        call: RemoteCall,
        store: &Arc<crate::store::MemoryStore>,
    ) -> Vec<RawRef> {
        let task = TaskId::new();
        let returns: Vec<RawRef> = (0..call.num_returns as u32)
            .map(|i| RawRef::pending(store, ObjectId::for_return(task, i)))
            .collect();
        self.send(actor_id, call, returns.clone(), self.task_retries);
        returns
    }

    /// Sends `HOLD` or `RELEASE` as this handle's next call: in order with its calls.
    pub(crate) fn hold(&self, actor_id: ActorId, hold: bool) {
        self.holding.store(hold, Ordering::SeqCst);
        self.send(actor_id, hold_call(hold), Vec::new(), 0);
    }

    fn send(&self, actor_id: ActorId, call: RemoteCall, returns: Vec<RawRef>, retries: i32) {
        self.agent.do_send(CallRemoteActor {
            ticket: self.routing.next(),
            at: self.at,
            actor_id,
            method: call.method,
            deps: call.deps,
            encode: call.encode,
            decode: call.decode,
            returns,
            retries,
            restarts: self.restarts,
            routing: self.routing.clone(),
        });
    }

    pub(crate) fn kill(&self, actor_id: ActorId, force: bool, restart: bool) {
        self.agent.do_send(KillRemoteActor {
            target: self.node(),
            at: self.at,
            actor_id,
            force,
            restart,
        });
    }
}

/// `HOLD` or `RELEASE`: a call with no arguments and no result.
pub(crate) fn hold_call(hold: bool) -> RemoteCall {
    fn nothing(_: &[u8]) -> Result<Vec<StoredValue>> {
        Ok(Vec::new())
    }
    RemoteCall {
        method: if hold { HOLD } else { RELEASE },
        deps: Vec::new(),
        num_returns: 0,
        encode: Box::new(|| Ok((Default::default(), Box::new(()) as Held))),
        decode: nothing,
    }
}

/// What the creator of an actor on another node keeps to re-create it elsewhere when
/// that node dies (`max_restarts`).
pub(crate) struct Restart {
    /// Where the creator's handle sends calls (gone with the creator's handles).
    pub(crate) routing: std::sync::Weak<Routing>,
    /// Restarts left (-1: always).
    pub(crate) left: i32,
    pub(crate) resources: Resources,
    pub(crate) strategy: crate::SchedulingStrategy,
}

/// A random caller id (each cell orders its own calls).
pub(crate) fn new_caller() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    // Without randomness, ids still differ within the process; across processes a
    // collision would only merge two callers' orderings.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return TaskId::new().as_u64();
    }
    u64::from_le_bytes(b)
}

/// The node a new actor goes to: `None` for this node (also when no live node fits: it
/// waits here for resources, as a local actor does). An actor of a submitted job that
/// fits no process of its build goes to a job worker that a generic node starts for it:
/// this waits until that worker joined.
pub(crate) fn placement(
    node: &Arc<Node>,
    req: &Resources,
    opts: &ActorOptions,
) -> Result<Option<NodeId>> {
    if opts.placed.is_some() {
        return Ok(None);
    }
    let Some(agent) = node.actors().cluster.get() else {
        return Ok(None);
    };
    let view = node.view.read();
    // Free resources here as of the last heartbeat (the node table lists this node too).
    let free = view
        .iter()
        .find(|n| n.node_id == node.id)
        .map(|n| to_resources(&n.load.available))
        .unwrap_or_else(|| node.total.clone());
    let mut turn = crate::tasks::Turn {
        next: node.actors().actor_turn.load(Ordering::Relaxed),
        last: None,
    };
    let decision = place(
        node.id,
        &node.total,
        &free,
        req,
        &opts.strategy,
        &view,
        &node.work,
        &mut turn,
    );
    node.actors().actor_turn.store(turn.next, Ordering::Relaxed);
    drop(view);
    match (decision, node.work.job) {
        (Placement::Remote(n), _) => Ok(Some(n)),
        (Placement::StartWorker(host), Some(job_id)) => {
            tracing::info!(node_id = %node.id, host = %host, job_id = %job_id, "the actor waits for a worker of its job");
            block_on(agent.send(WorkerOn { host, job_id }))
                .map_err(|_| Error::ShutDown)?
                .map(Some)
        }
        _ => Ok(None),
    }
}

/// The head's directory of named actors, asked from any node (blocking the caller).
pub(crate) fn ask_names(node: &Node, req: NameRequest) -> Result<Option<WireActor>> {
    block_on(ask_names_async(node, req))
}

/// [`ask_names`] without blocking.
pub(crate) async fn ask_names_async(node: &Node, req: NameRequest) -> Result<Option<WireActor>> {
    let Some(agent) = node.actors().cluster.get().cloned() else {
        return Ok(None);
    };
    agent.send(req).await.map_err(|_| Error::ShutDown)?
}

/// The name an actor has in the cluster's directory.
pub(crate) fn scoped_name(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// An actor this node hosts for other nodes, reached by method name.
#[doc(hidden)]
pub trait HostedActor: Send + Sync {
    /// Submits a call with encoded arguments; returns its result ref.
    fn dispatch(&self, method: &str, args: &[u8]) -> Result<RawRef>;
    /// Kills the actor now (`restart`: as a crash, restarting while `max_restarts`
    /// allows).
    fn terminate(&self, reason: &str, restart: bool);
    /// The actor as a part of a compiled graph driven from another node takes it.
    /// (A `dag::PartActor`, opaque here: see `RemoteActor::part_actor`.)
    fn dag_actor(&self) -> Box<dyn std::any::Any + Send>;
}

/// The name of the call that only waits for the constructor (`handle.ready()`).
pub(crate) const READY: &str = "__ray_ready__";
/// A handle on another node starts keeping the actor alive (its first call).
pub(crate) const HOLD: &str = "__ray_hold__";
/// That handle is gone (its last call).
pub(crate) const RELEASE: &str = "__ray_release__";

impl<A: RemoteActor> HostedActor for ActorHandle<A> {
    fn dispatch(&self, method: &str, args: &[u8]) -> Result<RawRef> {
        if method == READY {
            return Ok(self.ready_ref());
        }
        let mut refs = A::dispatch(self, method, args)?;
        // Every method has exactly one return (checked by the macro).
        refs.pop().map(|h| h.0).ok_or_else(|| {
            Error::InvalidArgument(format!("`{}.{method}` returned nothing", A::CLASS))
        })
    }

    fn terminate(&self, reason: &str, restart: bool) {
        ActorHandle::kill(self, reason, restart);
    }

    fn dag_actor(&self) -> Box<dyn std::any::Any + Send> {
        A::part_actor(self.clone())
    }
}

/// A type-erased hosted actor (what a class's `create` returns).
#[doc(hidden)]
pub type Hosted = Arc<dyn HostedActor>;

/// One registered actor class (emitted by `#[ray::remote]` on an `impl` block).
#[doc(hidden)]
pub struct RemoteClass {
    /// Stable name: `module_path!()::Class`.
    pub name: &'static str,
    /// The constructor's and methods' signatures, for the build fingerprint.
    pub signature: &'static str,
    /// Creates the actor here from encoded constructor arguments.
    pub create: fn(&[u8], ActorOptions) -> Result<Hosted>,
}

inventory::collect!(RemoteClass);

impl crate::tasks::Registered for RemoteClass {
    fn name(&self) -> &'static str {
        self.name
    }
    fn signature(&self) -> &'static str {
        self.signature
    }
}

/// The fingerprint of this build's remote functions and actor classes (FNV-1a over
/// their sorted names and signatures; `None` when there are none, a bare `ray start
/// --head`), computed once.
fn fingerprint() -> Option<u64> {
    static FINGERPRINT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *FINGERPRINT.get_or_init(|| {
        use crate::tasks::signatures_of;
        let mut entries: Vec<(&str, &str)> = signatures_of::<crate::tasks::RemoteFunction>()
            .chain(signatures_of::<crate::node::RemoteGenerator>())
            .collect();
        // Actor classes count too: a node of another build may lack one. The crate's own
        // (`ray::util::QueueActor`) are in every build: a program without classes of its
        // own is still a generic node.
        entries
            .extend(signatures_of::<RemoteClass>().filter(|(name, _)| !name.starts_with("ray::")));
        if entries.is_empty() {
            return None;
        }
        entries.sort_unstable();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (name, sig) in entries {
            for b in name.bytes().chain([0]).chain(sig.bytes()).chain([0]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Some(h)
    })
}

/// Identifies this build's set of remote functions and actor classes; nodes of
/// different builds differ.
///
/// # Examples
/// ```
/// assert_eq!(ray::build_fingerprint(), ray::build_fingerprint());
/// ```
pub fn build_fingerprint() -> u64 {
    // The FNV offset basis: what the hash of nothing is.
    fingerprint().unwrap_or(0xcbf2_9ce4_8422_2325)
}

/// This build's fingerprint when it registered any remote function or actor class.
pub(crate) fn build_with_functions() -> Option<u64> {
    fingerprint()
}

/// The registered class `name`.
pub(crate) fn class(name: &str, node_id: NodeId) -> Result<&'static RemoteClass> {
    static CLASSES: crate::tasks::ByName<RemoteClass> = crate::tasks::ByName::new();
    CLASSES
        .get(name, node_id)
        .map_err(|_| Error::FunctionNotRegistered {
            function: format!("{name}::new"),
            node_id,
        })
}

/// Used by generated code: the handle as a hosted actor.
pub(crate) fn hosted<A: RemoteActor>(h: ActorHandle<A>) -> Hosted {
    Arc::new(h)
}

/// Used by generated code: the result refs of a method call made by name.
pub(crate) fn returns_of<T>(r: crate::ObjectRef<T>) -> Vec<RawRefHandle> {
    vec![RawRefHandle(r.raw)]
}

/// Creates the actor on node `target`: registers its name with the head first (so a
/// taken name fails here, at once), then sends the creation once the constructor's
/// arguments are ready.
pub(crate) fn create_on(
    node: &Arc<Node>,
    target: NodeId,
    id: ActorId,
    class: &'static str,
    opts: &ActorOptions,
    (deps, encode): (Vec<RawRef>, EncodeArgs),
    submitted: &Arc<AtomicU64>,
) -> Result<RemoteSite> {
    let agent = node
        .actors()
        .cluster
        .get()
        .cloned()
        .ok_or_else(|| Error::NotConnected("this node is not part of a cluster".into()))?;
    if let Some(name) = &opts.name {
        ask_names(
            node,
            NameRequest::Register(WireActor {
                actor_id: id,
                name: scoped_name(&node.namespace, name),
                class: class.to_string(),
                node_id: target,
                at: None,
                creator: (opts.max_restarts != 0).then(|| {
                    let at = node.join_address.get().map(|j| (j.addr, j.fingerprint));
                    (node.id, at)
                }),
                task_retries: opts.max_task_retries,
            }),
        )?;
    }
    let mut options = opts.clone();
    options.namespace = Some(node.namespace.clone());
    let mut site = RemoteSite::new(target, None, agent.clone(), true, submitted.clone(), None);
    if opts.max_restarts != 0 {
        site.task_retries = opts.max_task_retries;
        site.restarts = true;
    }
    let restart = (opts.max_restarts != 0).then(|| Restart {
        routing: Arc::downgrade(&site.routing),
        left: opts.max_restarts,
        resources: opts.request().unwrap_or_default(),
        strategy: opts.strategy.clone(),
    });
    agent.do_send(CreateRemoteActor {
        target,
        class,
        actor_id: id,
        options,
        deps,
        encode,
        restart,
    });
    tracing::info!(node_id = %node.id, actor_id = %id, target = %target, class, "actor placed on another node");
    Ok(site)
}
