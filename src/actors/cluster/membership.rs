//! The head's node table over time: nodes that stop sending heartbeats are marked dead,
//! and dead nodes beyond [`Config::max_dead_nodes`](crate::Config::max_dead_nodes) are
//! forgotten, oldest death first, so the table a peer can grow stays bounded.

use std::time::Instant;

use super::ClusterAgent;
use crate::ids::NodeId;

/// Live nodes a cluster admits: a join beyond them is refused.
pub(super) const MAX_NODES: usize = 10_000;

impl ClusterAgent {
    /// Head: marks nodes not heard from within the timeout as dead, and forgets the
    /// oldest dead ones beyond the cap.
    pub(super) fn detect_failures(&mut self) {
        let now = Instant::now();
        let mut changed = false;
        for (id, (n, seen)) in self.table.iter_mut() {
            if *id != self.node_id && n.alive && now.duration_since(*seen) > self.timeout {
                n.alive = false;
                changed = true;
                tracing::warn!(node_id = %self.node_id, dead = %id, "node missed its heartbeats: marked dead");
            }
        }
        changed |= self.prune_dead();
        if changed {
            self.publish(self.table_view());
        }
    }

    /// Forgets dead nodes beyond `max_dead_nodes`, those silent longest first; whether
    /// any went.
    fn prune_dead(&mut self) -> bool {
        let mut dead: Vec<(Instant, NodeId)> = self
            .table
            .iter()
            .filter(|(_, (n, _))| !n.alive)
            .map(|(id, (_, seen))| (*seen, *id))
            .collect();
        let Some(over) = dead
            .len()
            .checked_sub(self.max_dead_nodes)
            .filter(|n| *n > 0)
        else {
            return false;
        };
        dead.sort_unstable();
        for (_, id) in dead.into_iter().take(over) {
            self.table.remove(&id);
            self.peers.lock().remove(&id);
        }
        tracing::info!(node_id = %self.node_id, forgotten = over, kept = self.max_dead_nodes, "dead nodes forgotten");
        true
    }

    /// Head: live nodes in the table.
    pub(super) fn live_nodes(&self) -> usize {
        self.table.values().filter(|(n, _)| n.alive).count()
    }
}
