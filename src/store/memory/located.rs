//! Where an object's value is, without bringing it here: a task going to another node
//! takes a large argument as a ref, which that node pulls from wherever the value is, so
//! the node that submits it waits only until the value exists somewhere.

use std::task::{Context, Poll};

use super::{MemoryStore, State, register};
use crate::ids::{NodeId, ObjectId};

/// Where an object's value is, as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    /// Not made yet, or being copied here.
    Pending,
    /// Here (in memory, or spilled to disk), of this many bytes.
    Here(usize),
    /// A large task result that node holds for this one (not asked for yet), of this
    /// many bytes.
    HeldBy(NodeId, usize),
    /// Failed, or no longer referenced: reading it gives the error.
    Failed,
}

/// Where a slot's value is (`None`: no slot).
fn locate(state: Option<&State>) -> Located {
    match state {
        None | Some(State::Failed(_)) => Located::Failed,
        Some(State::Ready(v)) => Located::Here(v.size),
        Some(State::Spilled { size, .. }) => Located::Here(*size),
        Some(State::Remote {
            at,
            fetching: false,
        }) => Located::HeldBy(at.holder(), at.size()),
        Some(State::Pending | State::Remote { .. }) => Located::Pending,
    }
}

impl MemoryStore {
    /// Where the value of `id` is; starts nothing.
    pub(crate) fn located(&self, id: ObjectId) -> Located {
        locate(self.table.lock().slots.get(&id).map(|s| &s.state))
    }

    /// Ready once `id` is anything but pending (see [`MemoryStore::located`]),
    /// registering `cx` while it is; starts no fetch.
    pub(crate) fn poll_located(&self, id: ObjectId, cx: &mut Context<'_>) -> Poll<Located> {
        let mut t = self.table.lock();
        let Some(slot) = t.slots.get_mut(&id) else {
            return Poll::Ready(Located::Failed);
        };
        match locate(Some(&slot.state)) {
            Located::Pending => {
                register(slot, Some(cx));
                Poll::Pending
            }
            done => Poll::Ready(done),
        }
    }
}
