//! Compiling a graph: its nodes in dependency order, one pre-allocated ring per edge,
//! each actor's steps, the instances taken from their hosts, and one loop thread per
//! actor. What a compiled graph does afterwards lives in `compiled.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::actor_loop::{DagActor, Lent, Reader, RingReader, Writer};
use super::compiled::{CompiledDag, Shared};
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

    // Each actor's steps, in the graph's order.
    let mut actors: Vec<(ActorId, Arc<dyn DagActor>, Vec<AnyStep>)> = Vec::new();
    for ((n, ins), outs) in nodes.iter().zip(inputs).zip(&produces) {
        let (Kind::Call { actor, .. }, Some(ins)) = (&n.kind, ins) else {
            continue;
        };
        let step = n.glue.step(ins.readers, ins.trigger, outs)?;
        match actors.iter_mut().find(|(id, _, _)| *id == actor.id()) {
            Some((_, _, steps)) => steps.push(step),
            None => actors.push((actor.id(), actor.clone(), vec![step])),
        }
    }

    // Take the instances; on any failure, give back those already taken.
    let mut lent: Vec<(Box<dyn Lent>, Vec<AnyStep>)> = Vec::with_capacity(actors.len());
    let mut handles = Vec::with_capacity(actors.len());
    for (_, actor, steps) in actors {
        match actor.lend() {
            Ok(l) => lent.push((l, steps)),
            Err(e) => {
                for (l, _) in lent {
                    l.give_back();
                }
                return Err(e);
            }
        }
        handles.push(actor);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::with_capacity(lent.len());
    let mut lent = lent.into_iter();
    while let Some((l, steps)) = lent.next() {
        match l.start(steps, stop.clone()) {
            Ok(h) => loops.push(h),
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                for h in loops {
                    h.thread().unpark();
                    let _ = h.join();
                }
                for (l, _) in lent {
                    l.give_back();
                }
                return Err(e);
            }
        }
    }
    tracing::info!(
        actors = handles.len(),
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
