//! Compiling a graph on its driver: its nodes in dependency order, the parts other nodes
//! run (planned in `partition.rs`, sent over a channel to each), one pre-allocated ring
//! per edge read here, the local actors' steps and instances taken from their hosts, the
//! links to the parts, and the loop threads. What a compiled graph does afterwards lives
//! in `compiled.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::actor_loop::{Reader, RingReader, Writer};
use super::compiled::{CompiledDag, Shared};
use super::executor::{self, DagActor, Group, Runner, Site};
use super::link::{Counts, LinkEnd, LinkRunner, LinkStep, TickSend};
use super::node::{AnyRing, AnyStep, Kind, NodeCore};
use super::partition::{self, DriverStep, LinkOp, Loc};
use super::ring::Ring;
use super::{DagError, DagOptions, DagOutput};
use crate::actors::OpenDagChannel;
use crate::ids::ActorId;
use crate::node::block_on;
use crate::transport::{DagPartSpec, DagPeer, WireMessage};
use crate::{Error, Result, Value};

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

/// The driver's numbers for its graphs: with its node id, a graph's name on every node.
static GRAPHS: AtomicU64 = AtomicU64::new(0);

/// A runner of the driver, in the order the graph first uses it.
enum Slot {
    Actor(Arc<dyn DagActor>, Vec<AnyStep>),
    Link(usize),
}

/// The driver's steps in the graph's order: (slot, step of that slot).
type StepOrder = Vec<(usize, usize)>;

pub(crate) fn compile<I: Value, O: DagOutput<I>>(
    output: O,
    opts: &DagOptions,
) -> Result<CompiledDag<I, O>> {
    let outputs = output.nodes();
    let (nodes, index) = order(&outputs);
    validate(&outputs, &nodes, opts)?;
    let cap = opts.max_inflight;
    let node = crate::node::current_node()?;
    let node_id = node.id;

    let (sites, loc, actors) = locate(&nodes)?;
    let peers: Vec<DagPeer> = sites
        .iter()
        .map(|s| DagPeer::Node {
            node_id: s.node,
            at: s.at,
        })
        .collect();
    let output_at: Vec<usize> = outputs.iter().map(|o| index[&Arc::as_ptr(o)]).collect();
    let mut plan = partition::plan(&nodes, &index, &loc, &peers, &output_at)?;

    let mut wiring = Wiring::<I> {
        produces: vec![Vec::new(); nodes.len()],
        triggers: Vec::new(),
        nodes,
        index,
        cap,
    };
    let mut inputs = wiring.driver_inputs(&loc)?;
    let results = wiring.result_rings::<O::Value>(&output_at)?;
    let mut link_steps = wiring.link_steps(&plan)?;
    let input_rings = wiring.input_rings()?;
    let (slots, order) = wiring.driver_slots(&plan.order, &mut inputs)?;

    // Send each node its part: they all lend their actors while the driver lends its.
    let graph = (node_id, GRAPHS.fetch_add(1, Ordering::Relaxed));
    let counts = Arc::new(Counts::default());
    let mut links = Vec::with_capacity(sites.len());
    for (site, ops) in sites.iter().zip(&mut plan.parts) {
        let part = DagPartSpec {
            graph,
            max_inflight: u32::try_from(cap).unwrap_or(u32::MAX),
            ops: std::mem::take(ops),
        };
        links.push(Some(open_part(site, part, &counts, &node)?));
    }
    let runners = runners(slots, links, &mut link_steps)?;
    let groups = group(runners, &order, opts.loop_threads);
    let threads = groups.len();
    let stop = Arc::new(AtomicBool::new(false));
    let loops = start_loops(groups, &stop, node_id)?;
    tracing::info!(
        node_id = %node_id,
        actors = actors.len(),
        parts = sites.len(),
        threads,
        nodes = wiring.nodes.len(),
        max_inflight = cap,
        "graph compiled"
    );
    let shared = Shared::new(results, cap);
    Ok(CompiledDag::new(
        shared,
        Writer::new(input_rings),
        loops,
        stop,
        actors,
        opts.submit_timeout,
        counts,
    ))
}

/// The shapes a graph may not have.
fn validate(outputs: &[Arc<NodeCore>], nodes: &[Arc<NodeCore>], opts: &DagOptions) -> Result<()> {
    if opts.max_inflight == 0 {
        return Err(DagError::ZeroInflight.into());
    }
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
    Ok(())
}

/// The graph's actors and where each call runs: here, or in the part of the node
/// hosting its actor (one part per such node).
type Located = (Vec<Site>, Vec<Option<Loc>>, Vec<Arc<dyn DagActor>>);

fn locate(nodes: &[Arc<NodeCore>]) -> Result<Located> {
    let mut sites: Vec<Site> = Vec::new();
    let mut loc: Vec<Option<Loc>> = Vec::with_capacity(nodes.len());
    let mut actors: Vec<Arc<dyn DagActor>> = Vec::new();
    for n in nodes {
        let Kind::Call { actor } = &n.kind else {
            loc.push(None);
            continue;
        };
        if !actors.iter().any(|a| a.id() == actor.id()) {
            actors.push(actor.clone());
        }
        loc.push(Some(match actor.site()? {
            None => Loc::Driver,
            Some(site) => match sites.iter().position(|s| s.node == site.node) {
                Some(k) => Loc::Part(k),
                None => {
                    sites.push(site);
                    Loc::Part(sites.len() - 1)
                }
            },
        }));
    }
    Ok((sites, loc, actors))
}

/// The rings of the edges the driver reads, made while its steps are planned:
/// `produces[p]` are the rings node `p` writes, `triggers` the input rings of calls that
/// read only constants and of the links' starting steps.
struct Wiring<I> {
    nodes: Vec<Arc<NodeCore>>,
    index: HashMap<*const NodeCore, usize>,
    cap: usize,
    produces: Vec<Vec<AnyRing>>,
    triggers: Vec<Arc<Ring<I>>>,
}

impl<I: Value> Wiring<I> {
    /// Every edge read by a call on the driver gets its ring; producers learn where to
    /// write.
    fn driver_inputs(&mut self, loc: &[Option<Loc>]) -> Result<Vec<Option<Inputs>>> {
        let mut inputs = Vec::with_capacity(self.nodes.len());
        for (n, at) in self.nodes.iter().zip(loc) {
            if *at != Some(Loc::Driver) {
                inputs.push(None);
                continue;
            }
            let mut readers = Vec::with_capacity(n.args.len());
            let mut fed = false;
            for a in &n.args {
                let p = self.index[&Arc::as_ptr(a)];
                let producer = &self.nodes[p];
                if matches!(producer.kind, Kind::Const) {
                    readers.push(producer.glue.reader(None)?);
                    continue;
                }
                let ring = producer.glue.ring(self.cap);
                readers.push(producer.glue.reader(Some(&ring))?);
                self.produces[p].push(ring);
                fed = true;
            }
            let trigger = if fed {
                None
            } else {
                let ring = Ring::<I>::new(self.cap);
                self.triggers.push(ring.clone());
                Some(Box::new(RingReader::new(ring)) as Box<dyn Reader>)
            };
            inputs.push(Some(Inputs { readers, trigger }));
        }
        Ok(inputs)
    }

    /// The rings the driver reads the graph's outputs from.
    fn result_rings<V: Send + 'static>(
        &mut self,
        output_at: &[usize],
    ) -> Result<Vec<Arc<Ring<V>>>> {
        let mut results = Vec::with_capacity(output_at.len());
        for &p in output_at {
            let ring = self.nodes[p].glue.ring(self.cap);
            self.produces[p].push(ring.clone());
            results.push(typed_ring::<V>(ring)?);
        }
        Ok(results)
    }

    /// The driver's links to the parts: start each execution, then send and receive the
    /// edges in the graph's order.
    fn link_steps(&mut self, plan: &partition::Plan) -> Result<Vec<Vec<LinkStep>>> {
        let mut link_steps = Vec::with_capacity(plan.links.len());
        for (k, ops) in plan.links.iter().enumerate() {
            let ring = Ring::<I>::new(self.cap);
            self.triggers.push(ring.clone());
            let mut steps: Vec<LinkStep> = vec![Box::new(TickSend {
                ring,
                with_input: plan.with_input[k],
            })];
            for op in ops {
                steps.push(match *op {
                    LinkOp::Send { edge, producer } => {
                        let ring = self.nodes[producer].glue.ring(self.cap);
                        let step = self.nodes[producer].glue.send_step(&ring, edge)?;
                        self.produces[producer].push(ring);
                        step
                    }
                    LinkOp::Recv { edge, producer } => {
                        let Kind::Call { actor } = &self.nodes[producer].kind else {
                            return Err(DagError::NoActorCall.into());
                        };
                        self.nodes[producer].glue.recv_step(
                            &self.produces[producer],
                            edge,
                            actor.id(),
                        )?
                    }
                });
            }
            link_steps.push(steps);
        }
        Ok(link_steps)
    }

    /// The rings a submitted input is written to: the triggers and the input node's.
    fn input_rings(&mut self) -> Result<Vec<Arc<Ring<I>>>> {
        let mut rings = std::mem::take(&mut self.triggers);
        for (n, produced) in self.nodes.iter().zip(&mut self.produces) {
            if matches!(n.kind, Kind::Input) {
                for r in std::mem::take(produced) {
                    rings.push(typed_ring::<I>(r)?);
                }
            }
        }
        Ok(rings)
    }

    /// The driver's runners in the order the graph first uses them, and its steps in the
    /// graph's order (runner, step of that runner).
    fn driver_slots(
        &self,
        plan_order: &[DriverStep],
        inputs: &mut [Option<Inputs>],
    ) -> Result<(Vec<Slot>, StepOrder)> {
        let mut slots: Vec<Slot> = Vec::new();
        let mut actor_slot: HashMap<ActorId, usize> = HashMap::new();
        let mut link_slot: Vec<Option<usize>> = Vec::new();
        let mut order: Vec<(usize, usize)> = Vec::new();
        for s in plan_order {
            match *s {
                DriverStep::Call(i) => {
                    let (Kind::Call { actor }, Some(ins)) = (&self.nodes[i].kind, inputs[i].take())
                    else {
                        continue;
                    };
                    let step =
                        self.nodes[i]
                            .glue
                            .step(ins.readers, ins.trigger, &self.produces[i])?;
                    let at = *actor_slot.entry(actor.id()).or_insert_with(|| {
                        slots.push(Slot::Actor(actor.clone(), Vec::new()));
                        slots.len() - 1
                    });
                    if let Some(Slot::Actor(_, steps)) = slots.get_mut(at) {
                        order.push((at, steps.len()));
                        steps.push(step);
                    }
                }
                DriverStep::Link { part, step } => {
                    if link_slot.len() <= part {
                        link_slot.resize(part + 1, None);
                    }
                    let at = *link_slot[part].get_or_insert_with(|| {
                        slots.push(Slot::Link(part));
                        slots.len() - 1
                    });
                    order.push((at, step));
                }
            }
        }
        Ok((slots, order))
    }
}

/// Opens the channel to the node of one part, sending it its ops; the driver's end of
/// the link to it.
fn open_part(
    site: &Site,
    part: DagPartSpec,
    counts: &Arc<Counts>,
    node: &Arc<crate::node::Node>,
) -> Result<LinkRunner> {
    let first = super::part::first_actor(&part);
    let open = OpenDagChannel {
        node: site.node,
        at: site.at,
        open: WireMessage::DagPart { part },
    };
    let channel = block_on(site.agent.send(open)).map_err(|_| Error::ShutDown)??;
    let end = LinkEnd::new(channel, format!("node {}", site.node), counts.clone());
    Ok(LinkRunner::new(first, end, node.context(), true))
}

/// The runners of the driver's slots: its actors, lent by their hosts, and its links
/// with their steps once their parts joined.
fn runners(
    slots: Vec<Slot>,
    mut links: Vec<Option<LinkRunner>>,
    link_steps: &mut [Vec<LinkStep>],
) -> Result<Vec<Box<dyn Runner>>> {
    let mut runners: Vec<Box<dyn Runner>> = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Slot::Actor(actor, steps) => {
                let mut runner = actor.lend()?;
                runner.set_steps(steps)?;
                runners.push(runner);
            }
            Slot::Link(k) => {
                let mut link = links
                    .get_mut(k)
                    .and_then(Option::take)
                    .ok_or(DagError::NoActorCall)?;
                link.joined()?;
                for step in std::mem::take(&mut link_steps[k]) {
                    link.push(step);
                }
                runners.push(Box::new(link));
            }
        }
    }
    Ok(runners)
}

/// Starts one loop thread per group; if one cannot start, stops those that did.
fn start_loops(
    groups: Vec<Group>,
    stop: &Arc<AtomicBool>,
    node_id: crate::ids::NodeId,
) -> Result<Vec<std::thread::JoinHandle<()>>> {
    let mut loops = Vec::with_capacity(groups.len());
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
    Ok(loops)
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
