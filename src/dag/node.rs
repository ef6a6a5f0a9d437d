//! The type-erased graph behind `DagNode`: what each node is (the input, a constant, an
//! actor method call), its arguments, and the typed glue that builds its rings, readers
//! and loop step once the graph is compiled. Building and running live elsewhere
//! (`compile.rs`, `actor_loop.rs`).

use std::any::Any;
use std::sync::Arc;

use super::actor_loop::{CallOp, ConstReader, DagArgs, Reader, RingReader, Writer};
use super::remote::RemoteEnd;
use super::ring::Ring;
use crate::{ActorHandle, RemoteActor, Result, Value};

/// A ring as the compiler passes it around: `Arc<Ring<T>>` for the edge's type `T`.
pub(crate) type AnyRing = Arc<dyn Any + Send + Sync>;
/// A loop step as the compiler passes it around: `Box<dyn Step<A>>` for the actor `A`.
pub(crate) type AnyStep = Box<dyn Any + Send>;

/// One node of a graph. Nodes are immutable and point only at nodes made before them,
/// so every graph is acyclic by construction.
#[doc(hidden)]
pub struct NodeCore {
    pub(crate) kind: Kind,
    /// The arguments, in parameter order.
    pub(crate) args: Vec<Arc<NodeCore>>,
    /// Typed helpers for the node's output type.
    pub(crate) glue: Box<dyn Glue>,
}

pub(crate) enum Kind {
    Input,
    Const,
    Call {
        actor: Arc<dyn super::executor::DagActor>,
    },
}

/// What the compiler needs from a node's output type (and, for calls, its actor type).
pub(crate) trait Glue: Send + Sync {
    /// A ring for one edge leaving this node.
    fn ring(&self, capacity: usize) -> AnyRing;
    /// The reader of one edge leaving this node (`ring` is `None` for a constant).
    fn reader(&self, ring: Option<&AnyRing>) -> Result<Box<dyn Reader>>;
    /// The loop step of a call node, writing to `outputs`; `remote` when its actor is
    /// on another node (the step then calls it over the graph's channel).
    fn step(
        &self,
        _readers: Vec<Box<dyn Reader>>,
        _trigger: Option<Box<dyn Reader>>,
        _outputs: &[AnyRing],
        _remote: bool,
    ) -> Result<AnyStep> {
        Err(super::DagError::NoActorCall.into())
    }
}

fn downcast_ring<T: Send + 'static>(ring: &AnyRing, method: &str) -> Result<Arc<Ring<T>>> {
    ring.clone().downcast::<Ring<T>>().map_err(|_| {
        super::DagError::TypeMismatch {
            method: method.to_string(),
        }
        .into()
    })
}

/// The glue of a node whose output is a `T` (the input node and constants).
pub(crate) struct ValueGlue<T> {
    pub(crate) constant: Option<T>,
}

impl<T: Value> Glue for ValueGlue<T> {
    fn ring(&self, capacity: usize) -> AnyRing {
        Ring::<T>::new(capacity)
    }

    fn reader(&self, ring: Option<&AnyRing>) -> Result<Box<dyn Reader>> {
        match (ring, &self.constant) {
            (Some(ring), _) => Ok(Box::new(RingReader::new(downcast_ring::<T>(
                ring,
                "the input",
            )?))),
            (None, Some(c)) => Ok(Box::new(ConstReader::new(c.clone()))),
            (None, None) => Err(super::DagError::TypeMismatch {
                method: "a constant".into(),
            }
            .into()),
        }
    }
}

/// The method body a call node runs: reads its arguments from `DagArgs`.
pub type MethodFn<A, T> = Arc<dyn Fn(&mut A, &mut DagArgs<'_>) -> Result<T> + Send + Sync>;

/// Reads a call's arguments from `DagArgs` and encodes each (for an actor on another
/// node).
pub type EncodeFn = Arc<dyn Fn(&mut DagArgs<'_>) -> Result<Vec<Vec<u8>>> + Send + Sync>;

/// The glue of a call of a method of `A` returning `T`.
pub(crate) struct CallGlue<A, T> {
    pub(crate) method: &'static str,
    pub(crate) f: MethodFn<A, T>,
    pub(crate) encode: EncodeFn,
}

impl<A: RemoteActor, T: Value> Glue for CallGlue<A, T> {
    fn ring(&self, capacity: usize) -> AnyRing {
        Ring::<T>::new(capacity)
    }

    fn reader(&self, ring: Option<&AnyRing>) -> Result<Box<dyn Reader>> {
        let ring = ring.ok_or_else(|| super::DagError::TypeMismatch {
            method: self.method.to_string(),
        })?;
        Ok(Box::new(RingReader::new(downcast_ring::<T>(
            ring,
            self.method,
        )?)))
    }

    fn step(
        &self,
        readers: Vec<Box<dyn Reader>>,
        trigger: Option<Box<dyn Reader>>,
        outputs: &[AnyRing],
        remote: bool,
    ) -> Result<AnyStep> {
        let rings = outputs
            .iter()
            .map(|r| downcast_ring::<T>(r, self.method))
            .collect::<Result<Vec<_>>>()?;
        if remote {
            let (encode, method) = (self.encode.clone(), self.method);
            let f: MethodFn<RemoteEnd, T> = Arc::new(move |end, args| {
                let bytes = end.call(method, encode(args)?)?;
                crate::tasks::decode::<T>(&bytes)
            });
            let step: Box<dyn super::actor_loop::Step<RemoteEnd>> = Box::new(CallOp {
                method: self.method,
                f,
                readers,
                trigger,
                out: Writer::new(rings),
            });
            return Ok(Box::new(step));
        }
        let step: Box<dyn super::actor_loop::Step<A>> = Box::new(CallOp {
            method: self.method,
            f: self.f.clone(),
            readers,
            trigger,
            out: Writer::new(rings),
        });
        Ok(Box::new(step))
    }
}

/// A call node of `handle`'s actor (what the generated `bind` makes).
pub(crate) fn call<A: RemoteActor, T: Value>(
    handle: ActorHandle<A>,
    method: &'static str,
    args: Vec<Arc<NodeCore>>,
    f: MethodFn<A, T>,
    encode: EncodeFn,
) -> Arc<NodeCore> {
    Arc::new(NodeCore {
        kind: Kind::Call {
            actor: Arc::new(handle),
        },
        args,
        glue: Box::new(CallGlue { method, f, encode }),
    })
}
