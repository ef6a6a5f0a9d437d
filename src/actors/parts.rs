//! The actors' part of a node: the addresses of the node's own actors. `Node` sits below
//! this layer and keeps the part opaquely; [`NodeActors::actors`] reads it back.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

use actix::Addr;

use super::{ActorCells, ActorRegistry, ClusterAgent, NodeManager, PlacementGroups};
use crate::node::Node;

/// One node's actors, as the code of this layer and above reaches them.
pub(crate) struct Parts {
    pub(crate) manager: Addr<NodeManager>,
    pub(crate) registry: Addr<ActorRegistry>,
    /// The placement groups this node created.
    pub(crate) placement_groups: Addr<PlacementGroups>,
    /// Membership in a cluster, if this node is networked.
    pub(crate) cluster: OnceLock<Addr<ClusterAgent>>,
    /// Actor id → live handle cell, shared with the registry.
    pub(crate) actor_cells: Arc<ActorCells>,
    /// Round-robin position of this node's actor placement over the cluster's nodes
    /// (each node keeps its own, as its `NodeManager` does for tasks).
    pub(crate) actor_turn: AtomicUsize,
}

/// Reads a node's [`Parts`].
pub(crate) trait NodeActors {
    /// The node's actors.
    fn actors(&self) -> &Parts;
}

impl NodeActors for Node {
    fn actors(&self) -> &Parts {
        // Proven invariant: the one place that builds a `Node` (`runtime::lifecycle`)
        // gives it a `Parts` as its part above, and nothing replaces it.
        self.above
            .downcast_ref::<Parts>()
            .expect("a node's part above is the actors' Parts")
    }
}
