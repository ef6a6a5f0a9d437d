#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

// The crate's own actors (`util::Queue`) use `#[ray::remote]`, whose code names `::ray`.
extern crate self as ray;

mod actors;
mod api;
pub mod cluster_utils;
mod config;
pub mod dag;
mod dashboard;
mod error;
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "gpu")]
#[cfg_attr(docsrs, doc(cfg(feature = "gpu")))]
pub mod gpu;
mod ids;
mod machine;
mod node;
mod placement_group;
mod resources;
mod runtime;
mod store;
mod tasks;
// The wire format and QUIC endpoints: not API. Public (hidden) for the attack tests,
// the fuzz targets and the benches, which speak it directly.
#[doc(hidden)]
pub mod transport;
pub mod util;

pub use actors::build_fingerprint;
pub use actors::{ActorHandle, ActorOptions, ActorOptionsBuilder, RemoteActor};
pub use api::job_submission;
pub use api::{
    Gettable, JobInfo, NodeInfo, TaskSummary, WaitResult, available_resources, cancel, cancel_with,
    cluster_resources, exit_actor, get, get_actor, get_actor_async, get_timeout, jobs, kill,
    kill_with, memory_summary, nodes, pending_demands, put, task_summary, timeline, wait,
    wait_async, wait_with,
};
pub use config::Config;
pub use error::{Error, ErrorCause, Result};
pub use ids::{ActorId, InvalidId, JobId, NodeId, ObjectId, PlacementGroupId, TaskId};
pub use node::ObjectRefStream;
pub use placement_group::{
    Bundle, PlacementGroup, PlacementGroupOptions, PlacementGroupState, PlacementStrategy, bundle,
    get_placement_group, placement_group, placement_group_with, remove_placement_group,
};
pub use runtime::{RuntimeContext, init, init_with, is_initialized, runtime_context, shutdown};
pub use store::{MemorySummary, ObjectRef, ObjectRefFuture};
pub use tasks::{Arg, IntoArg, SchedulingStrategy, TaskOptions, TaskOptionsBuilder, Value};

#[cfg(feature = "macros")]
pub use ray_macros::{main, method};

/// `#[ray::remote]`: a remote function whose borrowed parameter (`&[f64]`, `&Vec<f64>`,
/// `&str`, `&T`) reads a large stored object in place, where an owned one (`Vec<f64>`)
/// would copy it on every call:
/// ```
/// #[ray::remote]
/// fn total(values: &[f64]) -> f64 {
///     values.iter().sum()
/// }
///
/// let big = ray::put(vec![0.5f64; 1_000_000]);
/// // The task reads the stored vector itself: no copy of its 8 MB.
/// assert_eq!(ray::get(&total.remote(&big)).unwrap(), 500_000.0);
/// // A value works too, and `call` runs the function here with a plain borrow.
/// assert_eq!(ray::get(&total.remote(vec![1.0, 2.0])).unwrap(), 3.0);
/// assert_eq!(total::call(&[1.0, 2.0, 3.0]), 6.0);
/// # ray::shutdown();
/// ```
#[cfg(feature = "macros")]
pub use ray_macros::remote;

/// The names a Ray program uses: `use ray::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActorHandle, ActorOptionsBuilder, IntoArg, ObjectRef, ObjectRefStream, RemoteActor,
        TaskOptionsBuilder,
    };
}

/// What `#[ray::remote]` expands to. Not a public API: it changes with the macros.
#[doc(hidden)]
pub mod __private {
    use std::sync::Arc;

    pub use futures::future::{BoxFuture, LocalBoxFuture};
    pub use futures::{FutureExt, StreamExt};

    /// Runs a future to completion on the calling thread (for `#[ray::main] async fn`).
    pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::node::block_on(f)
    }

    pub use crate::actors::{ActorCell, Method};
    /// The cluster's state lists, for the `ray` command (see `dashboard::state`).
    pub use crate::dashboard::state as cluster_state;
    /// Kills an actor by id wherever it lives, and cancels a task by id on whichever node
    /// owns it: `ray kill-actor` and `ray cancel` (see `dashboard::kill_actor`,
    /// `dashboard::cancel_task`).
    pub use crate::dashboard::{cancel_task, kill_actor};
    pub use crate::node::StreamSender;
    /// Blocks until SIGTERM or SIGINT: what `ray start --block` serves until.
    pub use crate::runtime::wait_for_termination;
    pub use crate::store::StoredValue;
    use crate::tasks::TaskBody;
    pub use crate::tasks::{RawRefHandle, TaskOutput};
    use crate::{
        ActorHandle, ActorOptions, Error, ObjectRef, ObjectRefStream, RemoteActor, Result,
        TaskOptions,
    };

    /// Wraps a return value for the store.
    pub fn stored<T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>(
        v: T,
    ) -> StoredValue {
        crate::store::stored(v)
    }

    /// A task's own `Err`, to be turned into [`Error::TaskFailed`] keeping its source
    /// chain: `(&&&ErrChain(&e)).task_error(name)` picks, by autoref, the most specific
    /// of a `std::error::Error` (walks `source`), something that derefs to one
    /// (`anyhow::Error`, `Box<dyn Error>`), or anything `Display` (no chain).
    pub struct ErrChain<'a, E>(pub &'a E);

    fn task_failed(function: &str, message: String, cause: Option<crate::ErrorCause>) -> Error {
        Error::TaskFailed {
            function: function.to_string(),
            message,
            cause,
        }
    }

    /// A `std::error::Error`: its message and its sources.
    pub trait ChainOfError {
        /// The task error.
        fn task_error(&self, function: &str) -> Error;
    }
    impl<E: std::error::Error + 'static> ChainOfError for &&ErrChain<'_, E> {
        fn task_error(&self, function: &str) -> Error {
            let e: &(dyn std::error::Error + 'static) = self.0;
            task_failed(function, e.to_string(), crate::ErrorCause::chain_of(e))
        }
    }

    /// An error type that is a `dyn Error` inside (`anyhow::Error`, `Box<dyn Error>`).
    pub trait ChainOfDynError {
        /// The task error.
        fn task_error(&self, function: &str) -> Error;
    }
    impl<E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ChainOfDynError for &ErrChain<'_, E> {
        fn task_error(&self, function: &str) -> Error {
            let e: &(dyn std::error::Error + 'static) = self.0.as_ref();
            task_failed(function, e.to_string(), crate::ErrorCause::chain_of(e))
        }
    }

    /// Any other `Display` error (a `String`): its message only.
    pub trait ChainOfDisplay {
        /// The task error.
        fn task_error(&self, function: &str) -> Error;
    }
    impl<E: std::fmt::Display> ChainOfDisplay for ErrChain<'_, E> {
        fn task_error(&self, function: &str) -> Error {
            task_failed(function, self.0.to_string(), None)
        }
    }

    fn handles(raws: Vec<crate::store::RawRef>) -> Vec<RawRefHandle> {
        raws.into_iter().map(RawRefHandle).collect()
    }

    /// Submits a task with a synchronous body.
    pub fn submit_sync(
        name: &'static str,
        opts: &TaskOptions,
        deps: Vec<Option<RawRefHandle>>,
        num_returns: usize,
        body: impl FnMut(bool) -> TaskOutput + Send + 'static,
        remote: Option<RemoteForm>,
    ) -> Vec<RawRefHandle> {
        handles(crate::node::submit(
            name,
            opts,
            deps,
            num_returns,
            TaskBody::Sync(Box::new(body)),
            remote,
        ))
    }

    /// Submits a task with an async body.
    pub fn submit_async(
        name: &'static str,
        opts: &TaskOptions,
        deps: Vec<Option<RawRefHandle>>,
        num_returns: usize,
        body: impl FnMut(bool) -> LocalBoxFuture<'static, TaskOutput> + Send + 'static,
        remote: Option<RemoteForm>,
    ) -> Vec<RawRefHandle> {
        handles(crate::node::submit(
            name,
            opts,
            deps,
            num_returns,
            TaskBody::Async(Box::new(body)),
            remote,
        ))
    }

    pub use crate::tasks::{
        ArgReader, ArgsWriter, CopySite, Held, RemoteBody, RemoteCall, RemoteForm, RemoteFunction,
    };
    pub use inventory;
    pub use parking_lot::Mutex;

    /// Fails to compile, at the parameter's type, when `T` cannot travel as a task value.
    #[inline(always)]
    pub fn assert_value<T: crate::Value>() {}

    /// Takes the arguments for one attempt: a copy when another attempt may follow.
    pub fn take_args<A: Clone>(slot: &Mutex<Option<A>>, keep: bool) -> Option<A> {
        let mut guard = slot.lock();
        if keep { guard.clone() } else { guard.take() }
    }

    /// The error of a body run twice without `keep`.
    pub fn consumed() -> Error {
        Error::InvalidArgument("task arguments were already consumed".into())
    }

    /// Encodes a value for another node (MessagePack).
    pub fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
        crate::tasks::encode(v)
    }

    /// Decodes a value from another node.
    pub fn decode<T: serde::de::DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T> {
        crate::tasks::decode(bytes)
    }

    /// Takes the next return handle as a typed ref.
    pub fn typed<T>(it: &mut impl Iterator<Item = RawRefHandle>) -> ObjectRef<T> {
        match it.next() {
            Some(h) => ObjectRef::from_raw(h.0),
            None => ObjectRef::from_raw(crate::store::RawRef::failed(Error::InvalidArgument(
                "missing return".into(),
            ))),
        }
    }

    /// A stream and the sender its generator body writes to.
    /// (`limit`: the generator's `generator_backpressure_num_objects`.)
    pub fn stream_channel<T>(limit: Option<u64>) -> (StreamSender, ObjectRefStream<T>) {
        ObjectRefStream::channel(limit)
    }

    pub use crate::node::{RawStream, RemoteGenerator};

    /// A streaming generator's form for a placement on another node: its items go to
    /// `sink` (the caller's stream), each decoded with `decode_item`.
    pub fn stream_form(
        function: &'static str,
        encode: impl FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send + 'static,
        sink: StreamSender,
        decode_item: fn(&[u8]) -> Result<StoredValue>,
    ) -> RemoteForm {
        RemoteForm::streaming(function, encode, Box::new(sink), decode_item)
    }

    /// The stream of a generator started here for another node (its pump forwards it).
    pub fn raw_stream<T>(stream: ObjectRefStream<T>) -> RawStream {
        stream.into_raw()
    }

    /// A streaming method's answer from another node: the id its stream waits under.
    pub fn decode_ticket(bytes: &[u8]) -> Result<Vec<StoredValue>> {
        let id: u64 = crate::store::decode(bytes)?;
        Ok(vec![stored(id)])
    }

    /// On the node hosting the actor: parks a streaming method's stream for the caller
    /// on another node; the ref's value (the call's answer) names it.
    pub fn park_stream<T>(stream: ObjectRefStream<T>) -> Vec<RawRefHandle> {
        vec![RawRefHandle(crate::actors::park_stream(stream.into_raw()))]
    }

    /// On the caller: the stream of a streaming method of an actor on another node.
    pub fn pull_stream<A: RemoteActor, T>(
        cell: &Arc<ActorCell<A>>,
        ticket: Vec<RawRefHandle>,
        decode_item: fn(&[u8]) -> Result<StoredValue>,
    ) -> ObjectRefStream<T> {
        cell.pull_stream(ticket.into_iter().map(|h| h.0).collect(), decode_item)
    }

    /// Connects a stream to its generator task's completion object.
    pub fn attach_stream<T>(stream: &mut ObjectRefStream<T>, mut raws: Vec<RawRefHandle>) {
        if let Some(h) = raws.pop() {
            stream.attach(h.0);
        }
    }

    /// Sends one generated item.
    pub fn stream_send<
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    >(
        tx: &StreamSender,
        item: T,
    ) -> Result<()> {
        tx.send(item)
    }

    /// Sends one generated item from an async generator.
    pub async fn stream_send_async<
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    >(
        tx: &StreamSender,
        item: T,
    ) -> Result<()> {
        tx.send_async(item).await
    }

    /// Creates an actor whose constructor is `ctor`; `encode` gives the constructor's
    /// arguments if the actor is placed on another node.
    pub fn create_actor<A: RemoteActor>(
        opts: &ActorOptions,
        deps: Vec<Option<RawRefHandle>>,
        ctor: impl Fn() -> Result<A> + Send + Sync + 'static,
        encode: impl FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send + 'static,
    ) -> ActorHandle<A> {
        let deps = deps.into_iter().flatten().map(|d| d.0).collect();
        crate::actors::create_actor(opts, deps, Arc::new(ctor), Box::new(encode))
    }

    /// [`create_actor`] without blocking the caller: the handle, or why creation failed.
    pub fn create_actor_async<A: RemoteActor>(
        opts: &ActorOptions,
        deps: Vec<Option<RawRefHandle>>,
        ctor: impl Fn() -> Result<A> + Send + Sync + 'static,
        encode: impl FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send + 'static,
    ) -> futures::future::BoxFuture<'static, Result<ActorHandle<A>>> {
        let deps = deps.into_iter().flatten().map(|d| d.0).collect();
        crate::actors::create_actor_async(opts, deps, Arc::new(ctor), Box::new(encode))
    }

    /// What the generated `remote` and `remote_async` of an actor class create it from:
    /// options, the constructor's dependencies, the constructor, the encoding of its
    /// arguments for another node.
    pub type CreateParts<A> = (
        ActorOptions,
        Vec<Option<RawRefHandle>>,
        Box<dyn Fn() -> Result<A> + Send + Sync>,
        Box<dyn FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send>,
    );

    /// Whether the actor behind `cell` lives on another node.
    pub fn is_remote<A: RemoteActor>(cell: &Arc<ActorCell<A>>) -> bool {
        cell.is_remote()
    }

    /// Sends a method call to an actor on another node.
    pub fn call_remote<A: RemoteActor>(
        cell: &Arc<ActorCell<A>>,
        name: &'static str,
        deps: Vec<Option<RawRefHandle>>,
        num_returns: usize,
        encode: impl FnOnce() -> Result<(crate::transport::Bulk, Held)> + Send + 'static,
        decode: fn(&[u8]) -> Result<Vec<StoredValue>>,
    ) -> Vec<RawRefHandle> {
        let deps = deps.into_iter().flatten().map(|d| d.0).collect();
        handles(cell.call_remote(crate::actors::RemoteCall {
            method: name,
            deps,
            num_returns,
            encode: Box::new(encode),
            decode,
        }))
    }

    pub use crate::actors::{Hosted, RemoteClass};

    /// The handle as a compiled graph's part takes it (`RemoteActor::part_actor`).
    pub fn part_actor<A: RemoteActor>(h: ActorHandle<A>) -> Box<dyn std::any::Any + Send> {
        Box::new(crate::dag::PartActor(Arc::new(h)))
    }

    /// The handle as an actor hosted for other nodes.
    pub fn hosted<A: RemoteActor>(h: ActorHandle<A>) -> Hosted {
        crate::actors::hosted(h)
    }

    /// The result refs of a method call made by name.
    pub fn returns_of<T>(r: ObjectRef<T>) -> Vec<RawRefHandle> {
        crate::actors::returns_of(r)
    }

    /// The error for a method name the class does not have.
    pub fn no_method(class: &str, method: &str) -> Error {
        Error::FunctionNotRegistered {
            function: format!("{class}.{method}"),
            node_id: crate::runtime_context().node_id(),
        }
    }

    pub use crate::dag::DagArgs;

    /// Runs an async method to completion on a compiled graph's loop thread.
    pub fn dag_block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::dag::block_on_async(f)
    }

    /// A compiled-graph node calling `method` of the actor behind `cell`.
    pub fn dag_bind<A: RemoteActor, I, T: crate::Value>(
        cell: &Arc<ActorCell<A>>,
        method: &'static str,
        args: Vec<Arc<crate::dag::NodeCore>>,
        f: crate::dag::MethodFn<A, T>,
        encode: crate::dag::EncodeFn,
    ) -> crate::dag::DagNode<I, T> {
        crate::dag::bind(
            ActorHandle::from_cell(cell.clone()),
            method,
            args,
            f,
            encode,
        )
    }

    /// Sends a method call to an actor, in concurrency group `group` (0: the default
    /// group, `i + 1`: `A::CONCURRENCY_GROUPS[i]`).
    pub fn call<A: RemoteActor>(
        cell: &Arc<ActorCell<A>>,
        name: &'static str,
        deps: Vec<Option<RawRefHandle>>,
        num_returns: usize,
        group: usize,
        method: Method<A>,
    ) -> Vec<RawRefHandle> {
        let deps = deps.into_iter().flatten().map(|d| d.0).collect();
        handles(cell.call(name, deps, num_returns, group, method))
    }
}
