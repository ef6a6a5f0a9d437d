//! What a store asks of its node's cluster agent when a ref to another node's object
//! is decoded: pull the value into the local copy (`PullObject`), and release the borrow
//! when the copy's last ref goes (`ReleaseBorrow`). The store owns these messages; the
//! agent (`actors/cluster/objects.rs`) handles them.

use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicU8, Ordering};

use actix::Message;

use super::{RefInner, StoredValue};
use crate::Result;
use crate::ids::{NodeId, ObjectId};

/// Copies an object held by another node into the local copy `into`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PullObject {
    pub(crate) holder: NodeId,
    pub(crate) at: (std::net::SocketAddr, [u8; 32]),
    pub(crate) object_id: ObjectId,
    /// Decodes the value from the received bytes (a byte buffer moved out of them).
    pub(crate) decode: fn(Vec<u8>) -> Result<StoredValue>,
    pub(crate) into: Weak<RefInner>,
    /// Who releases the borrow: see [`BorrowState`].
    pub(crate) state: Arc<BorrowState>,
    /// The holder counted this borrow before it sent the ref (`handoff.rs`): the pull
    /// must not count it again, and the copy's drop releases it.
    pub(crate) lent: bool,
}

/// Decides who tells the holder that a copy is gone, exactly once: the copy's drop when
/// the pull counted the borrow first, else the pull when the copy went first.
pub(crate) struct BorrowState(AtomicU8);

const PULLING: u8 = 0;
const COUNTED: u8 = 1;
const DROPPED: u8 = 2;

impl BorrowState {
    /// A copy still to be pulled; `counted` when the holder counted its borrow already.
    pub(crate) fn new(counted: bool) -> Self {
        BorrowState(AtomicU8::new(if counted { COUNTED } else { PULLING }))
    }

    /// The copy's last ref went: whether the drop must release the borrow.
    pub(crate) fn dropped(&self) -> bool {
        self.0
            .compare_exchange(PULLING, DROPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }

    /// The holder counted the borrow: whether the pull must release it (the copy is gone).
    pub(crate) fn counted(&self) -> bool {
        self.0
            .compare_exchange(PULLING, COUNTED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }
}

/// The local copy of an object another node holds lost its last ref.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReleaseBorrow {
    pub(crate) holder: NodeId,
    pub(crate) object_id: ObjectId,
}
