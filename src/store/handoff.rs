//! Refs handed to another node with an acknowledgement instead of a timer (Ray's
//! borrower protocol, in the shape this runtime needs).
//!
//! The sender: while a node encodes a message for another node, each ref of its own
//! store that the encoding carries is collected ([`Handoff::run`]). Before the message
//! goes, the node counts the receiver as a borrower of each such object (the message's
//! loan, listed in it by id), so the object stays for the receiver however long the
//! message takes to arrive and to be decoded.
//!
//! The receiver decodes the message under that loan ([`Loan`] installed in a
//! [`Handoff`]): a ref of the loan that becomes a new local copy takes one borrow over
//! (its pull does not count again; the copy's last drop releases it), and every borrow of
//! the loan not taken over is released when the message is done with, decoded or not.
//! Nothing waits for a grace period; a dead receiver's borrows go with it.
//!
//! Messages that lend: task specs and results (`RunTask`, `TaskResult`), actor creations
//! and calls (`CreateActor`, `CallActor`), pulled values (`ObjectData`). A ref encoded
//! outside any [`Handoff`] (compiled-graph channels, actor handles inside values, calls
//! sent again to a restarted actor) is pinned for the node timeout instead
//! (`Node::pin_escaped`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix::Recipient;

use super::{RawRef, ReleaseBorrow};
use crate::ids::{NodeId, ObjectId};

thread_local! {
    /// The refs an encoding in progress on this thread carried out, when collected.
    static ESCAPES: RefCell<Option<Vec<RawRef>>> = const { RefCell::new(None) };
    /// The loan of the message being decoded on this thread.
    static LOAN: RefCell<Option<Loan>> = const { RefCell::new(None) };
    /// How many refs encodings on this thread carried out, collected or not.
    static CARRIED: Cell<u64> = const { Cell::new(0) };
}

/// Borrows a holder counted for this node before sending it a message: one per id.
pub(crate) struct Loan {
    holder: NodeId,
    ids: Vec<ObjectId>,
    release: Recipient<ReleaseBorrow>,
}

impl Loan {
    /// The loan of a message from `holder` listing `ids`; what is not taken over is
    /// released through `release` (the receiving node's cluster agent).
    pub(crate) fn new(
        holder: NodeId,
        ids: Vec<ObjectId>,
        release: Recipient<ReleaseBorrow>,
    ) -> Loan {
        Loan {
            holder,
            ids,
            release,
        }
    }

    /// Takes over one borrow of `object_id` held for this node by `holder`, if lent.
    fn take(&mut self, holder: NodeId, object_id: ObjectId) -> bool {
        if holder != self.holder {
            return false;
        }
        match self.ids.iter().position(|id| *id == object_id) {
            Some(i) => {
                self.ids.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

impl Drop for Loan {
    /// Releases the borrows no copy took over (the ref was a copy already here, or the
    /// message was never decoded).
    fn drop(&mut self) {
        for object_id in self.ids.drain(..) {
            self.release.do_send(ReleaseBorrow {
                holder: self.holder,
                object_id,
            });
        }
    }
}

/// One message's side of the hand-off on one node: the loan it is decoded under, and
/// the refs of this node its encoding carried out.
#[derive(Default)]
pub(crate) struct Handoff {
    loan: Option<Loan>,
    escapes: Vec<RawRef>,
}

impl Handoff {
    /// Decoding under `loan`.
    pub(crate) fn with(loan: Option<Loan>) -> Self {
        Handoff {
            loan,
            escapes: Vec::new(),
        }
    }

    /// Runs `f` (which decodes and encodes) with this hand-off in effect on this thread.
    pub(crate) fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let escapes = ESCAPES.with(|e| e.replace(Some(std::mem::take(&mut self.escapes))));
        let loan = LOAN.with(|l| l.replace(self.loan.take()));
        let out = f();
        self.loan = LOAN.with(|l| l.replace(loan));
        self.escapes = ESCAPES.with(|e| e.replace(escapes)).unwrap_or_default();
        out
    }

    /// The refs the encodings run under this hand-off carried out; the loan, if any,
    /// is released (what was not taken over).
    pub(crate) fn escaped(self) -> Vec<RawRef> {
        self.escapes
    }

    /// `fut` polled with this hand-off in effect; resolves to its output and the refs
    /// its encodings carried out.
    pub(crate) fn around<F: Future>(self, fut: F) -> Around<F> {
        Around {
            fut: Box::pin(fut),
            handoff: Some(self),
        }
    }
}

/// A future polled under a [`Handoff`] (an async task body decodes its arguments and
/// encodes its result across polls).
pub(crate) struct Around<F> {
    fut: Pin<Box<F>>,
    handoff: Option<Handoff>,
}

impl<F: Future> Future for Around<F> {
    type Output = (F::Output, Vec<RawRef>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(handoff) = this.handoff.as_mut() else {
            return Poll::Pending;
        };
        match handoff.run(|| this.fut.as_mut().poll(cx)) {
            Poll::Ready(out) => {
                let escaped = this
                    .handoff
                    .take()
                    .map(Handoff::escaped)
                    .unwrap_or_default();
                Poll::Ready((out, escaped))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Called when `r` is encoded for another node: whether a [`Handoff`] took it (else the
/// caller pins it for the node timeout).
pub(crate) fn escaping(r: &RawRef) -> bool {
    CARRIED.with(|c| c.set(c.get() + 1));
    ESCAPES.with(|e| match e.borrow_mut().as_mut() {
        Some(out) => {
            out.push(r.clone());
            true
        }
        None => false,
    })
}

/// Called when a ref of `holder`'s object is decoded into a new copy: whether the
/// message's loan had a borrow for it, which the copy takes over.
pub(crate) fn lent(holder: NodeId, object_id: ObjectId) -> bool {
    LOAN.with(|l| {
        l.borrow_mut()
            .as_mut()
            .is_some_and(|loan| loan.take(holder, object_id))
    })
}

/// Runs `encode`; also says whether the encoding carried any ref out (an encoding that
/// does is not shared between messages: each message lends its own refs).
pub(crate) fn carrying<R>(encode: impl FnOnce() -> R) -> (R, bool) {
    let before = CARRIED.with(Cell::get);
    let out = encode();
    (out, CARRIED.with(Cell::get) != before)
}
