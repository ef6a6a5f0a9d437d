//! What a node keeps alive for other nodes: an object another node copied, an actor
//! another node holds a handle to. Each is kept while any node's count of holds is above
//! zero; a dead node's holds go with it.

use std::collections::HashMap;
use std::hash::Hash;

use crate::ids::NodeId;

pub(super) struct Holds<K, V>(HashMap<K, (V, HashMap<NodeId, u32>)>);

impl<K, V> Default for Holds<K, V> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<K: Eq + Hash + Copy, V> Holds<K, V> {
    /// One more hold of `key` by `by`; `keep` gives what to keep alive the first time.
    pub(super) fn add(&mut self, key: K, by: NodeId, keep: impl FnOnce() -> V) {
        *self
            .0
            .entry(key)
            .or_insert_with(|| (keep(), HashMap::new()))
            .1
            .entry(by)
            .or_default() += 1;
    }

    /// One hold of `key` by `by` less; returns whether any hold of `key` remains.
    pub(super) fn release(&mut self, key: K, by: NodeId) -> bool {
        let Some((_, counts)) = self.0.get_mut(&key) else {
            return false;
        };
        if let Some(n) = counts.get_mut(&by) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&by);
            }
        }
        if counts.is_empty() {
            self.0.remove(&key);
            return false;
        }
        true
    }

    /// Whether any node holds `key`.
    pub(super) fn holds(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    /// Drops every hold of a node that died.
    pub(super) fn forget(&mut self, dead: NodeId) {
        self.0.retain(|_, (_, counts)| {
            counts.remove(&dead);
            !counts.is_empty()
        });
    }
}
