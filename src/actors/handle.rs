//! `ActorHandle<A>`: the typed, cloneable, serializable handle to a user actor, the
//! `RemoteActor` trait that `#[ray::remote]` implements for an actor class, and the
//! creation and call paths the generated code goes through.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::host::CallCancel;
use super::host::{Ctor, HostConfig};
use super::{ActorCall, ActorHost, ActorOptions, LookupActor, Method, RegisterActor, Terminate};
use crate::ids::{ActorId, ObjectId, TaskId};
use crate::runtime::{Node, block_on, current_node};
use crate::store::{CancelHook, RawRef, stored};
use crate::{Error, Result};

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
    /// Whether the class has `async fn` methods (default `max_concurrency` 1000, else 1).
    const HAS_ASYNC: bool;
    /// Builds the method stubs for a handle.
    #[doc(hidden)]
    fn methods(cell: &Arc<ActorCell<Self>>) -> Self::Methods;
}

/// What all handles of one actor share; the actor is stopped when the last one goes
/// (unless it is detached).
#[doc(hidden)]
pub struct ActorCell<A: RemoteActor> {
    pub(crate) id: ActorId,
    pub(crate) addr: std::result::Result<Addr<ActorHost<A>>, Error>,
    pub(crate) detached: bool,
    /// Calls submitted so far (shared with the host, which fails the calls submitted
    /// before a crash).
    pub(crate) submitted: Arc<AtomicU64>,
}

impl<A: RemoteActor> Drop for ActorCell<A> {
    fn drop(&mut self) {
        if let (Ok(addr), false) = (&self.addr, self.detached) {
            addr.do_send(Terminate {
                force: false,
                reason: "all handles to the actor were dropped".into(),
            });
        }
    }
}

impl<A: RemoteActor> ActorCell<A> {
    /// Sends one method call; used by the generated method stubs.
    pub(crate) fn call(
        &self,
        name: &'static str,
        deps: Vec<RawRef>,
        num_returns: usize,
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
            self.addr.as_ref().ok().map(|a| a.downgrade().recipient()),
        ));
        let returns: Vec<RawRef> = (0..num_returns)
            .map(|i| {
                let hook = Some(cancel.clone() as CancelHook);
                RawRef::pending_with_cancel(&store, ObjectId::for_return(task_id, i as u32), hook)
            })
            .collect();
        let call = ActorCall {
            actor_id: self.id,
            task_id,
            seq: self.submitted.fetch_add(1, Ordering::SeqCst),
            cancel,
            name,
            deps,
            returns: returns.clone(),
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
pub struct ActorHandle<A: RemoteActor> {
    cell: Arc<ActorCell<A>>,
    methods: A::Methods,
}

impl<A: RemoteActor> ActorHandle<A> {
    pub(crate) fn from_cell(cell: Arc<ActorCell<A>>) -> Self {
        let methods = A::methods(&cell);
        Self { cell, methods }
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// Blocks until the actor's constructor has run.
    ///
    /// # Errors
    /// [`Error::ActorDied`] if construction failed, the name was taken, or the actor was
    /// killed.
    pub fn ready(&self) -> Result<()> {
        let r = self.cell.call(
            "__ray_ready__",
            Vec::new(),
            1,
            Method::Ref(Box::new(|_| Ok(vec![stored(())]))),
        );
        match r.first() {
            Some(r) => block_on(r.settled()).map(|_| ()),
            None => Ok(()),
        }
    }

    pub(crate) fn terminate(&self, reason: &str) {
        if let Ok(addr) = &self.cell.addr {
            addr.do_send(Terminate {
                force: true,
                reason: reason.to_string(),
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

#[derive(Serialize, Deserialize)]
struct WireHandle {
    id: ActorId,
    class: String,
}

impl<A: RemoteActor> Serialize for ActorHandle<A> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        WireHandle {
            id: self.cell.id,
            class: A::CLASS.to_string(),
        }
        .serialize(s)
    }
}

impl<'de, A: RemoteActor> Deserialize<'de> for ActorHandle<A> {
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
        lookup::<A>(LookupActor::Id(w.id)).map_err(|e| D::Error::custom(e.to_string()))
    }
}

fn lookup<A: RemoteActor>(query: LookupActor) -> Result<ActorHandle<A>> {
    let what = match &query {
        LookupActor::Id(id) => id.to_string(),
        LookupActor::Name(n) => n.clone(),
    };
    let node = current_node()?;
    let found = block_on(node.registry.send(query)).map_err(|_| Error::ShutDown)?;
    let cell = found.ok_or_else(|| Error::ActorNotFound {
        name: what.clone(),
        detail: String::new(),
    })?;
    let cell = cell
        .downcast::<ActorCell<A>>()
        .map_err(|_| Error::ActorNotFound {
            name: what,
            detail: format!(" of class `{}`", A::CLASS),
        })?;
    Ok(ActorHandle::from_cell(cell))
}

/// `ray::get_actor`: the handle of the named actor.
pub(crate) fn get_actor<A: RemoteActor>(name: &str) -> Result<ActorHandle<A>> {
    lookup(LookupActor::Name(name.to_string()))
}

/// Creates an actor on the caller's node; used by the generated `A::remote(..)`.
pub(crate) fn create<A: RemoteActor>(
    opts: &ActorOptions,
    deps: Vec<RawRef>,
    ctor: Ctor<A>,
) -> ActorHandle<A> {
    let id = ActorId::new();
    let dead = |e: Error| {
        ActorHandle::from_cell(Arc::new(ActorCell {
            id,
            addr: Err(Error::ActorDied {
                actor_id: id,
                reason: e.to_string(),
            }),
            detached: false,
            submitted: Arc::default(),
        }))
    };
    let (node, resources) = match current_node().and_then(|n| Ok((n, opts.request()?))) {
        Ok(x) => x,
        Err(e) => return dead(e),
    };
    let arbiter = match node.actor_thread() {
        Ok(a) => a,
        Err(e) => return dead(e),
    };
    let cfg = HostConfig {
        max_concurrency: opts
            .max_concurrency
            .unwrap_or(if A::HAS_ASYNC { 1000 } else { 1 }),
        max_restarts: opts.max_restarts,
        max_task_retries: opts.max_task_retries,
        resources,
    };
    let host_node: Arc<Node> = node.clone();
    let submitted = Arc::new(AtomicU64::new(0));
    let host_submitted = submitted.clone();
    let addr = ActorHost::start_in_arbiter(&arbiter, move |_| {
        ActorHost::new(id, A::CLASS, host_node, ctor, deps, cfg, host_submitted)
    });
    let cell = Arc::new(ActorCell {
        id,
        addr: Ok(addr),
        detached: opts.detached,
        submitted,
    });
    let register = RegisterActor {
        id,
        name: opts.name.clone(),
        cell: Arc::downgrade(&(cell.clone() as Arc<dyn std::any::Any + Send + Sync>)),
        pinned: opts
            .detached
            .then(|| cell.clone() as Arc<dyn std::any::Any + Send + Sync>),
    };
    let handle = ActorHandle::from_cell(cell);
    if opts.name.is_some() {
        // Named: the caller must learn now whether the name was free.
        let registered = block_on(node.registry.send(register)).unwrap_or(Err(Error::ShutDown));
        if let Err(e) = registered {
            handle.terminate(&e.to_string());
            // Calls on the returned handle report why (the stopped host cannot).
            return dead(e);
        }
    } else {
        node.registry.do_send(register);
    }
    handle
}
