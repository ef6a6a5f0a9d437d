//! `ActorHandle<A>`: the typed, cloneable, serializable handle to a user actor, the
//! `RemoteActor` trait that `#[ray::remote]` implements for an actor class, and the
//! creation and call paths the generated code goes through.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cluster::NodeAddr;
use super::host::CallCancel;
use super::registry::{AnyCell, LiveCell};
use super::remote::{self, Creator, EncodeArgs, RemoteCall, RemoteSite};
use super::{ActorCall, ActorHost, Method, Terminate};
use crate::actors::NodeActors;
use crate::ids::{ActorId, NodeId, ObjectId, TaskId};
use crate::node::{Node, current_node};
use crate::store::{CancelHook, ObjectRef, RawRef, StoredValue, stored};
use crate::tasks::RawRefHandle;
use crate::{Error, Result};

mod create;
mod lookup;
pub(crate) use create::{create, create_async};
pub(crate) use lookup::{get_actor, get_actor_async};

/// Implemented by `#[ray::remote]` on an actor class's `impl` block.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Echo;
/// #[ray::remote]
/// impl Echo {
///     pub fn new() -> Self { Echo }
///     pub async fn echo(&self, s: String) -> String { s }
/// }
///
/// assert_eq!(<Echo as RemoteActor>::CLASS, "Echo");
/// assert!(<Echo as RemoteActor>::HAS_ASYNC);
/// ```
pub trait RemoteActor: Send + Sync + Sized + 'static {
    /// The per-method stubs reached as `handle.method` (generated).
    type Methods: Send + Sync;
    /// The class name, for logs and errors.
    const CLASS: &'static str;
    /// The class's registered name (`module::path::Class`), by which other nodes create
    /// it.
    #[doc(hidden)]
    const PATH: &'static str;
    /// Whether the class has `async fn` methods (default `max_concurrency` 1000, else 1).
    const HAS_ASYNC: bool;
    /// The concurrency groups the class declares
    /// (`#[ray::remote(concurrency_groups(io = 2))]`), each with its limit, in order. A
    /// method's calls count against its group's limit only; methods without a group are
    /// in the default group, whose limit is the actor's `max_concurrency`.
    const CONCURRENCY_GROUPS: &'static [(&'static str, usize)] = &[];
    /// Builds the method stubs for a handle.
    #[doc(hidden)]
    fn methods(cell: &Arc<ActorCell<Self>>) -> Self::Methods;
    /// Calls `method` with encoded arguments (a call that came from another node).
    #[doc(hidden)]
    fn dispatch(handle: &ActorHandle<Self>, method: &str, args: &[u8])
    -> Result<Vec<RawRefHandle>>;
    /// The handle as a compiled graph's part takes it (a `dag::PartActor`, opaque at this
    /// layer, which sits below compiled graphs).
    #[doc(hidden)]
    fn part_actor(handle: ActorHandle<Self>) -> Box<dyn std::any::Any + Send>;
    /// Runs `method` (`Class.method`) on the instance with encoded arguments and encodes
    /// its result (a compiled graph's call from another node).
    #[doc(hidden)]
    fn dag_call(this: &mut Self, method: &str, args: Vec<Vec<u8>>) -> Result<Vec<u8>> {
        let _ = (this, args);
        Err(Error::InvalidArgument(format!(
            "`{method}` cannot run in a compiled graph"
        )))
    }
}

/// What all handles of one actor share; the actor is stopped when the last one goes
/// (unless it is detached).
#[doc(hidden)]
pub struct ActorCell<A: RemoteActor> {
    pub(crate) id: ActorId,
    pub(crate) addr: std::result::Result<Addr<ActorHost<A>>, Error>,
    /// Set when the actor lives on another node: calls go there.
    pub(crate) remote: Option<RemoteSite>,
    pub(crate) detached: bool,
    /// Calls submitted so far (shared with the host, which fails the calls submitted
    /// before a crash).
    pub(crate) submitted: Arc<AtomicU64>,
}

impl<A: RemoteActor> Drop for ActorCell<A> {
    fn drop(&mut self) {
        if let Some(site) = &self.remote {
            if site.owner && !self.detached {
                site.kill(self.id, false, false);
            } else if site.holding.load(Ordering::SeqCst) {
                site.hold(self.id, false);
            }
            return;
        }
        if let (Ok(addr), false) = (&self.addr, self.detached) {
            addr.do_send(Terminate {
                force: false,
                reason: "all handles to the actor were dropped".into(),
                restart: false,
            });
        }
    }
}

impl<A: RemoteActor> LiveCell for ActorCell<A> {
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    fn hosted(self: Arc<Self>) -> Option<Arc<dyn super::HostedActor>> {
        if self.is_remote() {
            return None;
        }
        Some(Arc::new(ActorHandle::from_cell(self)))
    }
}

impl<A: RemoteActor> ActorCell<A> {
    fn new(
        id: ActorId,
        addr: std::result::Result<Addr<ActorHost<A>>, Error>,
        remote: Option<RemoteSite>,
        detached: bool,
        submitted: Arc<AtomicU64>,
    ) -> Self {
        Self {
            id,
            addr,
            remote,
            detached,
            submitted,
        }
    }

    /// A cell whose actor lives on another node.
    fn at(id: ActorId, site: RemoteSite, detached: bool, submitted: Arc<AtomicU64>) -> Self {
        let addr = Err(Error::InvalidArgument(
            "the actor lives on another node".into(),
        ));
        Self::new(id, addr, Some(site), detached, submitted)
    }

    /// Whether `stored` is this very cell.
    fn is_stored_as(self: &Arc<Self>, stored: &AnyCell) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(self), Arc::as_ptr(stored))
    }

    /// A streaming method's stream, pulled from the node hosting the actor once the
    /// call's answer (`ticket`) names it; used by the generated method stubs.
    pub(crate) fn pull_stream<T>(
        &self,
        ticket: Vec<RawRef>,
        decode_item: fn(&[u8]) -> Result<StoredValue>,
    ) -> crate::ObjectRefStream<T> {
        let (sink, mut stream) = crate::ObjectRefStream::channel(None);
        let (node, site) = match (current_node(), &self.remote) {
            (Ok(n), Some(site)) => (n, site),
            (Err(e), _) => return crate::ObjectRefStream::failed(e),
            (_, None) => {
                let e = Error::InvalidArgument("the actor is not remote".into());
                return crate::ObjectRefStream::failed(e);
            }
        };
        let completion = RawRef::pending(&node.store, ObjectId::for_return(TaskId::new(), 0));
        stream.attach(completion.clone());
        let Some(ticket) = ticket.into_iter().next() else {
            return stream;
        };
        site.agent.do_send(super::cluster::PullStream {
            target: site.node(),
            at: site.at,
            ticket,
            sink,
            decode_item,
            completion,
        });
        stream
    }

    /// Whether calls go to another node; used by the generated method stubs.
    pub(crate) fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Sends one call to the actor on another node; used by the generated method stubs.
    pub(crate) fn call_remote(&self, call: RemoteCall) -> Vec<RawRef> {
        let failed = |e: Error| {
            (0..call.num_returns)
                .map(|_| RawRef::failed(e.clone()))
                .collect()
        };
        match (current_node(), &self.remote) {
            (Ok(n), Some(site)) => site.call(self.id, call, &n.store),
            (Err(e), _) => failed(e),
            (_, None) => failed(Error::InvalidArgument("the actor is not remote".into())),
        }
    }

    /// Sends one method call in concurrency group `group` (0: the default group, `i + 1`:
    /// `A::CONCURRENCY_GROUPS[i]`); used by the generated method stubs.
    pub(crate) fn call(
        &self,
        name: &'static str,
        deps: Vec<RawRef>,
        num_returns: usize,
        group: usize,
        method: Method<A>,
    ) -> Vec<RawRef> {
        let task_id = TaskId::new();
        let store = match current_node() {
            Ok(n) => n.store.clone(),
            Err(e) => {
                return (0..num_returns)
                    .map(|_| RawRef::failed(e.clone()))
                    .collect();
            }
        };
        let cancel = Arc::new(CallCancel::new(
            task_id,
            self.addr.as_ref().ok().map(Addr::downgrade),
        ));
        let returns: Vec<RawRef> = (0..num_returns)
            .map(|i| {
                let hook = Some(cancel.clone() as CancelHook);
                RawRef::pending_with_cancel(&store, ObjectId::for_return(task_id, i as u32), hook)
            })
            .collect();
        let mut call = ActorCall {
            actor_id: self.id,
            task_id,
            seq: self.submitted.fetch_add(1, Ordering::SeqCst),
            cancel,
            name,
            group,
            deps,
            returns: returns.iter().cloned().collect(),
            method: Some(method),
        };
        match &self.addr {
            // A closed mailbox drops the call, whose `Drop` settles it as `ActorDied`.
            Ok(addr) => addr.do_send(call),
            Err(e) => call.fail(e.clone()),
        }
        returns
    }
}

/// A handle to an actor: call its methods as `handle.method.remote(args)`.
///
/// Cloning is cheap and all clones reach the same instance; calls from one caller run in
/// submission order. The actor stops when the last handle is dropped, unless it was
/// created `detached()`.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Counter { i: i64 }
///
/// #[ray::remote]
/// impl Counter {
///     pub fn new() -> Self { Counter { i: 0 } }
///     pub fn incr(&mut self, by: i64) -> i64 { self.i += by; self.i }
/// }
///
/// let c: ActorHandle<Counter> = Counter::remote();
/// let refs: Vec<_> = (0..5).map(|_| c.incr.remote(1)).collect();
/// assert_eq!(ray::get(&refs).unwrap(), vec![1, 2, 3, 4, 5]);
/// # ray::shutdown();
/// ```
#[must_use = "dropping the last handle of an actor that is not detached ends the actor"]
pub struct ActorHandle<A: RemoteActor> {
    cell: Arc<ActorCell<A>>,
    methods: A::Methods,
}

impl<A: RemoteActor> ActorHandle<A> {
    pub(crate) fn from_cell(cell: Arc<ActorCell<A>>) -> Self {
        let methods = A::methods(&cell);
        Self { cell, methods }
    }

    /// The cell all handles of this actor share.
    pub(crate) fn cell(&self) -> &Arc<ActorCell<A>> {
        &self.cell
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// A ref that settles once the actor's constructor has run: `ray::get(&a.ready())`
    /// blocks for it, `a.ready().await` waits without blocking (Ray's
    /// `a.__ray_ready__.remote()`). It fails with [`Error::ActorDied`] if construction
    /// failed, the name was taken, or the actor was killed.
    ///
    /// # Examples
    /// ```
    /// use ray::prelude::*;
    ///
    /// pub struct Slow;
    /// #[ray::remote]
    /// impl Slow {
    ///     pub fn new() -> Self {
    ///         std::thread::sleep(std::time::Duration::from_millis(20));
    ///         Slow
    ///     }
    /// }
    ///
    /// let a = Slow::remote();
    /// ray::get(&a.ready()).unwrap();
    /// # ray::shutdown();
    /// ```
    pub fn ready(&self) -> ObjectRef<()> {
        ObjectRef::from_raw(self.ready_ref())
    }

    /// The result of a call that only waits for the constructor.
    pub(crate) fn ready_ref(&self) -> RawRef {
        fn unit(_: &[u8]) -> Result<Vec<StoredValue>> {
            Ok(vec![stored(())])
        }
        let mut refs = if self.cell.is_remote() {
            // No arguments.
            let encode: EncodeArgs =
                Box::new(|| Ok((Default::default(), Box::new(()) as crate::tasks::Held)));
            self.cell.call_remote(RemoteCall {
                method: remote::READY,
                deps: Vec::new(),
                num_returns: 1,
                encode,
                decode: unit,
            })
        } else {
            self.cell.call(
                remote::READY,
                Vec::new(),
                1,
                0,
                Method::Ref(Box::new(|_| Ok(vec![stored(())]))),
            )
        };
        refs.pop()
            .unwrap_or_else(|| RawRef::failed(Error::InvalidArgument("no ready call".into())))
    }

    pub(crate) fn terminate(&self, reason: &str) {
        self.kill(reason, false);
    }

    /// Kills the actor now; with `restart`, as a crash (it restarts while
    /// `max_restarts` allows), else for good.
    pub(crate) fn kill(&self, reason: &str, restart: bool) {
        if let Some(site) = &self.cell.remote {
            site.kill(self.cell.id, true, restart);
            return;
        }
        if let Ok(addr) = &self.cell.addr {
            addr.do_send(Terminate {
                force: true,
                reason: reason.to_string(),
                restart,
            });
        }
    }
}

impl<A: RemoteActor> Deref for ActorHandle<A> {
    type Target = A::Methods;
    fn deref(&self) -> &A::Methods {
        &self.methods
    }
}

impl<A: RemoteActor> Clone for ActorHandle<A> {
    fn clone(&self) -> Self {
        Self::from_cell(self.cell.clone())
    }
}

impl<A: RemoteActor> fmt::Debug for ActorHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorHandle<{}>({})", A::CLASS, self.cell.id)
    }
}

/// A handle on the wire: the actor and the node that hosts it.
#[derive(Serialize, Deserialize)]
struct WireHandle {
    id: ActorId,
    class: String,
    node: NodeId,
    /// The host's address, for nodes that are not in the node table (drivers).
    at: Option<NodeAddr>,
    /// Who re-creates the actor when its node dies, and so knows where it went.
    #[serde(default)]
    creator: Option<Creator>,
    /// Whether it restarts (`max_restarts`), and how often a call lost with its node
    /// runs again (`max_task_retries`): every handle follows the creator's options.
    #[serde(default)]
    restarts: bool,
    #[serde(default)]
    task_retries: i32,
}

impl<A: RemoteActor> Serialize for ActorHandle<A> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let here = current_node().map_err(|e| S::Error::custom(e.to_string()))?;
        let here_at = here.join_address.get().map(|j| (j.addr, j.fingerprint));
        let me = Creator {
            node: here.id,
            at: here_at,
        };
        let (node, at, creator, restarts, task_retries) = match &self.cell.remote {
            Some(site) => (
                site.node(),
                site.at,
                if site.owner {
                    Some(me)
                } else {
                    site.routing.creator
                },
                site.restarts,
                site.task_retries,
            ),
            None => (here.id, here_at, Some(me), false, 0),
        };
        if here.actors().cluster.get().is_some() {
            // Kept for the grace period, so that the actor outlives its trip to a node
            // whose handle then keeps it alive.
            here.pin_escaped(Box::new(self.cell.clone()));
        }
        WireHandle {
            id: self.cell.id,
            class: A::CLASS.to_string(),
            node,
            at,
            creator,
            restarts,
            task_retries,
        }
        .serialize(s)
    }
}

impl<'de, A: RemoteActor> Deserialize<'de> for ActorHandle<A> {
    /// A handle of an actor known here joins its live cell; a handle of an actor on
    /// another node becomes a cell that sends calls there (its own caller: its calls keep
    /// their order among themselves).
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = WireHandle::deserialize(d)?;
        if w.class != A::CLASS {
            return Err(D::Error::custom(format!(
                "handle of a `{}` actor decoded as `{}`",
                w.class,
                A::CLASS
            )));
        }
        let node = current_node().map_err(|e| D::Error::custom(e.to_string()))?;
        handle_at(&node, &w).map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// The handle of actor `id` hosted by node `host`, as seen from `node`.
fn handle_at<A: RemoteActor>(node: &Arc<Node>, w: &WireHandle) -> Result<ActorHandle<A>> {
    let (id, host) = (w.id, w.node);
    let not_found = |detail: String| Error::ActorNotFound {
        name: id.to_string(),
        detail,
    };
    let cell = match node.actors().actor_cells.get(id) {
        Some(cell) => cell,
        None if host == node.id => return Err(not_found(" (it is no longer alive)".into())),
        None => {
            let agent = node.actors().cluster.get().cloned().ok_or_else(|| {
                Error::NotConnected(format!(
                    "actor {id} lives on node {host}, but this node is not part of a cluster"
                ))
            })?;
            let submitted = Arc::new(AtomicU64::new(0));
            let mut site = RemoteSite::new(host, w.at, agent, false, submitted.clone(), w.creator);
            site.restarts = w.restarts;
            site.task_retries = w.task_retries;
            let ours: Arc<ActorCell<A>> = Arc::new(ActorCell::at(id, site, false, submitted));
            let cell = node.actors().actor_cells.get_or_insert(id, ours.clone());
            if let Some(site) = ours.remote.as_ref().filter(|_| ours.is_stored_as(&cell)) {
                // This node's first handle to it: the actor lives at least as long.
                site.hold(id, true);
            }
            cell
        }
    };
    let cell = cell
        .as_any()
        .downcast::<ActorCell<A>>()
        .map_err(|_| not_found(format!(" of class `{}`", A::CLASS)))?;
    Ok(ActorHandle::from_cell(cell))
}
