//! Placement groups: bundles reserved together by strategy (on one node and over a
//! `Cluster` of real nodes), work placed in a bundle, pending groups placed when a node
//! joins, and resources back after removal.

mod common;

use std::time::Duration;

use ray::cluster_utils::{Cluster, NodeConfig};
use ray::prelude::*;
use ray::{PlacementGroupState, PlacementStrategy, SchedulingStrategy, bundle};

#[ray::remote]
fn whoami() -> ray::NodeId {
    ray::runtime_context().node_id()
}

/// Submits `whoami` from inside the group (a captured child task).
#[ray::remote]
fn child_whereabouts() -> ray::NodeId {
    ray::get(&whoami.remote()).unwrap()
}

pub struct Pinned;

#[ray::remote]
impl Pinned {
    pub fn new() -> Self {
        Pinned
    }

    pub fn node(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }
}

fn in_bundle(pg: &ray::PlacementGroup, index: Option<usize>) -> SchedulingStrategy {
    SchedulingStrategy::PlacementGroup {
        group: pg.id(),
        bundle_index: index,
        capture_child_tasks: false,
    }
}

fn created_on(pg: &ray::PlacementGroup) -> Vec<ray::NodeId> {
    match pg.state() {
        PlacementGroupState::Created(nodes) => nodes,
        other => panic!("not created: {other:?}"),
    }
}

#[test]
fn a_group_on_one_node_reserves_its_bundles_and_gives_them_back() {
    let _ray = common::init(4.0);
    let pg =
        ray::placement_group(vec![bundle([("CPU", 1.0)]); 2], PlacementStrategy::Pack).unwrap();
    ray::get_timeout(&pg.ready(), common::LONG).unwrap();
    assert_eq!(created_on(&pg).len(), 2);
    // Reserved: out of the node's free CPUs, offered again under the group's names.
    assert!(common::available_becomes("CPU", 2.0));
    let here = ray::runtime_context().node_id();
    for i in [Some(0), Some(1), None] {
        let r = whoami
            .options()
            .scheduling_strategy(in_bundle(&pg, i))
            .remote();
        assert_eq!(ray::get(&r).unwrap(), here);
    }
    // More than a bundle holds never fits it.
    let too_big = whoami
        .options()
        .num_cpus(2.0)
        .scheduling_strategy(in_bundle(&pg, Some(0)))
        .remote();
    assert!(matches!(
        ray::get_timeout(&too_big, common::LONG),
        Err(ray::Error::Infeasible { .. })
    ));
    // An actor in a bundle holds it while it lives.
    let a = Pinned::options()
        .num_cpus(1.0)
        .scheduling_strategy(in_bundle(&pg, Some(1)))
        .remote();
    assert_eq!(ray::get(&a.node.remote()).unwrap(), here);
    drop(a);
    ray::remove_placement_group(&pg);
    assert_eq!(pg.state(), PlacementGroupState::Removed);
    assert!(common::available_becomes("CPU", 4.0));
    assert!(
        common::wait_until(common::LONG, || ray::available_resources()
            .unwrap()
            .keys()
            .all(|k| !k.contains("_group_"))),
        "{:?}",
        ray::available_resources().unwrap()
    );
    assert!(pg.ready().is_ready() && ray::get(&pg.ready()).is_err());
}

#[test]
fn strict_pack_that_cannot_fit_waits_and_bad_groups_are_refused() {
    let _ray = common::init(2.0);
    let pg = ray::placement_group(
        vec![bundle([("CPU", 1.5)]); 2],
        PlacementStrategy::StrictPack,
    )
    .unwrap();
    assert!(!pg.wait(Duration::from_millis(300)).unwrap());
    assert_eq!(pg.state(), PlacementGroupState::Pending);
    assert!(ray::placement_group(vec![], PlacementStrategy::Pack).is_err());
    assert!(ray::placement_group(vec![bundle([])], PlacementStrategy::Pack).is_err());
    assert!(ray::placement_group(vec![bundle([("CPU", -1.0)])], PlacementStrategy::Pack).is_err());
    ray::remove_placement_group(&pg);
    assert!(pg.wait(Duration::from_millis(10)).is_err());
    assert!(common::available_becomes("CPU", 2.0));
}

/// Free CPUs over the cluster's live nodes (as their heartbeats last said).
fn free_cpus() -> f64 {
    ray::nodes()
        .unwrap()
        .iter()
        .filter(|n| n.alive)
        .map(|n| n.available.get("CPU").copied().unwrap_or(0.0))
        .sum()
}

/// A head without CPUs and `n` nodes of `cpus` CPUs each, joined.
fn cluster_of(n: usize, cpus: f64) -> (Cluster, Vec<ray::NodeId>) {
    common::tracing();
    let mut cluster = Cluster::new(NodeConfig::new().num_cpus(0.0)).unwrap();
    let nodes = (0..n)
        .map(|_| {
            cluster
                .add_node(NodeConfig::new().num_cpus(cpus))
                .unwrap()
                .node_id()
        })
        .collect();
    cluster.wait_for_nodes().unwrap();
    (cluster, nodes)
}

#[test]
fn strict_spread_over_three_nodes_puts_one_bundle_on_each() {
    let (cluster, nodes) = cluster_of(3, 1.0);
    let _ray = common::join(&cluster.address());
    let pg = ray::placement_group(
        vec![bundle([("CPU", 1.0)]); 3],
        PlacementStrategy::StrictSpread,
    )
    .unwrap();
    assert!(pg.wait(common::LONG).unwrap());
    let mut on = created_on(&pg);
    // Work in bundle i runs where bundle i is.
    for (i, node) in on.iter().enumerate() {
        let r = whoami
            .options()
            .scheduling_strategy(in_bundle(&pg, Some(i)))
            .remote();
        assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), *node);
    }
    on.sort();
    let mut all = nodes.clone();
    all.sort();
    assert_eq!(on, all, "one bundle per node");
    // A captured child task runs in the group too.
    let parent = child_whereabouts
        .options()
        .num_cpus(0.0)
        .scheduling_strategy(SchedulingStrategy::PlacementGroup {
            group: pg.id(),
            bundle_index: Some(0),
            capture_child_tasks: true,
        });
    assert!(nodes.contains(&ray::get_timeout(&parent.remote(), common::LONG).unwrap()));
    // Reserved on every node, then given back.
    assert!(common::wait_until(common::LONG, || free_cpus() == 0.0));
    ray::remove_placement_group(&pg);
    assert!(common::wait_until(common::LONG, || free_cpus() == 3.0));
}

#[test]
fn a_group_no_nodes_can_hold_waits_and_is_placed_when_a_node_joins() {
    let (mut cluster, _nodes) = cluster_of(2, 1.0);
    let _ray = common::join(&cluster.address());
    let pg = ray::placement_group(
        vec![bundle([("CPU", 1.0)]); 3],
        PlacementStrategy::StrictSpread,
    )
    .unwrap();
    assert!(!pg.wait(Duration::from_secs(1)).unwrap());
    assert_eq!(pg.state(), PlacementGroupState::Pending);
    // Nothing stays reserved while it waits.
    assert!(common::wait_until(common::LONG, || free_cpus() == 2.0));
    let third = cluster.add_node(NodeConfig::new().num_cpus(1.0)).unwrap();
    cluster.wait_for_nodes().unwrap();
    assert!(pg.wait(Duration::from_secs(20)).unwrap());
    assert!(created_on(&pg).contains(&third.node_id()));
}

fn distinct(mut v: Vec<ray::NodeId>) -> usize {
    v.sort();
    v.dedup();
    v.len()
}

#[test]
fn pack_spread_and_strict_pack_over_a_cluster() {
    let (cluster, nodes) = cluster_of(3, 2.0);
    let _ray = common::join(&cluster.address());
    let make = |n: usize, s: PlacementStrategy| {
        let pg = ray::placement_group(vec![bundle([("CPU", 1.0)]); n], s).unwrap();
        assert!(pg.wait(common::LONG).unwrap(), "{s:?} was not placed");
        pg
    };
    let pack = make(2, PlacementStrategy::Pack);
    assert_eq!(distinct(created_on(&pack)), 1, "two bundles fit one node");
    let strict_pack = make(2, PlacementStrategy::StrictPack);
    assert_eq!(distinct(created_on(&strict_pack)), 1);
    ray::remove_placement_group(&pack);
    ray::remove_placement_group(&strict_pack);
    assert!(common::wait_until(common::LONG, || free_cpus() == 6.0));
    let spread = make(3, PlacementStrategy::Spread);
    assert_eq!(distinct(created_on(&spread)), 3, "one bundle per node");
    for (i, node) in created_on(&spread).into_iter().enumerate() {
        assert!(nodes.contains(&node));
        let r = whoami
            .options()
            .scheduling_strategy(in_bundle(&spread, Some(i)))
            .remote();
        assert_eq!(ray::get_timeout(&r, common::LONG).unwrap(), node);
    }
    // An actor in a bundle runs on that bundle's node.
    let a = Pinned::options()
        .num_cpus(1.0)
        .scheduling_strategy(in_bundle(&spread, Some(2)))
        .remote();
    assert_eq!(
        ray::get_timeout(&a.node.remote(), common::LONG).unwrap(),
        created_on(&spread)[2]
    );
    drop(a);
    ray::remove_placement_group(&spread);
    assert!(common::wait_until(common::LONG, || free_cpus() == 6.0));
}
