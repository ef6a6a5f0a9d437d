//! The type-erased graph behind `DagNode`: what each node is (the input, a constant, an
//! actor method call), its arguments, and the typed glue that builds its rings, readers,
//! loop step and (for values crossing nodes) the driver's link steps once the graph is
//! compiled. Building and running live elsewhere (`compile.rs`, `actor_loop.rs`).

use std::any::Any;
use std::sync::Arc;

use super::actor_loop::{CallOp, ConstReader, DagArgs, Reader, RingReader, Writer};
use super::link::{LinkStep, RecvOp, SendOp, Typed};
use super::ring::Ring;
use crate::ids::ActorId;
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
    /// The constant, encoded (for a call on another node).
    fn encode_constant(&self) -> Result<Vec<u8>> {
        Err(super::DagError::TypeMismatch {
            method: "a constant".into(),
        }
        .into())
    }
    /// The method (`Class.method`) of a call node.
    fn method(&self) -> &'static str {
        ""
    }
    /// The loop step of a call node whose actor is on this node, writing to `outputs`.
    fn step(
        &self,
        _readers: Vec<Box<dyn Reader>>,
        _trigger: Option<Box<dyn Reader>>,
        _outputs: &[AnyRing],
    ) -> Result<AnyStep> {
        Err(super::DagError::NoActorCall.into())
    }
    /// The driver's step that sends this node's value, read from `ring`, to another
    /// node's part as `edge`.
    fn send_step(&self, ring: &AnyRing, edge: u32) -> Result<LinkStep>;
    /// The driver's step that receives this node's value (made by `producer` on another
    /// node) as `edge` and writes it to `outputs`.
    fn recv_step(&self, outputs: &[AnyRing], edge: u32, producer: ActorId) -> Result<LinkStep>;
}

fn send_step<T: Value>(ring: &AnyRing, edge: u32, method: &str) -> Result<LinkStep> {
    Ok(Box::new(SendOp::<T, Typed>::new(
        downcast_ring::<T>(ring, method)?,
        edge,
    )))
}

fn recv_step<T: Value>(
    outputs: &[AnyRing],
    edge: u32,
    producer: ActorId,
    method: &str,
) -> Result<LinkStep> {
    let rings = outputs
        .iter()
        .map(|r| downcast_ring::<T>(r, method))
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(RecvOp::<T, Typed>::new(
        edge,
        producer,
        Writer::new(rings),
    )))
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

    fn encode_constant(&self) -> Result<Vec<u8>> {
        match &self.constant {
            Some(c) => crate::tasks::encode(c),
            None => Err(super::DagError::TypeMismatch {
                method: "a constant".into(),
            }
            .into()),
        }
    }

    fn send_step(&self, ring: &AnyRing, edge: u32) -> Result<LinkStep> {
        send_step::<T>(ring, edge, "the input")
    }

    fn recv_step(&self, outputs: &[AnyRing], edge: u32, producer: ActorId) -> Result<LinkStep> {
        recv_step::<T>(outputs, edge, producer, "the input")
    }
}

/// The method body a call node runs: reads its arguments from `DagArgs`.
pub type MethodFn<A, T> = Arc<dyn Fn(&mut A, &mut DagArgs<'_>) -> Result<T> + Send + Sync>;

/// Reads a call's arguments from `DagArgs` and encodes each. The generated `bind` still
/// passes one; graphs no longer use it, since values cross nodes encoded by their
/// producers' types (`Glue::send_step`).
pub type EncodeFn = Arc<dyn Fn(&mut DagArgs<'_>) -> Result<Vec<Vec<u8>>> + Send + Sync>;

/// The glue of a call of a method of `A` returning `T`.
pub(crate) struct CallGlue<A, T> {
    pub(crate) method: &'static str,
    pub(crate) f: MethodFn<A, T>,
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

    fn method(&self) -> &'static str {
        self.method
    }

    fn step(
        &self,
        readers: Vec<Box<dyn Reader>>,
        trigger: Option<Box<dyn Reader>>,
        outputs: &[AnyRing],
    ) -> Result<AnyStep> {
        let rings = outputs
            .iter()
            .map(|r| downcast_ring::<T>(r, self.method))
            .collect::<Result<Vec<_>>>()?;
        let step: Box<dyn super::actor_loop::Step<A>> = Box::new(CallOp {
            method: self.method.into(),
            f: self.f.clone(),
            readers,
            trigger,
            out: Writer::new(rings),
        });
        Ok(Box::new(step))
    }

    fn send_step(&self, ring: &AnyRing, edge: u32) -> Result<LinkStep> {
        send_step::<T>(ring, edge, self.method)
    }

    fn recv_step(&self, outputs: &[AnyRing], edge: u32, producer: ActorId) -> Result<LinkStep> {
        recv_step::<T>(outputs, edge, producer, self.method)
    }
}

/// A call node of `handle`'s actor (what the generated `bind` makes).
pub(crate) fn call<A: RemoteActor, T: Value>(
    handle: ActorHandle<A>,
    method: &'static str,
    args: Vec<Arc<NodeCore>>,
    f: MethodFn<A, T>,
) -> Arc<NodeCore> {
    Arc::new(NodeCore {
        kind: Kind::Call {
            actor: Arc::new(handle),
        },
        args,
        glue: Box::new(CallGlue { method, f }),
    })
}
