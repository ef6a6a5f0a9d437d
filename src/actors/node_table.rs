//! The cluster's nodes as one node sees them: its copy of the head's node table, with its
//! own entry from its manager's current figures (`NodeInfo`). What `ray::nodes()`,
//! `ray::cluster_resources()`, the dashboard and `/metrics` list.

use std::collections::BTreeMap;

use super::NodeStats;
use crate::ids::NodeId;
use crate::node::Node;

/// One node of the cluster, as [`crate::nodes`] reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node.
    pub node_id: NodeId,
    /// Whether it is alive.
    pub alive: bool,
    /// Its total resources.
    pub resources: BTreeMap<String, f64>,
    /// Resources not held by tasks or actors (as of its last heartbeat in a cluster;
    /// the calling node's own are current). A resource of `resources` missing here is
    /// one whose free amount is not known yet, not one that is all used.
    pub available: BTreeMap<String, f64>,
    /// Tasks waiting there for resources or arguments.
    pub pending_tasks: u64,
    /// Tasks running there.
    pub running_tasks: u64,
    /// Bytes its object store holds (as of its last heartbeat in a cluster).
    pub object_store_bytes: u64,
}

/// The node table as `node` sees it, with `stats`, its own current figures, standing in
/// for its entry on a lone node.
pub(crate) fn nodes_of(node: &Node, stats: &NodeStats) -> Vec<NodeInfo> {
    let view = node.view.read().clone();
    if view.is_empty() {
        return vec![here(node, stats)];
    }
    // A job's worker processes are not nodes of their own to the user (as Ray's
    // workers are not): their generic node stands for the machine.
    view.into_iter()
        .filter(|n| n.host.is_none())
        .map(|n| {
            if n.node_id == node.id {
                // This node's own figures are current, not a heartbeat old.
                return NodeInfo {
                    alive: n.alive,
                    ..here(node, stats)
                };
            }
            NodeInfo {
                node_id: n.node_id,
                alive: n.alive,
                resources: n.resources.into_iter().collect(),
                available: n.load.available.into_iter().collect(),
                pending_tasks: n.load.pending,
                running_tasks: n.load.running,
                object_store_bytes: n.load.object_store_bytes,
            }
        })
        .collect()
}

/// `node`'s own entry from its current `stats`: every resource's free amount, zero
/// included (a missing one would read as unknown).
fn here(node: &Node, stats: &NodeStats) -> NodeInfo {
    NodeInfo {
        node_id: node.id,
        alive: !node.shut_down.load(std::sync::atomic::Ordering::Relaxed),
        resources: stats.total.to_map(),
        available: stats.total.free_map(&stats.available),
        pending_tasks: (stats.queued + stats.waiting_for_deps) as u64,
        running_tasks: stats.running as u64,
        object_store_bytes: node.store.summary().bytes_used as u64,
    }
}

/// The live nodes' resources added up: (total, available). A resource some node has
/// not reported yet is left out of `available` (unknown), not counted as used.
pub(crate) fn sums(nodes: &[NodeInfo]) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut total, mut available) = (BTreeMap::new(), BTreeMap::new());
    let mut unknown = std::collections::BTreeSet::new();
    for n in nodes.iter().filter(|n| n.alive) {
        for (k, v) in &n.resources {
            *total.entry(k.clone()).or_insert(0.0) += v;
            match n.available.get(k) {
                Some(free) => *available.entry(k.clone()).or_insert(0.0) += free,
                None => {
                    unknown.insert(k.clone());
                }
            }
        }
    }
    available.retain(|k, _| !unknown.contains(k));
    (total, available)
}
