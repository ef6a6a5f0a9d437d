//! Where a placement group's bundles go (a pure function, as `tasks/placement.rs` is for
//! tasks): each strategy's rule over the live nodes and what they have free.

use super::group::PlacementStrategy;
use crate::ids::NodeId;
use crate::resources::Resources;

/// The node for each bundle, or `None` when the nodes cannot hold the group now (it then
/// waits). `nodes` lists the live nodes with their free resources, this node first.
pub(crate) fn place_bundles(
    bundles: &[Resources],
    strategy: PlacementStrategy,
    nodes: &[(NodeId, Resources)],
) -> Option<Vec<NodeId>> {
    let mut free: Vec<Resources> = nodes.iter().map(|(_, r)| r.clone()).collect();
    let mut count = vec![0usize; nodes.len()];
    let mut all = Resources::new();
    for b in bundles {
        all.give(b);
    }
    if matches!(
        strategy,
        PlacementStrategy::Pack | PlacementStrategy::StrictPack
    ) && let Some(i) = free.iter().position(|f| f.covers(&all))
    {
        return Some(vec![nodes[i].0; bundles.len()]);
    }
    if strategy == PlacementStrategy::StrictPack {
        return None;
    }
    let mut out = Vec::with_capacity(bundles.len());
    for b in bundles {
        let fits = (0..nodes.len()).filter(|&i| free[i].covers(b));
        let pick = match strategy {
            // The node already holding the most bundles (pack), else the first.
            PlacementStrategy::Pack => fits.max_by_key(|&i| (count[i], std::cmp::Reverse(i))),
            // The node holding the fewest (spread).
            PlacementStrategy::Spread => fits.min_by_key(|&i| (count[i], i)),
            // A node holding none yet.
            PlacementStrategy::StrictSpread => fits.filter(|&i| count[i] == 0).min(),
            PlacementStrategy::StrictPack => None,
        }?;
        free[pick].take(b);
        count[pick] += 1;
        out.push(nodes[pick].0);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::to_units;

    fn cpus(n: f64) -> Resources {
        let mut r = Resources::new();
        r.set_units("CPU", to_units("CPU", n).unwrap());
        r
    }

    fn nodes(n: usize, each: f64) -> Vec<(NodeId, Resources)> {
        (0..n).map(|_| (NodeId::new(), cpus(each))).collect()
    }

    fn distinct(v: &[NodeId]) -> usize {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v.len()
    }

    #[test]
    fn each_strategy_follows_its_rule() {
        let three = nodes(3, 2.0);
        let b = vec![cpus(1.0); 3];
        let pack = place_bundles(&b, PlacementStrategy::Pack, &three).unwrap();
        assert_eq!(
            distinct(&pack),
            2,
            "two fit on the first node, the third goes on"
        );
        let spread = place_bundles(&b, PlacementStrategy::Spread, &three).unwrap();
        assert_eq!(distinct(&spread), 3);
        let strict = place_bundles(&b, PlacementStrategy::StrictSpread, &three).unwrap();
        assert_eq!(distinct(&strict), 3);
        assert!(place_bundles(&b, PlacementStrategy::StrictPack, &three).is_none());
        let two = vec![cpus(1.0); 2];
        let packed = place_bundles(&two, PlacementStrategy::StrictPack, &three).unwrap();
        assert_eq!(distinct(&packed), 1);
        // Four bundles cannot be strictly spread over three nodes, but can be spread.
        let four = vec![cpus(1.0); 4];
        assert!(place_bundles(&four, PlacementStrategy::StrictSpread, &three).is_none());
        assert_eq!(
            distinct(&place_bundles(&four, PlacementStrategy::Spread, &three).unwrap()),
            3
        );
        // Nothing fits: the group waits.
        assert!(place_bundles(&[cpus(5.0)], PlacementStrategy::Pack, &three).is_none());
    }
}
