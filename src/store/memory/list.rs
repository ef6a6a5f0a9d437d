//! What the state API lists of a store: its largest objects, with their state, size,
//! references and where the value came from.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{MemoryStore, Slot, State};
use crate::ids::{NodeId, ObjectId};

/// One object in a node's store (`/api/objects`, `ray list objects`, `ray memory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectBrief {
    pub(crate) id: ObjectId,
    /// `PENDING`, `READY`, `FAILED`, `SPILLED`, or `REMOTE` (a large task result another
    /// node holds until it is read).
    pub(crate) state: &'static str,
    /// Bytes of the value (0 while unknown: pending, failed, or held elsewhere).
    pub(crate) size: usize,
    /// Live references to it in this node (`ObjectRef`s, and tasks' arguments).
    pub(crate) refs: usize,
    /// The node that owns it: this one, or the one this copy came from.
    pub(crate) owner: NodeId,
    /// The node holding the value when it is not here (`REMOTE`).
    pub(crate) held_at: Option<NodeId>,
}

impl MemoryStore {
    /// The `limit` largest objects (largest first, then by id), found in one pass under
    /// the lock without copying the table.
    pub(crate) fn list(&self, limit: usize) -> Vec<ObjectBrief> {
        let t = self.table.lock();
        let mut top: BinaryHeap<Reverse<(usize, ObjectId)>> = BinaryHeap::new();
        for (id, slot) in t.slots.iter() {
            top.push(Reverse((size_of(slot), *id)));
            if top.len() > limit {
                top.pop();
            }
        }
        let mut out: Vec<ObjectBrief> = top
            .into_iter()
            .filter_map(|Reverse((size, id))| {
                let slot = t.slots.get(&id)?;
                Some(ObjectBrief {
                    id,
                    state: match &slot.state {
                        State::Pending => "PENDING",
                        State::Ready(_) => "READY",
                        State::Failed(_) => "FAILED",
                        State::Spilled { .. } => "SPILLED",
                        State::Remote { .. } => "REMOTE",
                    },
                    size,
                    // Counted without upgrading: an upgrade could drop the last
                    // reference here, under the lock its drop takes.
                    refs: slot.owner.strong_count(),
                    owner: slot.from.unwrap_or(self.node_id),
                    held_at: match &slot.state {
                        State::Remote { at, .. } => Some(at.holder()),
                        _ => None,
                    },
                })
            })
            .collect();
        out.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
        out
    }
}

fn size_of(slot: &Slot) -> usize {
    match &slot.state {
        State::Ready(v) => v.size,
        State::Spilled { size, .. } => *size,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::ids::{NodeId, ObjectId};
    use crate::store::{MemoryStore, RawRef};

    fn put(store: &Arc<MemoryStore>, bytes: usize) -> RawRef {
        RawRef::ready(
            store,
            ObjectId::for_put(),
            crate::store::stored(vec![0u8; bytes]),
        )
    }

    #[test]
    fn lists_the_largest_objects_first_with_their_references() {
        let node = NodeId::new();
        let store: Arc<MemoryStore> = MemoryStore::new(node);
        let small = put(&store, 10);
        let big = put(&store, 1000);
        let _also_big = big.clone();
        let mid = put(&store, 100);
        let listed = store.list(2);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].id, big.id());
        assert_eq!(listed[0].refs, 2);
        assert_eq!(listed[0].state, "READY");
        assert_eq!(listed[0].owner, node);
        assert_eq!(listed[1].id, mid.id());
        assert_eq!(store.list(10).len(), 3);
        drop(small);
        assert_eq!(store.list(10).len(), 2);
    }
}
