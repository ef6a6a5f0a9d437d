//! Compiled graphs (Ray's "Compiled Graphs", aDAG): a static graph of actor method calls,
//! built once with `bind`, compiled once, and executed many times with microseconds of
//! overhead per execution.
//!
//! ```
//! use ray::prelude::*;
//! use ray::dag::{InputNode, MultiOutputNode};
//!
//! pub struct Stage { add: i64 }
//! #[ray::remote]
//! impl Stage {
//!     pub fn new(add: i64) -> Self { Stage { add } }
//!     pub fn run(&self, x: i64) -> i64 { x + self.add }
//!     pub fn sum(&self, a: i64, b: i64) -> i64 { a + b }
//! }
//!
//! let (a, b, c) = (Stage::remote(1), Stage::remote(10), Stage::remote(100));
//! let inp = InputNode::new();
//! // A chain: c(b(a(x))).
//! let chain = c.run.bind(b.run.bind(a.run.bind(&inp))).compile()?;
//! assert_eq!(ray::get(&chain.execute(0)?)?, 111);
//! drop(chain); // teardown: the actors take classic calls again
//!
//! // Fan-out and fan-in, with a constant argument; several outputs.
//! let inp = InputNode::new();
//! let (x, y) = (a.run.bind(&inp), b.run.bind(&inp));
//! let both = MultiOutputNode::new([c.sum.bind(&x, &y), c.sum.bind(&x, 1000)]);
//! let compiled = both.compile()?;
//! assert_eq!(ray::get(&compiled.execute(5)?)?, vec![21, 1006]);
//! # drop(compiled);
//! # ray::shutdown();
//! # Ok::<(), ray::Error>(())
//! ```
//!
//! # How it runs
//! `compile()` orders the nodes (each node points only at nodes made before it, so a
//! graph cannot have a cycle), gives every edge a pre-allocated single-producer
//! single-consumer ring of `max_inflight` slots, and takes each actor's instance from
//! its host once the calls queued before have run. The actors' steps then run on
//! dedicated loop threads, outside actix: a loop blocks between executions (spinning
//! briefly, then parking), which an actix handler must never do, and it owns no state
//! other actors reach by message: each instance is lent by its `ActorHost` (an actix
//! actor), owned by the loop exclusively, and given back at teardown. A loop runs its
//! actors' bound calls in graph order for every execution, reading arguments from rings
//! and writing results to the rings of their consumers. By default there is one loop
//! thread per CPU but one, and neighbouring stages of a chain share a thread
//! ([`DagOptions::loop_threads`]): spinning loops beyond the CPU count would only take
//! turns, and a wake-up costs more than a short method. An execution allocates nothing
//! per edge and involves no scheduler, mailbox or object store: `execute` writes the
//! input to the first rings and the outputs arrive in rings the driver reads.
//!
//! # Semantics
//! - At most `max_inflight` executions (default 10, as Ray's
//!   `max_inflight_executions`) are unfinished; `execute` then waits for the oldest
//!   (back-pressure), up to `submit_timeout` if set.
//! - A method's `Err` fails that execution only. A panic fails that execution with
//!   [`crate::Error::TaskPanicked`] and kills the instance: later executions fail with
//!   [`crate::Error::ActorDied`]; at teardown the host restarts the actor if it has
//!   `max_restarts` left. `ray::kill` of an actor in a graph has the same effect.
//! - While compiled, classic calls to its actors fail at once with
//!   [`crate::Error::ActorUnavailable`] (waiting could deadlock a caller that also
//!   drives the graph); an actor runs one compiled graph at a time, as in Ray.
//! - Dropping the [`CompiledDag`] waits for executions in flight, stops the loops and
//!   gives the instances back: classic calls work again.
//!
//! # GPU buffers
//! Values move along the graph's edges without serialization or copy, so a
//! [`crate::gpu::GpuBuffer`] returned by one stage reaches the next still on its GPU:
//! a kernel there reads it in place (`GpuContext::run_kernel_on`) when both stages use
//! the same adapter, and copies it through the host once otherwise.
//!
//! # Across nodes
//! `compile()` splits the graph by the node hosting each actor. Every other node gets
//! its part over a persistent QUIC stream opened at compile time: its actors, their
//! bound calls in order, and where each argument comes from (the input, a constant, a
//! call on the same node, or another node) and where each result goes. The node lends
//! its instances and runs its part as an ordinary compiled loop on a thread of its own,
//! rings between its own actors; values cross between parts once per execution, over a
//! persistent stream between the two parts: driver and node, or directly node to node
//! (the driver relays nothing). A chain whose actors all live on one other node costs one
//! round trip per execution; `a` on node 1, `b` on node 2 goes driver → node 1 → node 2
//! → driver. A failed stream or node fails the executions through it, and every later
//! one, with [`crate::Error::ActorDied`]; a frame that is not the one expected does the
//! same (a clear error, never a panic). Teardown ends every stream and waits until each
//! node's instances are back with their hosts.
//!
//! # Limits
//! Methods with one return value have `bind` (an `async fn` runs to completion on its
//! loop thread, with an event loop for its timers, one execution at a time). A node's
//! part runs on one loop thread (`loop_threads` shapes the driver's part), and values
//! there stay MessagePack-encoded between its steps, since the node knows the methods
//! only by name. The driver's loop reads a part's outputs before it starts the next
//! execution there, so executions on other nodes do not overlap. A
//! [`crate::gpu::GpuBuffer`] does not cross nodes.

mod actor_loop;
mod channels;
mod compile;
mod compiled;
mod executor;
mod link;
mod node;
mod part;
mod partition;
mod ring;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::DagError;
pub use actor_loop::DagArgs;
pub(crate) use channels::take_channel;
pub use compiled::{CompiledDag, CompiledRef, CompiledRefFuture};
#[doc(hidden)]
pub use executor::PartActor;
pub(crate) use executor::block_on_async;
#[doc(hidden)]
pub use node::{EncodeFn, MethodFn, NodeCore};
pub(crate) use part::{PartEnv, refusal, serve_part};

use node::{Kind, ValueGlue};

use crate::{ActorHandle, RemoteActor, Result, Value};

/// The graph's input: what each `execute(x)` passes in. Bind it as an argument.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct Echo;
/// #[ray::remote]
/// impl Echo {
///     pub fn new() -> Self { Echo }
///     pub fn echo(&self, s: String) -> String { s }
/// }
///
/// let e = Echo::remote();
/// let inp = InputNode::new();
/// let compiled = e.echo.bind(&inp).compile().unwrap();
/// assert_eq!(ray::get(&compiled.execute("hi".to_string()).unwrap()).unwrap(), "hi");
/// # ray::shutdown();
/// ```
pub struct InputNode<I> {
    core: Arc<NodeCore>,
    _i: PhantomData<fn(I)>,
}

impl<I: Value> InputNode<I> {
    /// A new input node (one per graph).
    pub fn new() -> Self {
        Self {
            core: Arc::new(NodeCore {
                kind: Kind::Input,
                args: Vec::new(),
                glue: Box::new(ValueGlue::<I> { constant: None }),
            }),
            _i: PhantomData,
        }
    }
}

impl<I: Value> Default for InputNode<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I> Clone for InputNode<I> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            _i: PhantomData,
        }
    }
}

/// A bound actor method call in a graph, producing a `T` from an input `I`: what
/// `handle.method.bind(..)` returns. Pass it to other `bind`s, or compile it.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct Sq;
/// #[ray::remote]
/// impl Sq {
///     pub fn new() -> Self { Sq }
///     pub fn sq(&self, x: u64) -> u64 { x * x }
/// }
///
/// let s = Sq::remote();
/// let node = s.sq.bind(s.sq.bind(InputNode::new())); // the same actor twice
/// let compiled = node.compile().unwrap();
/// assert_eq!(ray::get(&compiled.execute(3).unwrap()).unwrap(), 81);
/// # ray::shutdown();
/// ```
pub struct DagNode<I, T> {
    core: Arc<NodeCore>,
    _t: PhantomData<fn(I) -> T>,
}

impl<I, T> Clone for DagNode<I, T> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            _t: PhantomData,
        }
    }
}

impl<I, T> DagNode<I, T> {
    fn from_core(core: Arc<NodeCore>) -> Self {
        Self {
            core,
            _t: PhantomData,
        }
    }

    #[doc(hidden)]
    pub fn into_core(self) -> Arc<NodeCore> {
        self.core
    }
}

impl<I: Value, T: Value> DagNode<I, T> {
    /// Compiles the graph ending at this node with default options.
    ///
    /// # Errors
    /// [`DagError`] for a graph that cannot compile (no actor call, two inputs, an actor
    /// on another node or already in a compiled graph), [`crate::Error::ActorDied`] for a
    /// dead actor.
    ///
    /// # Examples
    /// ```
    /// use ray::prelude::*;
    /// use ray::dag::InputNode;
    ///
    /// pub struct W;
    /// #[ray::remote]
    /// impl W {
    ///     pub fn new() -> Self { W }
    ///     pub fn id(&self, x: u8) -> u8 { x }
    /// }
    ///
    /// let w = W::remote();
    /// let inp = InputNode::new();
    /// let first = w.id.bind(&inp).compile().unwrap();
    /// // One compiled graph per actor at a time.
    /// assert!(w.id.bind(&inp).compile().is_err());
    /// drop(first);
    /// assert!(w.id.bind(&inp).compile().is_ok());
    /// # ray::shutdown();
    /// ```
    pub fn compile(&self) -> Result<CompiledDag<I, Self>> {
        self.compile_with(DagOptions::new())
    }

    /// Compiles with `options` (`max_inflight`, `submit_timeout`).
    ///
    /// # Errors
    /// As [`DagNode::compile`], and [`DagError::ZeroInflight`].
    pub fn compile_with(&self, options: DagOptions) -> Result<CompiledDag<I, Self>> {
        compile::compile(self.clone(), &options)
    }
}

/// Several outputs of one graph: `execute` returns one ref per output, in order.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::{InputNode, MultiOutputNode};
///
/// pub struct M { k: i32 }
/// #[ray::remote]
/// impl M {
///     pub fn new(k: i32) -> Self { M { k } }
///     pub fn mul(&self, x: i32) -> i32 { x * self.k }
/// }
///
/// let (two, three) = (M::remote(2), M::remote(3));
/// let inp = InputNode::new();
/// let dag = MultiOutputNode::new([two.mul.bind(&inp), three.mul.bind(&inp)]);
/// let compiled = dag.compile().unwrap();
/// let refs = compiled.execute(7).unwrap();
/// assert_eq!(ray::get(&refs).unwrap(), vec![14, 21]);
/// # ray::shutdown();
/// ```
pub struct MultiOutputNode<I, T> {
    outputs: Vec<DagNode<I, T>>,
}

impl<I, T> Clone for MultiOutputNode<I, T> {
    fn clone(&self) -> Self {
        Self {
            outputs: self.outputs.clone(),
        }
    }
}

impl<I: Value, T: Value> MultiOutputNode<I, T> {
    /// The outputs, in the order `execute` returns their refs.
    pub fn new(outputs: impl IntoIterator<Item = DagNode<I, T>>) -> Self {
        Self {
            outputs: outputs.into_iter().collect(),
        }
    }

    /// Compiles the graph with default options.
    ///
    /// # Errors
    /// As [`DagNode::compile`].
    pub fn compile(&self) -> Result<CompiledDag<I, Self>> {
        self.compile_with(DagOptions::new())
    }

    /// Compiles with `options`.
    ///
    /// # Errors
    /// As [`DagNode::compile`].
    pub fn compile_with(&self, options: DagOptions) -> Result<CompiledDag<I, Self>> {
        compile::compile(self.clone(), &options)
    }
}

/// What can end a graph: one node (one ref per execution) or a [`MultiOutputNode`] (a
/// `Vec` of refs). Implemented by this crate only.
///
/// # Examples
/// ```
/// use ray::dag::{DagNode, DagOutput, MultiOutputNode};
///
/// fn refs_of_one(_: <DagNode<u8, String> as DagOutput<u8>>::Refs) {}
/// fn refs_of_many(_: <MultiOutputNode<u8, String> as DagOutput<u8>>::Refs) {}
/// ```
pub trait DagOutput<I>: sealed::Sealed {
    /// The type of each output.
    type Value: Value;
    /// What `execute` returns.
    type Refs;
    #[doc(hidden)]
    fn nodes(&self) -> Vec<Arc<NodeCore>>;
    #[doc(hidden)]
    fn refs(count: usize, make: impl FnMut(usize) -> CompiledRef<Self::Value>) -> Self::Refs;
}

mod sealed {
    pub trait Sealed {}
    impl<I, T> Sealed for super::DagNode<I, T> {}
    impl<I, T> Sealed for super::MultiOutputNode<I, T> {}
}

impl<I, T: Value> DagOutput<I> for DagNode<I, T> {
    type Value = T;
    type Refs = CompiledRef<T>;
    fn nodes(&self) -> Vec<Arc<NodeCore>> {
        vec![self.core.clone()]
    }
    fn refs(_count: usize, mut make: impl FnMut(usize) -> CompiledRef<T>) -> CompiledRef<T> {
        make(0)
    }
}

impl<I, T: Value> DagOutput<I> for MultiOutputNode<I, T> {
    type Value = T;
    type Refs = Vec<CompiledRef<T>>;
    fn nodes(&self) -> Vec<Arc<NodeCore>> {
        self.outputs.iter().map(|o| o.core.clone()).collect()
    }
    fn refs(count: usize, make: impl FnMut(usize) -> CompiledRef<T>) -> Vec<CompiledRef<T>> {
        (0..count).map(make).collect()
    }
}

/// Anything `bind` takes where the method expects a `T`: the graph's [`InputNode`]
/// (when `T` is the input type), another bound call producing a `T`, or a constant `T`.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct P;
/// #[ray::remote]
/// impl P {
///     pub fn new() -> Self { P }
///     pub fn pow(&self, x: i64, e: u32) -> i64 { x.pow(e) }
/// }
///
/// let p = P::remote();
/// let compiled = p.pow.bind(&InputNode::new(), 3).compile().unwrap(); // 3: a constant
/// assert_eq!(ray::get(&compiled.execute(2).unwrap()).unwrap(), 8);
/// # ray::shutdown();
/// ```
pub trait IntoNode<I, T> {
    /// The node.
    fn into_node(self) -> DagNode<I, T>;
}

impl<I, T: Value> IntoNode<I, T> for T {
    fn into_node(self) -> DagNode<I, T> {
        DagNode::from_core(Arc::new(NodeCore {
            kind: Kind::Const,
            args: Vec::new(),
            glue: Box::new(ValueGlue {
                constant: Some(self),
            }),
        }))
    }
}

impl<I, T> IntoNode<I, T> for DagNode<I, T> {
    fn into_node(self) -> DagNode<I, T> {
        self
    }
}

impl<I, T> IntoNode<I, T> for &DagNode<I, T> {
    fn into_node(self) -> DagNode<I, T> {
        self.clone()
    }
}

impl<I> IntoNode<I, I> for InputNode<I> {
    fn into_node(self) -> DagNode<I, I> {
        DagNode::from_core(self.core)
    }
}

impl<I> IntoNode<I, I> for &InputNode<I> {
    fn into_node(self) -> DagNode<I, I> {
        DagNode::from_core(self.core.clone())
    }
}

/// Options of [`DagNode::compile_with`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let opts = ray::dag::DagOptions::new()
///     .max_inflight(4)
///     .submit_timeout(Duration::from_secs(1));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone)]
pub struct DagOptions {
    pub(crate) max_inflight: usize,
    pub(crate) submit_timeout: Option<Duration>,
    pub(crate) loop_threads: Option<usize>,
}

impl Default for DagOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DagOptions {
    /// Defaults: 10 executions in flight, `execute` waits as long as needed for room.
    pub fn new() -> Self {
        Self {
            max_inflight: 10,
            submit_timeout: None,
            loop_threads: None,
        }
    }

    /// At most `n` unfinished executions (Ray's `max_inflight_executions`); it is also
    /// the number of slots of every ring. A graph with actors on other nodes takes at
    /// most 1,024 (each node refuses a part that asks for more).
    pub fn max_inflight(mut self, n: usize) -> Self {
        self.max_inflight = n;
        self
    }

    /// How many threads run the actors' loops (at most one per actor). By default one
    /// per CPU of the machine but one, left to the driver: loops wait by spinning, and
    /// more of them than CPUs take turns instead of running. Neighbouring stages share a
    /// thread. `usize::MAX` gives every actor its own thread (as Ray's actors each run
    /// their own loop), which overlaps executions better when methods are long.
    pub fn loop_threads(mut self, n: usize) -> Self {
        self.loop_threads = Some(n);
        self
    }

    /// How long `execute` waits for room before it fails with `Error::Timeout` (Ray's
    /// `submit_timeout`); unset, it waits as long as needed.
    pub fn submit_timeout(mut self, timeout: Duration) -> Self {
        self.submit_timeout = Some(timeout);
        self
    }
}

/// A call node of `handle`'s method (what the generated `bind` calls).
pub(crate) fn bind<A: RemoteActor, I, T: Value>(
    handle: ActorHandle<A>,
    method: &'static str,
    args: Vec<Arc<NodeCore>>,
    f: MethodFn<A, T>,
    _encode: EncodeFn,
) -> DagNode<I, T> {
    DagNode::from_core(node::call(handle, method, args, f))
}
