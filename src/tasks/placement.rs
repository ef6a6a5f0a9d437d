//! Where a task runs: a pure function of the request, the strategy and the node table.
//! Ray's hybrid default: pack onto the local node while it has the resources free; when
//! it is busy, spill to a live node whose last reported load has them free (round robin);
//! when every node is busy, queue where the task fits (locally first). `SPREAD` rotates
//! over every node that fits; node affinity pins (hard) or prefers (soft) one node.

use crate::SchedulingStrategy;
use crate::ids::NodeId;
use crate::resources::Resources;
use crate::transport::WireNode;

/// The decision for one task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Placement {
    Local,
    Remote(NodeId),
    /// No live node can ever run it.
    Infeasible,
    /// Hard affinity to a node that is not alive.
    NodeGone(NodeId),
}

/// A resource list as the wire carries it, as a resource set (entries that are not valid
/// amounts are left out).
pub(crate) fn to_resources(list: &[(String, f64)]) -> Resources {
    let mut r = Resources::new();
    for (k, v) in list {
        if let Ok(units) = crate::resources::to_units(k, *v) {
            r.set_units(k, units);
        }
    }
    r
}

pub(crate) fn resources_of(node: &WireNode) -> Resources {
    to_resources(&node.resources)
}

/// Decides where a task with request `req` runs. `turn` advances on every remote or
/// spread decision, for round robin.
pub(crate) fn place(
    local: NodeId,
    local_total: &Resources,
    local_free: &Resources,
    req: &Resources,
    strategy: &SchedulingStrategy,
    view: &[WireNode],
    turn: &mut usize,
) -> Placement {
    let fits_local = local_total.covers(req);
    let remote: Vec<NodeId> = view
        .iter()
        .filter(|n| n.alive && n.node_id != local && resources_of(n).covers(req))
        .map(|n| n.node_id)
        .collect();
    let mut pick = |candidates: &[NodeId]| {
        let i = *turn % candidates.len().max(1);
        *turn = turn.wrapping_add(1);
        candidates.get(i).copied()
    };
    match strategy {
        SchedulingStrategy::NodeAffinity { node_id, soft } => {
            if *node_id == local && fits_local {
                return Placement::Local;
            }
            if remote.contains(node_id) {
                return Placement::Remote(*node_id);
            }
            if !soft {
                return Placement::NodeGone(*node_id);
            }
        }
        SchedulingStrategy::Spread => {
            let mut all = remote.clone();
            if fits_local {
                all.push(local);
            }
            return match pick(&all) {
                Some(n) if n == local => Placement::Local,
                Some(n) => Placement::Remote(n),
                None => Placement::Infeasible,
            };
        }
        // Inside a placement group the request names the group's resources, which only
        // the nodes holding its bundles have.
        SchedulingStrategy::Default | SchedulingStrategy::PlacementGroup { .. } => {}
    }
    if fits_local && local_free.covers(req) {
        return Placement::Local;
    }
    // Busy here (or never fits here): a node with the resources free right now.
    let free: Vec<NodeId> = view
        .iter()
        .filter(|n| remote.contains(&n.node_id) && to_resources(&n.load.available).covers(req))
        .map(|n| n.node_id)
        .collect();
    if let Some(n) = pick(&free) {
        return Placement::Remote(n);
    }
    if fits_local {
        return Placement::Local;
    }
    match pick(&remote) {
        Some(n) => Placement::Remote(n),
        None => Placement::Infeasible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::to_units;

    fn node(cpus: f64, special: f64, alive: bool) -> WireNode {
        WireNode {
            node_id: NodeId::new(),
            addr: "127.0.0.1:1".parse().unwrap(),
            fingerprint: [0; 32],
            resources: vec![("CPU".into(), cpus), ("special".into(), special)],
            alive,
            load: Default::default(),
        }
    }

    fn req(name: &str, n: f64) -> Resources {
        let mut r = Resources::new();
        r.set_units(name, to_units(name, n).unwrap());
        r
    }

    #[test]
    fn local_first_then_nodes_that_fit_then_infeasible() {
        let me = NodeId::new();
        let mut local = Resources::new();
        local.set_units("CPU", 10_000);
        let special = node(1.0, 1.0, true);
        let dead = node(1.0, 5.0, false);
        let view = vec![special.clone(), dead.clone()];
        let mut turn = 0;
        let d = SchedulingStrategy::Default;
        assert_eq!(
            place(me, &local, &local, &req("CPU", 1.0), &d, &view, &mut turn),
            Placement::Local
        );
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("special", 1.0),
                &d,
                &view,
                &mut turn
            ),
            Placement::Remote(special.node_id)
        );
        // Only the dead node has 5 "special": nothing live can run it.
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("special", 5.0),
                &d,
                &view,
                &mut turn
            ),
            Placement::Infeasible
        );
        let hard = SchedulingStrategy::NodeAffinity {
            node_id: dead.node_id,
            soft: false,
        };
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("CPU", 1.0),
                &hard,
                &view,
                &mut turn
            ),
            Placement::NodeGone(dead.node_id)
        );
        let soft = SchedulingStrategy::NodeAffinity {
            node_id: dead.node_id,
            soft: true,
        };
        assert_eq!(
            place(
                me,
                &local,
                &local,
                &req("CPU", 1.0),
                &soft,
                &view,
                &mut turn
            ),
            Placement::Local
        );
    }

    #[test]
    fn a_busy_local_node_spills_to_a_node_with_free_resources() {
        let me = NodeId::new();
        let mut total = Resources::new();
        total.set_units("CPU", 20_000);
        let busy = Resources::new();
        let mut idle = node(2.0, 0.0, true);
        idle.load.available = vec![("CPU".into(), 2.0)];
        let mut full = node(2.0, 0.0, true);
        full.load.available = vec![("CPU".into(), 0.0)];
        let view = vec![full.clone(), idle.clone()];
        let mut turn = 0;
        let d = SchedulingStrategy::Default;
        assert_eq!(
            place(me, &total, &busy, &req("CPU", 1.0), &d, &view, &mut turn),
            Placement::Remote(idle.node_id)
        );
        // Everyone busy: queue here, where it fits.
        assert_eq!(
            place(me, &total, &busy, &req("CPU", 1.0), &d, &[full], &mut turn),
            Placement::Local
        );
    }

    #[test]
    fn spread_rotates_over_every_node_that_fits() {
        let me = NodeId::new();
        let mut local = Resources::new();
        local.set_units("CPU", 10_000);
        let view = vec![node(1.0, 0.0, true), node(1.0, 0.0, true)];
        let mut turn = 0;
        let picks: std::collections::HashSet<_> = (0..6)
            .map(|_| {
                place(
                    me,
                    &local,
                    &local,
                    &req("CPU", 1.0),
                    &SchedulingStrategy::Spread,
                    &view,
                    &mut turn,
                )
            })
            .collect();
        assert_eq!(picks.len(), 3);
    }
}
