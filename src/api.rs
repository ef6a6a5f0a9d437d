//! The free functions of the public API: `get`, `put`, `wait`, `cancel`, `kill`,
//! `get_actor` and cluster introspection. Each resolves the caller's node through the
//! execution context (or the driver's runtime) and delegates.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod cluster;
pub mod job_submission;
mod stream;
mod wait;
pub use wait::{WaitResult, wait, wait_async, wait_with};

pub use crate::actors::NodeInfo;
pub use cluster::{JobInfo, available_resources, cluster_resources, jobs, nodes, pending_demands};

use crate::actors::NodeActors;
use crate::actors::{ActorHandle, CancelTask, QueryNode, RemoteActor};
use crate::ids::ObjectId;
use crate::node::{block_on, block_on_deadline, current_node};
use crate::store::{MemorySummary, ObjectRef, RawRef, object_ref_downcast, stored};
use crate::tasks::Value;
use crate::{Error, Result};

/// What `ray::get` accepts: one ref, or a slice, array or `Vec` of refs (object refs, or
/// the [`crate::dag::CompiledRef`]s of compiled-graph executions).
///
/// # Examples
/// ```
/// let one = ray::put(1u8);
/// let arr = [ray::put(2u8), ray::put(3u8)];
/// assert_eq!(ray::get(&one).unwrap(), 1);
/// assert_eq!(ray::get(&arr).unwrap(), vec![2, 3]);
/// assert_eq!(ray::get(&arr[..1]).unwrap(), vec![2]);
/// # ray::shutdown();
/// ```
pub trait Gettable {
    /// `T` for one ref, `Vec<T>` for several.
    type Output;
    #[doc(hidden)]
    fn refs(&self) -> Vec<&RawRef>;
    #[doc(hidden)]
    fn assemble(values: Vec<crate::store::StoredValue>, ids: Vec<ObjectId>)
    -> Result<Self::Output>;
    /// Waits for the value(s); object refs read the object store, other refs (compiled
    /// graphs) their own channels.
    #[doc(hidden)]
    fn get_with(&self, timeout: Option<Duration>) -> Result<Self::Output> {
        get_inner(self, timeout)
    }
}

fn typed<T: Value>(id: ObjectId, v: crate::store::StoredValue) -> Result<T> {
    object_ref_downcast::<T>(id, v).map(|a| (*a).clone())
}

impl<T: Value> Gettable for ObjectRef<T> {
    type Output = T;
    fn refs(&self) -> Vec<&RawRef> {
        vec![&self.raw]
    }
    fn assemble(mut values: Vec<crate::store::StoredValue>, ids: Vec<ObjectId>) -> Result<T> {
        match (values.pop(), ids.first()) {
            (Some(v), Some(id)) => typed(*id, v),
            _ => Err(Error::InvalidArgument("no value".into())),
        }
    }
}

impl<T: Value> Gettable for [ObjectRef<T>] {
    type Output = Vec<T>;
    fn refs(&self) -> Vec<&RawRef> {
        self.iter().map(|r| &r.raw).collect()
    }
    fn assemble(values: Vec<crate::store::StoredValue>, ids: Vec<ObjectId>) -> Result<Vec<T>> {
        values
            .into_iter()
            .zip(ids)
            .map(|(v, id)| typed(id, v))
            .collect()
    }
}

impl<T: Value> Gettable for Vec<ObjectRef<T>> {
    type Output = Vec<T>;
    fn refs(&self) -> Vec<&RawRef> {
        self.as_slice().refs()
    }
    fn assemble(values: Vec<crate::store::StoredValue>, ids: Vec<ObjectId>) -> Result<Vec<T>> {
        <[ObjectRef<T>]>::assemble(values, ids)
    }
}

impl<T: Value, const N: usize> Gettable for [ObjectRef<T>; N] {
    type Output = Vec<T>;
    fn refs(&self) -> Vec<&RawRef> {
        self.as_slice().refs()
    }
    fn assemble(values: Vec<crate::store::StoredValue>, ids: Vec<ObjectId>) -> Result<Vec<T>> {
        <[ObjectRef<T>]>::assemble(values, ids)
    }
}

/// Waits for every ref in order; the first error wins.
struct GetAll<'a> {
    refs: Vec<&'a RawRef>,
    values: Vec<crate::store::StoredValue>,
}

impl Future for GetAll<'_> {
    type Output = Result<Vec<crate::store::StoredValue>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        while self.values.len() < self.refs.len() {
            let next = self.refs[self.values.len()];
            match next.poll(cx) {
                Poll::Ready(Ok(v)) => self.values.push(v),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(std::mem::take(&mut self.values)))
    }
}

fn get_inner<G: Gettable + ?Sized>(refs: &G, timeout: Option<Duration>) -> Result<G::Output> {
    let raws = refs.refs();
    let ids = raws.iter().map(|r| r.id()).collect();
    let fut = GetAll {
        values: Vec::with_capacity(raws.len()),
        refs: raws,
    };
    let values = match timeout {
        None => block_on(fut)?,
        Some(t) => block_on_deadline(fut, Some(Instant::now() + t))
            .map_err(|()| Error::Timeout { after: t })??,
    };
    G::assemble(values, ids)
}

/// Blocks until the value(s) are available and returns them, in input order.
///
/// In async code use `r.await` instead: it never blocks an executor thread. A
/// synchronous task blocked here lends its CPU to other tasks, so nested tasks cannot
/// deadlock.
///
/// # Errors
/// The task's error ([`Error::TaskFailed`], [`Error::TaskPanicked`], ...) for the first
/// failed ref, [`Error::ObjectLost`], [`Error::Cancelled`], [`Error::ShutDown`].
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn square(x: i64) -> i64 { x * x }
///
/// let refs: Vec<ray::ObjectRef<i64>> = (0..4).map(|i| square.remote(i)).collect();
/// assert_eq!(ray::get(&refs).unwrap(), vec![0, 1, 4, 9]);
/// assert_eq!(ray::get(&refs[3]).unwrap(), 9);
/// # ray::shutdown();
/// ```
pub fn get<G: Gettable + ?Sized>(refs: &G) -> Result<G::Output> {
    refs.get_with(None)
}

/// Like [`get`], giving up after `timeout` with [`Error::Timeout`].
///
/// # Errors
/// As [`get`], plus [`Error::Timeout`].
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn slow() -> u8 { std::thread::sleep(std::time::Duration::from_millis(500)); 1 }
///
/// let r = slow.remote();
/// let err = ray::get_timeout(&r, std::time::Duration::from_millis(10)).unwrap_err();
/// assert!(matches!(err, ray::Error::Timeout { .. }));
/// # ray::shutdown();
/// ```
pub fn get_timeout<G: Gettable + ?Sized>(refs: &G, timeout: Duration) -> Result<G::Output> {
    refs.get_with(Some(timeout))
}

/// Stores `value` in the caller's node and returns a ref to it. The value is moved, not
/// copied or serialized: a 1 GiB buffer costs a pointer.
///
/// # Examples
/// ```
/// let r = ray::put(vec![1.0f64; 1000]);
/// assert_eq!(ray::get(&r).unwrap().len(), 1000);
/// # ray::shutdown();
/// ```
pub fn put<T: Value>(value: T) -> ObjectRef<T> {
    let raw = match current_node() {
        Ok(node) => RawRef::ready(&node.store, ObjectId::for_put(), stored(value)),
        Err(e) => RawRef::failed(e),
    };
    ObjectRef::from_raw(raw)
}

/// Cancels the task (or actor method call) that produces `r`. A pending task or queued
/// call is dropped; a running async task or async method is aborted; a running sync task
/// is flagged (`runtime_context().is_canceled()`) and its result ignored, and a running
/// sync method finishes (as in Ray). Except for that last case, `get(r)` then returns
/// [`Error::Cancelled`]. A task sent to another node is cancelled there the same way
/// from the caller's side: `get(r)` returns `Cancelled` at once and it is not tried
/// again. With `force`, a task running in a job's worker process (a job submitted with
/// `ray job submit`, on a generic node) ends that process, as Ray's `force=True` ends
/// the worker: the job's other tasks there are tried again on a new worker. Elsewhere
/// (this process, or a node running its own program) tasks share the process with
/// others, so `force` acts like `false`.
///
/// # Errors
/// [`Error::InvalidArgument`] when `r` is a `put` object (only tasks can be cancelled).
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn forever() -> u8 {
///     while !ray::runtime_context().is_canceled() {
///         std::thread::sleep(std::time::Duration::from_millis(1));
///     }
///     0
/// }
///
/// let r = forever.remote();
/// ray::cancel(&r, false).unwrap();
/// assert!(ray::get(&r).unwrap_err().is_cancelled());
/// # ray::shutdown();
/// ```
pub fn cancel<T>(r: &ObjectRef<T>, force: bool) -> Result<()> {
    cancel_with(r, force, true)
}

/// [`cancel`] as Ray's `ray.cancel(r, force=, recursive=)`: with `recursive` (what
/// `cancel` does, Ray's default) the tasks that the task submitted, and theirs, are
/// cancelled too; without, they run on.
///
/// # Errors
/// As [`cancel`].
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn nap() -> u8 {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     0
/// }
///
/// let r = nap.remote();
/// ray::cancel_with(&r, false, false).unwrap();
/// assert!(ray::get(&r).unwrap_err().is_cancelled());
/// # ray::shutdown();
/// ```
pub fn cancel_with<T>(r: &ObjectRef<T>, force: bool, recursive: bool) -> Result<()> {
    let id = r.id();
    if id.is_put() {
        return Err(Error::InvalidArgument(format!(
            "object {id} was put, not returned by a task: there is nothing to cancel"
        )));
    }
    if r.raw.cancel_hook() {
        return Ok(());
    }
    let node = current_node()?;
    node.actors().manager.do_send(CancelTask {
        task_id: id.task_id(),
        force,
        recursive,
    });
    Ok(())
}

/// Kills an actor at once: queued and running calls fail with [`Error::ActorDied`], and
/// it is not restarted.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// pub struct A;
/// #[ray::remote]
/// impl A { pub fn new() -> Self { A } pub fn ping(&self) -> u8 { 1 } }
///
/// let a = A::remote();
/// assert_eq!(ray::get(&a.ping.remote()).unwrap(), 1);
/// ray::kill(&a);
/// assert!(matches!(ray::get(&a.ping.remote()), Err(ray::Error::ActorDied { .. })));
/// # ray::shutdown();
/// ```
pub fn kill<A: RemoteActor>(actor: &ActorHandle<A>) {
    kill_with(actor, true);
}

/// [`kill`] as Ray's `ray.kill(actor, no_restart=)`: with `no_restart` false the actor is
/// killed as a crash (calls in flight fail; it restarts, from its constructor, while
/// `max_restarts` allows, using one up); with `no_restart` true it is gone for good.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// pub struct Count { n: u32 }
/// #[ray::remote]
/// impl Count {
///     pub fn new() -> Self { Count { n: 0 } }
///     pub fn incr(&mut self) -> u32 { self.n += 1; self.n }
/// }
///
/// let c = Count::options().max_restarts(1).remote();
/// assert_eq!(ray::get(&c.incr.remote()).unwrap(), 1);
/// ray::kill_with(&c, false);
/// // Calls that race the restart fail; then it is back, from its constructor.
/// let back = loop {
///     if let Ok(n) = ray::get(&c.incr.remote()) {
///         break n;
///     }
/// };
/// assert_eq!(back, 1);
/// # ray::shutdown();
/// ```
pub fn kill_with<A: RemoteActor>(actor: &ActorHandle<A>, no_restart: bool) {
    actor.kill("killed by ray::kill", !no_restart);
}

/// Ends the actor whose method calls it, as Ray's `ray.actor.exit_actor()`: the calling
/// call fails with [`Error::ActorDied`] naming the exit, every call in flight or queued
/// with [`Error::ActorDied`], and the actor is not restarted (whatever its
/// `max_restarts`). It unwinds the
/// method like a panic, without the panic message.
///
/// # Panics
/// Outside an actor's constructor or method: there is no actor to exit.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Worker;
/// #[ray::remote]
/// impl Worker {
///     pub fn new() -> Self { Worker }
///     pub fn work(&self, last: bool) -> u8 {
///         if last {
///             ray::exit_actor();
///         }
///         1
///     }
/// }
///
/// let w = Worker::options().max_restarts(3).remote();
/// assert_eq!(ray::get(&w.work.remote(false)).unwrap(), 1);
/// let err = ray::get(&w.work.remote(true)).unwrap_err();
/// assert!(err.to_string().contains("exit_actor"), "{err}");
/// assert!(matches!(ray::get(&w.work.remote(false)), Err(ray::Error::ActorDied { .. })));
/// # ray::shutdown();
/// ```
pub fn exit_actor() -> ! {
    let in_actor = crate::node::current_context().is_some_and(|c| c.actor_id.is_some());
    assert!(
        in_actor,
        "ray::exit_actor() called outside an actor: there is no actor to exit"
    );
    std::panic::resume_unwind(Box::new(crate::actors::ExitActor))
}

/// The handle of the actor created with `.name(name)`.
///
/// # Errors
/// [`Error::ActorNotFound`] when no live actor of class `A` has that name.
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Store { v: u32 }
/// #[ray::remote]
/// impl Store {
///     pub fn new(v: u32) -> Self { Store { v } }
///     pub fn get(&self) -> u32 { self.v }
/// }
///
/// let _s = Store::options().name("store").remote(7);
/// let found: ActorHandle<Store> = ray::get_actor("store").unwrap();
/// assert_eq!(ray::get(&found.get.remote()).unwrap(), 7);
/// assert!(ray::get_actor::<Store>("missing").is_err());
/// # ray::shutdown();
/// ```
pub fn get_actor<A: RemoteActor>(name: &str) -> Result<ActorHandle<A>> {
    crate::actors::get_actor(name)
}

/// [`get_actor`] for async code: waits for the lookup (here, or in the cluster's
/// directory) without blocking the executor thread.
///
/// # Errors
/// As [`get_actor`].
///
/// # Examples
/// ```
/// use ray::prelude::*;
///
/// pub struct Store { v: u32 }
/// #[ray::remote]
/// impl Store {
///     pub fn new(v: u32) -> Self { Store { v } }
///     pub fn get(&self) -> u32 { self.v }
/// }
///
/// let _s = Store::options().name("async-store").remote(7);
/// let v = futures::executor::block_on(async {
///     let s = ray::get_actor_async::<Store>("async-store").await?;
///     s.get.remote().await
/// });
/// assert_eq!(v.unwrap(), 7);
/// # ray::shutdown();
/// ```
pub async fn get_actor_async<A: RemoteActor>(name: &str) -> Result<ActorHandle<A>> {
    crate::actors::get_actor_async(name).await
}

pub(crate) fn query() -> Result<crate::actors::NodeStats> {
    let node = current_node()?;
    block_on(node.actors().manager.send(QueryNode)).map_err(|_| Error::ShutDown)
}

/// Task counts of the caller's node, as `ray summary tasks` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TaskSummary {
    /// Ready to run, waiting for resources or a worker.
    pub queued: usize,
    /// Waiting for their argument objects.
    pub waiting_for_deps: usize,
    /// Running now.
    pub running: usize,
    /// Finished successfully (since the runtime started).
    pub finished: u64,
    /// Finished with an error.
    pub failed: u64,
}

/// Task counts of the caller's node.
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn one() -> u8 { 1 }
/// ray::get(&one.remote()).unwrap();
/// // The count follows the result by a moment (the worker reports after settling it).
/// let t0 = std::time::Instant::now();
/// while ray::task_summary().finished < 1 && t0.elapsed().as_secs() < 5 {
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// }
/// assert!(ray::task_summary().finished >= 1);
/// # ray::shutdown();
/// ```
pub fn task_summary() -> TaskSummary {
    query()
        .map(|s| TaskSummary {
            queued: s.queued,
            waiting_for_deps: s.waiting_for_deps,
            running: s.running,
            finished: s.finished,
            failed: s.failed,
        })
        .unwrap_or_default()
}

/// Usage of the caller's object store.
///
/// # Examples
/// ```
/// let r = ray::put(vec![0u8; 4096]);
/// assert!(ray::memory_summary().bytes_used >= 4096);
/// # drop(r);
/// # ray::shutdown();
/// ```
pub fn memory_summary() -> MemorySummary {
    current_node()
        .map(|n| n.store.summary())
        .unwrap_or_default()
}

/// Writes the recent task history (up to 10,000 tasks) as Chrome trace JSON, which
/// Perfetto and `chrome://tracing` open.
///
/// # Errors
/// I/O errors writing `path`, as [`Error::InvalidArgument`].
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn work() -> u8 { 1 }
///
/// ray::get(&work.remote()).unwrap();
/// let path = std::env::temp_dir().join("ray-timeline-doc.json");
/// // The history follows the result by a moment (the worker reports after settling it).
/// let t0 = std::time::Instant::now();
/// loop {
///     ray::timeline(&path).unwrap();
///     let json = std::fs::read_to_string(&path).unwrap();
///     if json.contains("\"ph\":\"X\"") { break; }
///     assert!(t0.elapsed().as_secs() < 5, "{json}");
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// }
/// # ray::shutdown();
/// ```
pub fn timeline(path: impl AsRef<std::path::Path>) -> Result<()> {
    let node = current_node()?;
    let stats = query()?;
    let mut out = String::from("[");
    for (i, e) in stats.history.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let ts = e
            .start
            .saturating_duration_since(node.started)
            .as_secs_f64()
            * 1e6;
        let dur = e.end.saturating_duration_since(e.start).as_secs_f64() * 1e6;
        let name: String = e.name.chars().filter(|c| *c != '"' && *c != '\\').collect();
        out.push_str(&format!(
            r#"{{"name":"{name}","cat":"task","ph":"X","ts":{ts:.3},"dur":{dur:.3},"pid":"{}","tid":"{}","args":{{"task_id":"{}","ok":{}}}}}"#,
            node.id, name, e.task_id, e.ok
        ));
    }
    out.push(']');
    std::fs::write(path.as_ref(), out).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot write timeline to {}: {e}",
            path.as_ref().display()
        ))
    })
}
