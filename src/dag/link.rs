//! The edges of a compiled graph that cross nodes: a persistent QUIC channel between two
//! parts of a graph (the driver's and a node's, or two nodes'), the loop steps that move
//! one execution's values over it, and the runner that owns the channel in a loop. What
//! each part runs is decided in `partition.rs` (driver) and `part.rs` (node).
//!
//! On a channel, each execution's frames follow the sender's graph order, and the
//! receiver reads them in the same order: the driver starts an execution on a node with
//! one `DagExecute` (the encoded input, or nothing), then every edge is one `DagValue`.
//! A frame that is not the one expected, or a channel that fails, breaks the link: the
//! values it should have carried become `ActorDied` errors of the actor that made them,
//! for this execution and every later one.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_bytes::ByteBuf;

use super::DagError;
use super::actor_loop::{Outcome, Step, Writer};
use super::executor::Runner;
use super::node::AnyStep;
use super::ring::Ring;
use crate::ids::ActorId;
use crate::node::{ExecContext, block_on, set_thread_context};
use crate::transport::{Channel, WireMessage};
use crate::{Error, Result, Value};

/// A step of a link runner.
pub(crate) type LinkStep = Box<dyn Step<LinkEnd>>;

/// Frames the driver's links sent and received (what shows which hops a graph's values
/// take).
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
}

/// One end of a channel between parts of a graph.
pub(crate) struct LinkEnd {
    channel: Channel,
    /// Who is at the other end, for errors ("node …", "the driver").
    peer: String,
    /// Why the link failed, once it did: nothing more is sent or read.
    broken: Option<String>,
    counts: Arc<Counts>,
}

impl LinkEnd {
    pub(crate) fn new(channel: Channel, peer: String, counts: Arc<Counts>) -> Self {
        Self {
            channel,
            peer,
            broken: None,
            counts,
        }
    }

    fn send(&mut self, msg: &WireMessage) {
        if self.broken.is_some() {
            return;
        }
        match block_on(self.channel.send(msg)) {
            Ok(()) => {
                self.counts.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.broken = Some(format!("the channel to {} failed: {e}", self.peer)),
        }
    }

    /// The next frame, or why there is none (the link is then broken).
    pub(crate) fn recv(&mut self) -> std::result::Result<WireMessage, String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        let why = match block_on(self.channel.recv()) {
            Ok(Some(m)) => {
                self.counts.received.fetch_add(1, Ordering::Relaxed);
                return Ok(m);
            }
            Ok(None) => format!("{} ended the channel", self.peer),
            Err(e) => format!("the channel to {} failed: {e}", self.peer),
        };
        self.broken = Some(why.clone());
        Err(why)
    }

    /// Breaks the link on a frame that is not the one expected.
    fn unexpected(&mut self, got: &WireMessage) -> String {
        let mut what = format!("{got:?}");
        what.truncate(80);
        let why = format!("unexpected frame from {}: {what}", self.peer);
        tracing::warn!(peer = %self.peer, reason = %why, "compiled-graph link broken");
        self.broken = Some(why.clone());
        why
    }

    /// Sends one frame outside the loop (the answer to `DagPart`).
    pub(crate) fn send_now(&mut self, msg: &WireMessage) -> Result<()> {
        Ok(block_on(self.channel.send(msg))?)
    }
}

/// How an edge's values become frames and back.
pub(crate) trait Codec<T>: 'static {
    fn encode(value: T) -> Result<Vec<u8>>;
    fn decode(bytes: Vec<u8>) -> Result<T>;
}

/// Values of their own type (the driver's side): MessagePack.
pub(crate) struct Typed;

impl<T: Value> Codec<T> for Typed {
    fn encode(value: T) -> Result<Vec<u8>> {
        crate::tasks::encode(&value)
    }
    fn decode(bytes: Vec<u8>) -> Result<T> {
        crate::tasks::decode::<T>(&bytes)
    }
}

/// Values already encoded (a node's part, which knows methods only by name).
pub(crate) struct Encoded;

impl Codec<Vec<u8>> for Encoded {
    fn encode(value: Vec<u8>) -> Result<Vec<u8>> {
        Ok(value)
    }
    fn decode(bytes: Vec<u8>) -> Result<Vec<u8>> {
        Ok(bytes)
    }
}

/// The driver's first step on a node's link each execution: takes the input (which
/// paces the link's other steps) and starts the execution there.
pub(crate) struct TickSend<I> {
    pub(crate) ring: Arc<Ring<I>>,
    /// Whether the node's part reads the input (otherwise only the start is sent).
    pub(crate) with_input: bool,
}

impl<I: Value> Step<LinkEnd> for TickSend<I> {
    fn run(&mut self, end: Option<&mut LinkEnd>, _: Option<&Error>, stop: &AtomicBool) -> Outcome {
        let Some(input) = self.ring.pop(stop) else {
            return Outcome::Stopped;
        };
        if let Some(end) = end {
            let input = match input {
                Ok(v) if self.with_input => Typed::encode(v).map(ByteBuf::from),
                Ok(_) => Ok(ByteBuf::new()),
                Err(e) => Err(e),
            };
            end.send(&WireMessage::DagExecute {
                input: input.map_err(Into::into),
            });
        }
        Outcome::Done
    }
}

/// A node's first step on its driver's link each execution: waits for the start and
/// hands the input to the part's steps that read it. The end of the channel stops the
/// part (teardown, or the driver is gone).
pub(crate) struct TickRecv {
    pub(crate) out: Writer<Vec<u8>>,
}

impl Step<LinkEnd> for TickRecv {
    fn run(&mut self, end: Option<&mut LinkEnd>, _: Option<&Error>, stop: &AtomicBool) -> Outcome {
        let Some(end) = end else {
            return Outcome::Stopped;
        };
        match end.recv() {
            Ok(WireMessage::DagExecute { input }) => {
                self.out
                    .push(input.map(ByteBuf::into_vec).map_err(Error::from), stop);
                Outcome::Done
            }
            Ok(other) => {
                end.unexpected(&other);
                Outcome::Stopped
            }
            Err(why) => {
                tracing::debug!(reason = %why, "compiled-graph part stops");
                Outcome::Stopped
            }
        }
    }
}

/// Sends one edge's value each execution.
pub(crate) struct SendOp<T, C> {
    ring: Arc<Ring<T>>,
    edge: u32,
    _codec: PhantomData<fn() -> C>,
}

impl<T, C> SendOp<T, C> {
    pub(crate) fn new(ring: Arc<Ring<T>>, edge: u32) -> Self {
        Self {
            ring,
            edge,
            _codec: PhantomData,
        }
    }
}

impl<T: Send + 'static, C: Codec<T>> Step<LinkEnd> for SendOp<T, C> {
    fn run(&mut self, end: Option<&mut LinkEnd>, _: Option<&Error>, stop: &AtomicBool) -> Outcome {
        let Some(value) = self.ring.pop(stop) else {
            return Outcome::Stopped;
        };
        if let Some(end) = end {
            let result = value.and_then(C::encode).map(ByteBuf::from);
            end.send(&WireMessage::DagValue {
                edge: self.edge,
                result: result.map_err(Into::into),
            });
        }
        Outcome::Done
    }
}

/// Receives one edge's value each execution (or the error that replaces it).
pub(crate) struct RecvOp<T, C> {
    edge: u32,
    /// The actor that made the value: a broken link fails as its death.
    producer: ActorId,
    out: Writer<T>,
    _codec: PhantomData<fn() -> C>,
}

impl<T, C> RecvOp<T, C> {
    pub(crate) fn new(edge: u32, producer: ActorId, out: Writer<T>) -> Self {
        Self {
            edge,
            producer,
            out,
            _codec: PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static, C: Codec<T>> Step<LinkEnd> for RecvOp<T, C> {
    fn run(&mut self, end: Option<&mut LinkEnd>, _: Option<&Error>, stop: &AtomicBool) -> Outcome {
        let died = |reason: String| Error::ActorDied {
            actor_id: self.producer,
            reason,
        };
        let value = match end {
            None => Err(died("the link is gone".into())),
            Some(end) => match end.recv() {
                Ok(WireMessage::DagValue { edge, result }) if edge == self.edge => result
                    .map_err(Error::from)
                    .and_then(|b| C::decode(b.into_vec())),
                Ok(other) => Err(died(end.unexpected(&other))),
                Err(why) => Err(died(why)),
            },
        };
        self.out.push(value, stop);
        Outcome::Done
    }
}

/// The steps of one link in a loop: the channel is owned here, and teardown ends it.
pub(crate) struct LinkRunner {
    /// An actor at the other end (names the loop's span).
    id: ActorId,
    end: LinkEnd,
    steps: Vec<LinkStep>,
    context: ExecContext,
    /// Whether dropping waits for the other end to finish too (the driver's links: a
    /// node finishes once its actors are back with their hosts).
    wait_on_drop: bool,
}

impl LinkRunner {
    pub(crate) fn new(id: ActorId, end: LinkEnd, context: ExecContext, wait: bool) -> Self {
        Self {
            id,
            end,
            steps: Vec::new(),
            context,
            wait_on_drop: wait,
        }
    }

    pub(crate) fn push(&mut self, step: LinkStep) -> usize {
        self.steps.push(step);
        self.steps.len() - 1
    }

    pub(crate) fn end(&mut self) -> &mut LinkEnd {
        &mut self.end
    }

    /// Waits for a node's answer to `DagPart`: its actors are lent, or why not.
    pub(crate) fn joined(&mut self) -> Result<()> {
        let why = match self.end.recv() {
            Ok(WireMessage::DagReply { result: Ok(_) }) => return Ok(()),
            Ok(WireMessage::DagReply { result: Err(e) }) => return Err(e.into()),
            Ok(other) => self.end.unexpected(&other),
            Err(why) => why,
        };
        Err(Error::ActorDied {
            actor_id: self.id,
            reason: format!("its node did not take its part of the compiled graph: {why}"),
        })
    }
}

impl Runner for LinkRunner {
    fn actor_id(&self) -> ActorId {
        self.id
    }

    fn set_steps(&mut self, steps: Vec<AnyStep>) -> Result<()> {
        self.steps = steps
            .into_iter()
            .map(|s| s.downcast::<LinkStep>().map(|b| *b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| DagError::TypeMismatch {
                method: "a link's step".into(),
            })?;
        Ok(())
    }

    fn enter(&self) {
        set_thread_context(Some(self.context.clone()));
    }

    fn run(&mut self, step: usize, stop: &AtomicBool) -> bool {
        let Some(s) = self.steps.get_mut(step) else {
            return false;
        };
        !matches!(s.run(Some(&mut self.end), None, stop), Outcome::Stopped)
    }
}

impl Drop for LinkRunner {
    fn drop(&mut self) {
        self.end.channel.finish();
        if self.wait_on_drop && self.end.broken.is_none() {
            while let Ok(Some(_)) = block_on(self.end.channel.recv()) {}
        }
    }
}
