//! Compiling a graph: its nodes in dependency order, one pre-allocated ring per edge,
//! each actor's steps, the instances taken from their hosts, and one loop thread per
//! actor. What a compiled graph does afterwards lives in `compiled.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::actor_loop::{Reader, RingReader, Writer};
use super::compiled::{CompiledDag, Shared};
use super::executor::{self, DagActor, Group, Runner};
use super::node::{AnyRing, AnyStep, Kind, NodeCore};
use super::ring::Ring;
use super::{DagError, DagOptions, DagOutput};
use crate::ids::ActorId;
use crate::{Result, Value};

/// The nodes reachable from `outputs`, each after its arguments.
fn order(outputs: &[Arc<NodeCore>]) -> (Vec<Arc<NodeCore>>, HashMap<*const NodeCore, usize>) {
    fn visit(
        n: &Arc<NodeCore>,
        seen: &mut HashMap<*const NodeCore, usize>,
        out: &mut Vec<Arc<NodeCore>>,
    ) {
        if seen.contains_key(&Arc::as_ptr(n)) {
            return;
        }
        for a in &n.args {
            visit(a, seen, out);
        }
        seen.insert(Arc::as_ptr(n), out.len());
        out.push(n.clone());
    }
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for o in outputs {
        visit(o, &mut seen, &mut out);
    }
    (out, seen)
}

fn typed_ring<T: Send + 'static>(ring: AnyRing) -> Result<Arc<Ring<T>>> {
    ring.downcast::<Ring<T>>().map_err(|_| {
        DagError::TypeMismatch {
            method: "the input".into(),
        }
        .into()
    })
}

/// What one call node reads: its arguments and, when they are all constants, the input
/// as a trigger.
struct Inputs {
    readers: Vec<Box<dyn Reader>>,
    trigger: Option<Box<dyn Reader>>,
}

pub(crate) fn compile<I: Value, O: DagOutput<I>>(
    output: O,
    opts: &DagOptions,
) -> Result<CompiledDag<I, O>> {
    if opts.max_inflight == 0 {
        return Err(DagError::ZeroInflight.into());
    }
    let outputs = output.nodes();
    let (nodes, index) = order(&outputs);
    if !nodes.iter().any(|n| matches!(n.kind, Kind::Call { .. })) {
        return Err(DagError::NoActorCall.into());
    }
    if outputs.iter().any(|o| !matches!(o.kind, Kind::Call { .. })) {
        return Err(DagError::OutputNotACall.into());
    }
    if nodes
        .iter()
        .filter(|n| matches!(n.kind, Kind::Input))
        .count()
        > 1
    {
        return Err(DagError::TwoInputs.into());
    }
    let cap = opts.max_inflight;

    // Every edge gets its ring; producers learn where to write.
    let mut produces: Vec<Vec<AnyRing>> = vec![Vec::new(); nodes.len()];
    let mut triggers: Vec<Arc<Ring<I>>> = Vec::new();
    let mut inputs: Vec<Option<Inputs>> = Vec::with_capacity(nodes.len());
    for n in &nodes {
        if !matches!(n.kind, Kind::Call { .. }) {
            inputs.push(None);
            continue;
        }
        let mut readers = Vec::with_capacity(n.args.len());
        let mut fed = false;
        for a in &n.args {
            let p = index[&Arc::as_ptr(a)];
            let producer = &nodes[p];
            if matches!(producer.kind, Kind::Const) {
                readers.push(producer.glue.reader(None)?);
                continue;
            }
            let ring = producer.glue.ring(cap);
            readers.push(producer.glue.reader(Some(&ring))?);
            produces[p].push(ring);
            fed = true;
        }
        let trigger = if fed {
            None
        } else {
            let ring = Ring::<I>::new(cap);
            triggers.push(ring.clone());
            Some(Box::new(RingReader::new(ring)) as Box<dyn Reader>)
        };
        inputs.push(Some(Inputs { readers, trigger }));
    }
    let mut results: Vec<Arc<Ring<O::Value>>> = Vec::with_capacity(outputs.len());
    for o in &outputs {
        let p = index[&Arc::as_ptr(o)];
        let ring = nodes[p].glue.ring(cap);
        produces[p].push(ring.clone());
        results.push(typed_ring::<O::Value>(ring)?);
    }
    let mut input_rings = triggers;
    for (n, rings) in nodes.iter().zip(&mut produces) {
        if matches!(n.kind, Kind::Input) {
            for r in std::mem::take(rings) {
                input_rings.push(typed_ring::<I>(r)?);
            }
        }
    }

    // Each actor's steps, and the graph's order of (actor, step).
    let mut actors: Vec<(ActorId, Arc<dyn DagActor>, Vec<AnyStep>)> = Vec::new();
    let mut order: Vec<(usize, usize)> = Vec::new();
    for ((n, ins), outs) in nodes.iter().zip(inputs).zip(&produces) {
        let (Kind::Call { actor, .. }, Some(ins)) = (&n.kind, ins) else {
            continue;
        };
        let step = n
            .glue
            .step(ins.readers, ins.trigger, outs, actor.is_remote())?;
        let at = match actors.iter().position(|(id, _, _)| *id == actor.id()) {
            Some(at) => at,
            None => {
                actors.push((actor.id(), actor.clone(), Vec::new()));
                actors.len() - 1
            }
        };
        order.push((at, actors[at].2.len()));
        actors[at].2.push(step);
    }

    // Take the instances. A runner dropped on any failure below gives its instance back.
    let node_id = crate::runtime::current_node()?.id;
    let mut runners: Vec<Box<dyn Runner>> = Vec::with_capacity(actors.len());
    let mut handles = Vec::with_capacity(actors.len());
    for (_, actor, steps) in actors {
        let mut runner = actor.lend()?;
        runner.set_steps(steps)?;
        runners.push(runner);
        handles.push(actor);
    }
    let groups = group(runners, &order, opts.loop_threads);
    let threads = groups.len();
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::with_capacity(threads);
    for g in groups {
        match executor::start(g, stop.clone(), node_id) {
            Ok(h) => loops.push(h),
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                for h in loops {
                    h.thread().unpark();
                    let _ = h.join();
                }
                return Err(e);
            }
        }
    }
    tracing::info!(
        node_id = %node_id,
        actors = handles.len(),
        threads,
        nodes = nodes.len(),
        max_inflight = cap,
        "graph compiled"
    );
    let shared = Shared::new(results, cap);
    Ok(CompiledDag::new(
        shared,
        Writer::new(input_rings),
        loops,
        stop,
        handles,
        opts.submit_timeout,
    ))
}

/// Splits the actors, in the order the graph first calls them, into contiguous groups,
/// one per loop thread: `loop_threads`, or by default one CPU of the machine left to the
/// driver and one loop per other CPU. Neighbouring stages of a chain share a thread, so
/// a value passes between them without a wake-up.
fn group(
    runners: Vec<Box<dyn Runner>>,
    order: &[(usize, usize)],
    threads: Option<usize>,
) -> Vec<Group> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads
        .unwrap_or(cpus.saturating_sub(1))
        .clamp(1, runners.len().max(1));
    let per = runners.len().div_ceil(threads);
    let mut groups: Vec<Group> = Vec::with_capacity(threads);
    for (i, r) in runners.into_iter().enumerate() {
        if i % per == 0 {
            groups.push(Group {
                runners: Vec::with_capacity(per),
                order: Vec::new(),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.runners.push(r);
        }
    }
    for &(actor, step) in order {
        if let Some(g) = groups.get_mut(actor / per) {
            g.order.push((actor % per, step));
        }
    }
    groups
}
