//! `DagError`: why a graph could not compile or an execution could not be submitted.
//! Failures of the work itself (a method's `Err`, a panic, a dead actor) are the usual
//! `ray::Error` variants, read from the execution's `CompiledRef`.

use crate::ids::ActorId;

/// What went wrong with a compiled graph itself (as opposed to the work it runs).
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::{DagError, InputNode};
///
/// pub struct Only;
/// #[ray::remote]
/// impl Only {
///     pub fn new() -> Self { Only }
///     pub fn f(&self, x: i32) -> i32 { x }
/// }
///
/// let o = Only::remote();
/// let inp = InputNode::new();
/// let _first = o.f.bind(&inp).compile().unwrap();
/// let err = o.f.bind(&inp).compile().unwrap_err();
/// assert!(matches!(err, ray::Error::Dag(DagError::ActorBusy { .. })));
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum DagError {
    /// The graph calls no actor method: there is nothing to compile.
    #[error("a compiled graph needs at least one bound actor method call")]
    NoActorCall,
    /// An output of the graph is the input or a constant instead of a method call.
    #[error("every output of a compiled graph must be a bound actor method call")]
    OutputNotACall,
    /// The graph reads two different `InputNode`s.
    #[error("the graph reads two different InputNodes: build it from one")]
    TwoInputs,
    /// The actor's handle says it lives on another node but not where (a handle that
    /// never reached a cluster).
    #[error("actor {actor_id} lives on another node this one cannot reach: join the cluster first")]
    RemoteActor {
        /// The actor.
        actor_id: ActorId,
    },
    /// The actor already runs another compiled graph (Ray allows one per actor too).
    #[error("actor {actor_id} already runs a compiled graph: drop that one first")]
    ActorBusy {
        /// The actor.
        actor_id: ActorId,
    },
    /// The compiled graph was torn down before this execution finished.
    #[error("the compiled graph was torn down before this execution finished")]
    TornDown,
    /// The result was already taken (awaited) from this ref.
    #[error("the result of this execution was already taken")]
    AlreadyTaken,
    /// A zero `max_inflight`: no execution could ever be submitted.
    #[error("max_inflight must be at least 1")]
    ZeroInflight,
    /// The graph's loop thread could not start.
    #[error("cannot start the loop thread of actor {actor_id}: {reason}")]
    Thread {
        /// The actor.
        actor_id: ActorId,
        /// The operating system's error.
        reason: String,
    },
    /// A node could not run its part of the graph: a malformed part, or the other
    /// nodes' parts did not connect to it in time.
    #[error("node {node_id} cannot run its part of the compiled graph: {reason}")]
    Part {
        /// The node.
        node_id: crate::ids::NodeId,
        /// Why.
        reason: String,
    },
    /// A graph built by hand with mismatched types (never from the generated `bind`).
    #[error("argument types of `{method}` do not match the graph")]
    TypeMismatch {
        /// The method.
        method: String,
    },
}
