//! A node's part of a compiled graph driven from another node: the actors it hosts, their
//! bound calls in the graph's order, and where each argument and result comes from and
//! goes (`DagPartSpec`, planned by the driver in `partition.rs`). The part runs as an
//! ordinary compiled loop on a thread of its own: rings between co-located calls, and
//! links (`link.rs`) to the driver and directly to the other nodes' parts. Values stay
//! encoded here, since this node knows the methods only by name (`dag_call`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_bytes::ByteBuf;

use super::DagError;
use super::actor_loop::{ConstReader, Reader, RingReader, Writer};
use super::executor::{Group, PartActor, Runner, run_group};
use super::link::{Counts, Encoded, LinkEnd, LinkRunner, LinkStep, RecvOp, SendOp, TickRecv};
use super::node::AnyStep;
use super::ring::Ring;
use crate::ids::{ActorId, NodeId};
use crate::node::{ExecContext, set_thread_context};
use crate::transport::{Channel, DagArg, DagOp, DagPartSpec, DagPeer, WireMessage};
use crate::{Error, Result};

/// What a part needs from its node (given by the cluster agent).
pub(crate) struct PartEnv {
    pub(crate) node_id: NodeId,
    /// The node's context (the part's links run in it).
    pub(crate) context: ExecContext,
    /// The actor with this id, if this node hosts it.
    pub(crate) find: Box<dyn Fn(ActorId) -> Option<PartActor> + Send>,
    /// Opens a channel to another node (where it listens, if known) with a first frame.
    pub(crate) open:
        Box<dyn Fn(NodeId, Option<crate::actors::NodeAddr>, WireMessage) -> Result<Channel> + Send>,
    /// Waits (for a bounded time) until the parts of graph `.0` on the nodes `.1` opened
    /// their channels to this one.
    #[allow(clippy::type_complexity)]
    pub(crate) edges:
        Box<dyn Fn((NodeId, u64), Vec<NodeId>) -> Result<Vec<(NodeId, Channel)>> + Send>,
}

/// The most executions in flight a part takes (each is a slot in each of its rings).
pub(crate) const MAX_INFLIGHT: u32 = 1 << 10;
/// The most steps in one part.
const MAX_OPS: usize = 1 << 12;
/// The most parts running at once in this process: each holds a thread, and threads are
/// the process's to spend.
const MAX_PARTS: usize = 64;
static RUNNING_PARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Why a node will not run `spec`, before anything is allocated for it.
pub(crate) fn refusal(spec: &DagPartSpec) -> Option<String> {
    if spec.ops.is_empty() {
        return Some("a part with no steps".into());
    }
    if spec.ops.len() > MAX_OPS {
        return Some(format!(
            "a part of {} steps (at most {MAX_OPS})",
            spec.ops.len()
        ));
    }
    if !(1..=MAX_INFLIGHT).contains(&spec.max_inflight) {
        return Some(format!(
            "max_inflight {} (from 1 to {MAX_INFLIGHT})",
            spec.max_inflight
        ));
    }
    None
}

/// A place among the [`MAX_PARTS`] running; given back when the part ends.
struct Running;

impl Running {
    fn take() -> Option<Running> {
        use std::sync::atomic::Ordering;
        RUNNING_PARTS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PARTS).then_some(n + 1)
            })
            .ok()
            .map(|_| Running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING_PARTS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs `spec`, sent by `driver` on `channel`, on a thread of its own until the driver
/// ends the channel. A part that asks too much, or one past the [`MAX_PARTS`] running,
/// is refused on the channel without a thread.
pub(crate) fn serve_part(spec: DagPartSpec, driver: NodeId, channel: Channel, env: PartEnv) {
    let node_id = env.node_id;
    let running = Running::take();
    let refused = match (refusal(&spec), &running) {
        (Some(why), _) => Some(why),
        (None, None) => Some(format!("{MAX_PARTS} compiled-graph parts already run here")),
        (None, Some(_)) => None,
    };
    if let Some(why) = refused {
        tracing::warn!(node_id = %node_id, driver = %driver, reason = %why, "compiled-graph part refused");
        let mut channel = channel;
        let reply = WireMessage::DagReply {
            result: Err(malformed(node_id, &why).into()),
        };
        actix_rt::spawn(async move {
            let _ = channel.send(&reply).await;
            channel.finish();
        });
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("ray-dag-part".into())
        .spawn(move || {
            let _running = running;
            run_part(spec, driver, channel, env)
        });
    if let Err(e) = spawned {
        // The channel went with the closure: the driver sees it end unanswered.
        tracing::warn!(node_id = %node_id, error = %e, "cannot run a compiled graph's part");
    }
}

/// The first actor a part calls (its link's errors name it), or a fresh id.
pub(super) fn first_actor(spec: &DagPartSpec) -> ActorId {
    spec.ops
        .iter()
        .find_map(|op| match op {
            DagOp::Call { actor_id, .. } => Some(*actor_id),
            _ => None,
        })
        .unwrap_or_else(ActorId::new)
}

fn run_part(spec: DagPartSpec, driver: NodeId, channel: Channel, env: PartEnv) {
    let span = tracing::info_span!("dag.part", node_id = %env.node_id, driver = %driver, graph = spec.graph.1);
    let _entered = span.enter();
    set_thread_context(Some(env.context.clone()));
    let first = first_actor(&spec);
    let counts = Arc::new(Counts::default());
    let end = LinkEnd::new(
        channel,
        format!("the driver (node {driver})"),
        counts.clone(),
    );
    // The driver's link finishes the channel when dropped: after the actors are back.
    let mut link = LinkRunner::new(first, end, env.context.clone(), false);
    match build(&spec, &env, first, &counts, &mut link) {
        Err(e) => {
            tracing::warn!(error = %e, "compiled-graph part refused");
            let _ = link.end().send_now(&WireMessage::DagReply {
                result: Err(e.into()),
            });
        }
        Ok(mut part) => {
            let ack = WireMessage::DagReply {
                result: Ok(ByteBuf::new()),
            };
            if link.end().send_now(&ack).is_ok() {
                tracing::info!(runners = part.runners.len(), "compiled-graph part running");
                part.runners.push(Box::new(link));
                let group = Group {
                    runners: part.runners,
                    order: part.order,
                };
                // Only the end of the driver's channel stops the part.
                run_group(group, &AtomicBool::new(false), env.node_id);
            }
        }
    }
    set_thread_context(None);
    tracing::debug!("compiled-graph part ended");
}

/// A part ready to run: its runners (the driver's link goes last) and its order.
struct Part {
    runners: Vec<Box<dyn Runner>>,
    order: Vec<(usize, usize)>,
}

/// What one op reads, made before the producers' writers (which need every reader).
enum Reads {
    Call(Vec<Box<dyn Reader>>, Option<Box<dyn Reader>>),
    Send(Arc<Ring<Vec<u8>>>),
    Recv,
}

fn malformed(node_id: NodeId, reason: &str) -> Error {
    DagError::Part {
        node_id,
        reason: reason.into(),
    }
    .into()
}

/// Adds `x` to `list` unless there; its position.
fn position<T: PartialEq>(list: &mut Vec<T>, x: T) -> usize {
    match list.iter().position(|y| *y == x) {
        Some(i) => i,
        None => {
            list.push(x);
            list.len() - 1
        }
    }
}

/// Builds the part: who takes part, the rings between its steps, the steps in order,
/// then its links and lent actors.
fn build(
    spec: &DagPartSpec,
    env: &PartEnv,
    first: ActorId,
    counts: &Arc<Counts>,
    driver: &mut LinkRunner,
) -> Result<Part> {
    let me = env.node_id;
    let cap = (spec.max_inflight as usize).max(1);
    let mut who = Members::of(spec);
    let actors = who
        .actors
        .iter()
        .map(|id| {
            (env.find)(*id).ok_or_else(|| Error::ActorNotFound {
                name: id.to_string(),
                detail: format!(" on node {me} (it is no longer alive)"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let reading = reads(spec, cap, me)?;
    let steps = place(spec, &mut who, &actors, reading, driver, me)?;

    // Open the links to the nodes this part sends to (their parts may still be setting
    // up: the channels wait for them there), lend the actors, then wait for the links
    // from the nodes this part receives from.
    let link = |channel: Channel, node_id: NodeId, steps: Vec<LinkStep>| {
        let end = LinkEnd::new(channel, format!("node {node_id}"), counts.clone());
        let mut link = LinkRunner::new(first, end, env.context.clone(), false);
        for step in steps {
            link.push(step);
        }
        link
    };
    let mut runners: Vec<Box<dyn Runner>> = Vec::with_capacity(steps.driver_at + 1);
    let mut out_links = Vec::with_capacity(who.outs.len());
    for ((node_id, at), steps) in who.outs.iter().zip(steps.outs) {
        let open = WireMessage::DagEdges {
            graph: spec.graph,
            from: me,
        };
        out_links.push(link((env.open)(*node_id, *at, open)?, *node_id, steps));
    }
    for (actor, steps) in actors.iter().zip(steps.actors) {
        let mut runner = actor.0.lend()?;
        runner.set_steps(steps)?;
        runners.push(runner);
    }
    for l in out_links {
        runners.push(Box::new(l));
    }
    let mut arrived = if who.ins.is_empty() {
        Vec::new()
    } else {
        (env.edges)(spec.graph, who.ins.clone())?
    };
    for (node_id, steps) in who.ins.iter().zip(steps.ins) {
        let at = arrived
            .iter()
            .position(|(from, _)| from == node_id)
            .ok_or_else(|| malformed(me, "a link from another node is missing"))?;
        let (_, channel) = arrived.swap_remove(at);
        runners.push(Box::new(link(channel, *node_id, steps)));
    }
    Ok(Part {
        runners,
        order: steps.order,
    })
}

/// Who takes part: the actors, the nodes this part sends to (with where they listen, if
/// known), those it receives from; each numbered by first appearance.
struct Members {
    actors: Vec<ActorId>,
    outs: Vec<(NodeId, Option<crate::actors::NodeAddr>)>,
    ins: Vec<NodeId>,
}

impl Members {
    fn of(spec: &DagPartSpec) -> Self {
        let mut who = Members {
            actors: Vec::new(),
            outs: Vec::new(),
            ins: Vec::new(),
        };
        for op in &spec.ops {
            match op {
                DagOp::Call { actor_id, .. } => {
                    position(&mut who.actors, *actor_id);
                }
                DagOp::Send {
                    to: DagPeer::Node { node_id, at },
                    ..
                } if !who.outs.iter().any(|(n, _)| n == node_id) => who.outs.push((*node_id, *at)),
                DagOp::Recv {
                    from: DagPeer::Node { node_id, .. },
                    ..
                } => {
                    position(&mut who.ins, *node_id);
                }
                _ => {}
            }
        }
        who
    }
}

type Rings = Vec<Vec<Arc<Ring<Vec<u8>>>>>;

/// What every op reads (`reads`, one per op): `rings[v]` are the rings of value `v`'s
/// readers, `input` those the input is written to.
struct Reading {
    rings: Rings,
    input: Vec<Arc<Ring<Vec<u8>>>>,
    reads: Vec<Reads>,
}

fn reads(spec: &DagPartSpec, cap: usize, me: NodeId) -> Result<Reading> {
    let values = spec
        .ops
        .iter()
        .filter(|op| !matches!(op, DagOp::Send { .. }))
        .count();
    let mut rings: Rings = vec![Vec::new(); values];
    let mut input: Vec<Arc<Ring<Vec<u8>>>> = Vec::new();
    let mut reads = Vec::with_capacity(spec.ops.len());
    let mut made = 0usize;
    let ring_of = |rings: &mut Rings, v: u32, made: usize| {
        let v = v as usize;
        if v >= made {
            return Err(malformed(me, "a step reads a value made after it"));
        }
        let ring = Ring::new(cap);
        rings[v].push(ring.clone());
        Ok(ring)
    };
    for op in &spec.ops {
        match op {
            DagOp::Call { args, trigger, .. } => {
                let mut readers: Vec<Box<dyn Reader>> = Vec::with_capacity(args.len());
                for arg in args {
                    readers.push(match arg {
                        DagArg::Input => {
                            let ring = Ring::new(cap);
                            input.push(ring.clone());
                            Box::new(RingReader::new(ring))
                        }
                        DagArg::Const(b) => Box::new(ConstReader::new(b.to_vec())),
                        DagArg::Value(v) => {
                            Box::new(RingReader::new(ring_of(&mut rings, *v, made)?))
                        }
                    });
                }
                let trigger = trigger.then(|| {
                    let ring = Ring::new(cap);
                    input.push(ring.clone());
                    Box::new(RingReader::new(ring)) as Box<dyn Reader>
                });
                reads.push(Reads::Call(readers, trigger));
                made += 1;
            }
            DagOp::Send { value, .. } => {
                reads.push(Reads::Send(ring_of(&mut rings, *value, made)?))
            }
            DagOp::Recv { .. } => {
                reads.push(Reads::Recv);
                made += 1;
            }
        }
    }
    Ok(Reading {
        rings,
        input,
        reads,
    })
}

/// The part's steps, per runner, and the order they run in (runner, step): the actors
/// first, then the links out, the links in, and the driver's link last.
struct Steps {
    order: Vec<(usize, usize)>,
    actors: Vec<Vec<AnyStep>>,
    outs: Vec<Vec<LinkStep>>,
    ins: Vec<Vec<LinkStep>>,
    driver_at: usize,
}

/// Places every op's step on its runner, in order; each producer writes to its
/// readers' rings.
fn place(
    spec: &DagPartSpec,
    who: &mut Members,
    actors: &[PartActor],
    reading: Reading,
    driver: &mut LinkRunner,
    me: NodeId,
) -> Result<Steps> {
    let Reading {
        mut rings,
        input,
        reads,
    } = reading;
    let (a, o) = (actors.len(), who.outs.len());
    let driver_at = a + o + who.ins.len();
    let mut steps = Steps {
        order: vec![(
            driver_at,
            driver.push(Box::new(TickRecv {
                out: Writer::new(input),
            })),
        )],
        actors: (0..a).map(|_| Vec::new()).collect(),
        outs: (0..o).map(|_| Vec::new()).collect(),
        ins: (0..who.ins.len()).map(|_| Vec::new()).collect(),
        driver_at,
    };
    let mut made = 0usize;
    for (op, read) in spec.ops.iter().zip(reads) {
        match (op, read) {
            (
                DagOp::Call {
                    actor_id,
                    method,
                    args,
                    ..
                },
                Reads::Call(readers, trigger),
            ) => {
                let i = position(&mut who.actors, *actor_id);
                let out = Writer::new(std::mem::take(&mut rings[made]));
                made += 1;
                let step = actors[i]
                    .0
                    .encoded_step(method, args.len(), readers, trigger, out);
                steps.order.push((i, steps.actors[i].len()));
                steps.actors[i].push(step);
            }
            (DagOp::Send { edge, to, .. }, Reads::Send(ring)) => {
                let step: LinkStep = Box::new(SendOp::<Vec<u8>, Encoded>::new(ring, *edge));
                match to {
                    DagPeer::Driver => steps.order.push((driver_at, driver.push(step))),
                    DagPeer::Node { node_id, .. } => {
                        let i = who
                            .outs
                            .iter()
                            .position(|(n, _)| n == node_id)
                            .ok_or_else(|| malformed(me, "a link to another node is missing"))?;
                        steps.order.push((a + i, steps.outs[i].len()));
                        steps.outs[i].push(step);
                    }
                }
            }
            (
                DagOp::Recv {
                    edge,
                    from,
                    producer,
                },
                Reads::Recv,
            ) => {
                let out = Writer::new(std::mem::take(&mut rings[made]));
                made += 1;
                let step: LinkStep =
                    Box::new(RecvOp::<Vec<u8>, Encoded>::new(*edge, *producer, out));
                match from {
                    DagPeer::Driver => steps.order.push((driver_at, driver.push(step))),
                    DagPeer::Node { node_id, .. } => {
                        let i = position(&mut who.ins, *node_id);
                        steps.order.push((a + o + i, steps.ins[i].len()));
                        steps.ins[i].push(step);
                    }
                }
            }
            _ => return Err(malformed(me, "steps and their reads disagree")),
        }
    }
    Ok(steps)
}
