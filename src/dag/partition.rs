//! Splitting a graph by the node hosting each actor (a pure function of the ordered
//! graph): the ops each other node runs in its part, the driver's steps on its link to
//! each part, and the graph's order across the driver's runners. A value crosses from
//! one part to another once per destination, directly, whoever made it: the driver
//! relays nothing between two nodes.

use std::collections::HashMap;
use std::sync::Arc;

use super::node::{Kind, NodeCore};
use crate::Result;
use crate::ids::ActorId;
use crate::transport::{DagArg, DagOp, DagPeer};

/// Where a call node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// On the node that compiles the graph (the driver).
    Driver,
    /// In the part of another node (its index among the graph's other nodes).
    Part(usize),
}

/// A driver's step on its link to a part, after the first (which starts the execution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkOp {
    /// Sends the value of graph node `producer` (a call on the driver) as `edge`.
    Send { edge: u32, producer: usize },
    /// Receives the value of graph node `producer` (a call in that part) as `edge`.
    Recv { edge: u32, producer: usize },
}

/// One step of the driver's loops, in the graph's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverStep {
    /// The call of graph node `node` (its actor is on the driver).
    Call(usize),
    /// Step `step` of the link to part `part` (step 0 starts the execution there).
    Link { part: usize, step: usize },
}

/// How a graph runs across nodes.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Per part: what its node runs, in order.
    pub(crate) parts: Vec<Vec<DagOp>>,
    /// Per part: the driver's steps on its link, after the starting one.
    pub(crate) links: Vec<Vec<LinkOp>>,
    /// Per part: whether its steps read the input.
    pub(crate) with_input: Vec<bool>,
    /// The driver's steps in the graph's order.
    pub(crate) order: Vec<DriverStep>,
}

/// Plans a graph whose nodes are in dependency order (`index`: a node's position),
/// with call node `i` at `loc[i]` (`None` for the input and constants), `peers[k]` the
/// node of part `k`, and `outputs` the graph nodes the driver reads.
pub(crate) fn plan(
    nodes: &[Arc<NodeCore>],
    index: &HashMap<*const NodeCore, usize>,
    loc: &[Option<Loc>],
    peers: &[DagPeer],
    outputs: &[usize],
) -> Result<Plan> {
    let parts = peers.len();
    let readers = readers(nodes, index, loc, outputs);

    let mut plan = Plan {
        parts: vec![Vec::new(); parts],
        links: vec![Vec::new(); parts],
        with_input: vec![false; parts],
        order: (0..parts)
            .map(|part| DriverStep::Link { part, step: 0 })
            .collect(),
    };
    // Per part: the number of each graph node's value there; the next number.
    let mut value: Vec<HashMap<usize, u32>> = vec![HashMap::new(); parts];
    let mut next_value = vec![0u32; parts];
    let mut next_edge = 0u32;
    let link_step = |plan: &mut Plan, part: usize, op: LinkOp| {
        plan.links[part].push(op);
        let step = plan.links[part].len();
        plan.order.push(DriverStep::Link { part, step });
    };

    for (i, n) in nodes.iter().enumerate() {
        let Kind::Call { actor } = &n.kind else {
            continue;
        };
        match loc[i] {
            None => continue,
            Some(Loc::Driver) => {
                plan.order.push(DriverStep::Call(i));
                for &at in &readers[i] {
                    let Loc::Part(k) = at else { continue };
                    let edge = next_edge;
                    next_edge += 1;
                    link_step(&mut plan, k, LinkOp::Send { edge, producer: i });
                    plan.parts[k].push(DagOp::Recv {
                        edge,
                        from: DagPeer::Driver,
                        producer: actor.id(),
                    });
                    value[k].insert(i, next_value[k]);
                    next_value[k] += 1;
                }
            }
            Some(Loc::Part(k)) => {
                let args = part_args(nodes, index, n, &value[k], actor.id())?;
                let trigger = args.iter().all(|a| matches!(a, DagArg::Const(_)));
                plan.with_input[k] |= trigger || args.contains(&DagArg::Input);
                plan.parts[k].push(DagOp::Call {
                    actor_id: actor.id(),
                    method: n.glue.method().to_string(),
                    args,
                    trigger,
                });
                let v = next_value[k];
                value[k].insert(i, v);
                next_value[k] += 1;
                for &at in &readers[i] {
                    if at == Loc::Part(k) {
                        continue;
                    }
                    let edge = next_edge;
                    next_edge += 1;
                    let to = match at {
                        Loc::Driver => {
                            link_step(&mut plan, k, LinkOp::Recv { edge, producer: i });
                            DagPeer::Driver
                        }
                        Loc::Part(m) => {
                            plan.parts[m].push(DagOp::Recv {
                                edge,
                                from: peers[k].clone(),
                                producer: actor.id(),
                            });
                            value[m].insert(i, next_value[m]);
                            next_value[m] += 1;
                            peers[m].clone()
                        }
                    };
                    plan.parts[k].push(DagOp::Send { value: v, edge, to });
                }
            }
        }
    }
    Ok(plan)
}

/// Where each node's value is read (parts, or the driver for outputs), in order of
/// first reader.
fn readers(
    nodes: &[Arc<NodeCore>],
    index: &HashMap<*const NodeCore, usize>,
    loc: &[Option<Loc>],
    outputs: &[usize],
) -> Vec<Vec<Loc>> {
    let mut readers: Vec<Vec<Loc>> = vec![Vec::new(); nodes.len()];
    let mut add = |p: usize, at: Loc| {
        if !readers[p].contains(&at) {
            readers[p].push(at);
        }
    };
    for (c, n) in nodes.iter().enumerate() {
        if let Some(at) = loc[c] {
            for a in &n.args {
                add(index[&Arc::as_ptr(a)], at);
            }
        }
    }
    for &o in outputs {
        add(o, Loc::Driver);
    }
    readers
}

/// The arguments of call `n` in a part whose values so far are `value` (graph node →
/// value number): the input, constants, or values computed or received there before.
fn part_args(
    nodes: &[Arc<NodeCore>],
    index: &HashMap<*const NodeCore, usize>,
    n: &NodeCore,
    value: &HashMap<usize, u32>,
    actor_id: ActorId,
) -> Result<Vec<DagArg>> {
    n.args
        .iter()
        .map(|a| {
            let p = index[&Arc::as_ptr(a)];
            Ok(match nodes[p].kind {
                Kind::Input => DagArg::Input,
                Kind::Const => DagArg::Const(nodes[p].glue.encode_constant()?.into()),
                Kind::Call { .. } => match value.get(&p) {
                    Some(&v) => DagArg::Value(v),
                    None => return Err(unplanned(actor_id)),
                },
            })
        })
        .collect()
}

/// A value read before it was planned: the graph's order is broken (never for graphs
/// built with `bind`).
fn unplanned(actor_id: ActorId) -> crate::Error {
    super::DagError::TypeMismatch {
        method: format!("a call of actor {actor_id}"),
    }
    .into()
}
