//! Creating an actor (the generated `A::remote(..)` and `remote_async(..)`): on this
//! node, or on the node placement chose; a name is registered before the handle is
//! given out.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use actix::prelude::*;

use super::{ActorCell, ActorHandle, RemoteActor};
use crate::actors::cluster::NameRequest;
use crate::actors::host::{Ctor, HostConfig};
use crate::actors::registry::AnyCell;
use crate::actors::remote::{self, EncodeArgs};
use crate::actors::{ActorHost, ActorOptions, NodeActors, RegisterActor};
use crate::ids::{ActorId, NodeId};
use crate::node::{Node, block_on, current_node};
use crate::store::RawRef;
use crate::transport::WireActor;
use crate::{Error, Result};

/// Creates actor `id` on node `target`: the handle sends its calls there.
fn create_on<A: RemoteActor>(
    node: &Arc<Node>,
    target: NodeId,
    id: ActorId,
    opts: &ActorOptions,
    args: (Vec<RawRef>, EncodeArgs),
) -> Result<ActorHandle<A>> {
    let submitted = Arc::new(AtomicU64::new(0));
    let site = remote::create_on(node, target, id, A::PATH, opts, args, &submitted)?;
    let cell: Arc<ActorCell<A>> = Arc::new(ActorCell::at(id, site, opts.detached, submitted));
    node.actors().actor_cells.get_or_insert(id, cell.clone());
    Ok(ActorHandle::from_cell(cell))
}

/// Creates an actor; used by the generated `A::remote(..)`. It goes to this node when
/// it has the resources, else to another node that has them (placement as for tasks);
/// `encode` gives the constructor's arguments for that trip.
pub(crate) fn create<A: RemoteActor>(
    opts: &ActorOptions,
    deps: Vec<RawRef>,
    ctor: Ctor<A>,
    encode: EncodeArgs,
) -> ActorHandle<A> {
    let id = opts.placed.unwrap_or_else(ActorId::new);
    try_create(id, opts, deps, ctor, encode).unwrap_or_else(|e| {
        // Calls on the returned handle report why.
        let addr = Err(Error::ActorDied {
            actor_id: id,
            reason: e.to_string(),
        });
        ActorHandle::from_cell(Arc::new(ActorCell::new(
            id,
            addr,
            None,
            false,
            Arc::default(),
        )))
    })
}

/// `A::options()...remote_async(..)`: [`create`] on a thread of its own, so that an
/// async caller's executor never waits for a name's registration or a placement; the
/// creation's error (a name already taken) comes back as the `Err`.
pub(crate) fn create_async<A: RemoteActor>(
    opts: &ActorOptions,
    deps: Vec<RawRef>,
    ctor: Ctor<A>,
    encode: EncodeArgs,
) -> futures::future::BoxFuture<'static, Result<ActorHandle<A>>> {
    use futures::FutureExt;
    let id = opts.placed.unwrap_or_else(ActorId::new);
    let (tx, rx) = futures::channel::oneshot::channel();
    let started = current_node().and_then(|node| {
        let opts = opts.clone();
        std::thread::Builder::new()
            .name("ray-create-actor".into())
            .spawn(move || {
                let made = crate::node::with_context(Some(node.context()), || {
                    try_create(id, &opts, deps, ctor, encode)
                });
                let _ = tx.send(made);
            })
            .map_err(|e| Error::OutOfResources(format!("no thread to create the actor: {e}")))
    });
    async move {
        started?;
        rx.await.map_err(|_| Error::ShutDown)?
    }
    .boxed()
}

fn try_create<A: RemoteActor>(
    id: ActorId,
    opts: &ActorOptions,
    deps: Vec<RawRef>,
    ctor: Ctor<A>,
    encode: EncodeArgs,
) -> Result<ActorHandle<A>> {
    let node = current_node()?;
    let resources = opts.request()?;
    if let Some(target) = remote::placement(&node, &resources, opts)? {
        return create_on(&node, target, id, opts, (deps, encode));
    }
    let arbiter = node.actor_thread(A::HAS_ASYNC)?;
    let scoped_name = opts
        .name
        .as_ref()
        .map(|n| remote::scoped_name(opts.namespace.as_deref().unwrap_or(&node.namespace), n));
    let cfg = HostConfig {
        max_concurrency: opts
            .max_concurrency
            .unwrap_or(if A::HAS_ASYNC { 1000 } else { 1 }),
        group_limits: A::CONCURRENCY_GROUPS.iter().map(|(_, n)| *n).collect(),
        max_restarts: opts.max_restarts,
        max_task_retries: opts.max_task_retries,
        resources,
        // Its name is dropped from the cluster's directory when it stops.
        named: scoped_name.is_some() && node.actors().cluster.get().is_some(),
        io_thread: A::HAS_ASYNC,
    };
    let host_node: Arc<Node> = node.clone();
    let submitted = Arc::new(AtomicU64::new(0));
    let host_submitted = submitted.clone();
    let addr = ActorHost::start_in_arbiter(&arbiter, move |_| {
        ActorHost::new(id, A::CLASS, host_node, ctor, deps, cfg, host_submitted)
    });
    let cell = Arc::new(ActorCell::new(id, Ok(addr), None, opts.detached, submitted));
    let any = cell.clone() as AnyCell;
    node.actors().actor_cells.get_or_insert(id, any.clone());
    let register = RegisterActor {
        id,
        name: opts.name.clone(),
        cell: Arc::downgrade(&any),
        pinned: opts.detached.then_some(any),
    };
    let handle = ActorHandle::from_cell(cell);
    if opts.name.is_none() || opts.placed.is_some() {
        // An actor placed here by another node had its name checked by the head already
        // (and this may be the node's own thread, which must not block).
        node.actors().registry.do_send(register);
        return Ok(handle);
    }
    // Named: the caller must learn now whether the name is free, here and cluster-wide.
    let mut registered =
        block_on(node.actors().registry.send(register)).unwrap_or(Err(Error::ShutDown));
    if let (Ok(()), Some(name)) = (&registered, scoped_name) {
        let at = node.join_address.get().map(|j| (j.addr, j.fingerprint));
        let entry = WireActor {
            actor_id: id,
            name,
            class: A::PATH.to_string(),
            node_id: node.id,
            at,
            // Hosted by its creator: it restarts in place, or dies with this node.
            creator: None,
            task_retries: 0,
        };
        registered = remote::ask_names(&node, NameRequest::Register(entry)).map(|_| ());
    }
    if let Err(e) = registered {
        handle.terminate(&e.to_string());
        return Err(e);
    }
    Ok(handle)
}
