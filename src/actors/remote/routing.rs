//! How a handle's calls reach an actor on another node, and how they follow it when it
//! restarts elsewhere.
//!
//! The host runs each caller's calls in the order of their sequence numbers. A handle's
//! calls are numbered here, together with where they go and as which caller, under one
//! lock, so a move to another node never splits a call's number from its destination:
//! - the creator's handle keeps its caller, and the restarted actor continues its order
//!   where it stopped (`restarted`);
//! - a borrowed handle (decoded from another node) becomes a new caller at the new host,
//!   whose first call is `HOLD` (`moved`), exactly like a handle that just arrived there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::new_caller;
use crate::actors::cluster::NodeAddr;
use crate::ids::NodeId;

/// The node that created an actor: it re-creates the actor when its node dies, so it
/// knows where the actor lives now.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Creator {
    pub(crate) node: NodeId,
    /// Its address, when it is not in the node table (a driver).
    pub(crate) at: Option<NodeAddr>,
}

/// One call's place: the node it goes to, as which caller, with which sequence number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub(crate) target: NodeId,
    pub(crate) caller: u64,
    pub(crate) seq: u64,
}

struct Route {
    caller: u64,
    /// The handle's call count when this caller began: sequence numbers on the wire
    /// start at 0 for each caller.
    base: u64,
}

/// See the module docs. Shared by a handle's cell and its calls in flight.
pub(crate) struct Routing {
    /// The node hosting the actor now.
    location: AtomicU64,
    /// The handle's calls so far.
    submitted: Arc<AtomicU64>,
    route: Mutex<Route>,
    /// For a borrowed handle: who to ask where the actor went.
    pub(crate) creator: Option<Creator>,
}

impl Routing {
    pub(crate) fn new(
        node: NodeId,
        submitted: Arc<AtomicU64>,
        creator: Option<Creator>,
    ) -> Arc<Self> {
        let base = submitted.load(Ordering::SeqCst);
        Arc::new(Self {
            location: AtomicU64::new(node.0),
            submitted,
            route: Mutex::new(Route {
                caller: new_caller(),
                base,
            }),
            creator,
        })
    }

    /// The node hosting the actor now.
    pub(crate) fn node(&self) -> NodeId {
        NodeId(self.location.load(Ordering::SeqCst))
    }

    /// Numbers the handle's next call.
    pub(crate) fn next(&self) -> Ticket {
        let r = self.route.lock();
        let seq = self.submitted.fetch_add(1, Ordering::SeqCst);
        Ticket {
            target: self.node(),
            caller: r.caller,
            seq: seq - r.base,
        }
    }

    /// The creator re-created the actor on `to`: calls numbered from now go there,
    /// continuing this caller's order. Returns the caller and the first number there.
    pub(crate) fn restarted(&self, to: NodeId) -> (u64, u64) {
        let r = self.route.lock();
        self.location.store(to.0, Ordering::SeqCst);
        (r.caller, self.submitted.load(Ordering::SeqCst) - r.base)
    }

    /// A borrowed handle learned that its actor moved from `dead` to `to`: it becomes a
    /// new caller there. Returns the ticket of that caller's first call, which must be
    /// `HOLD`; `None` when another call already followed the move.
    pub(crate) fn moved(&self, dead: NodeId, to: NodeId) -> Option<Ticket> {
        let mut r = self.route.lock();
        if self.node() != dead {
            return None;
        }
        let first = self.submitted.fetch_add(1, Ordering::SeqCst);
        *r = Route {
            caller: new_caller(),
            base: first,
        };
        self.location.store(to.0, Ordering::SeqCst);
        Some(Ticket {
            target: to,
            caller: r.caller,
            seq: 0,
        })
    }
}
