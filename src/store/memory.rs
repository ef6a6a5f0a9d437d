//! The node's in-process memory store: a table from `ObjectId` to a slot that is pending,
//! ready (a shared pointer to the value) or failed (the error every reader gets).
//!
//! It is a lock-protected table rather than an actor on purpose: `get` and `put` from any
//! thread must not hop threads (a hop costs ~16 µs here, MEASURED.md), exactly as Ray's
//! core worker keeps its in-process memory store next to the caller.

use std::any::Any;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use super::object_ref::RefInner;
use crate::ids::{IdMap, NodeId, ObjectId};
use crate::{Error, Result};

/// A value as the store holds it: type-erased, shared, never copied inside the process.
pub(crate) type AnyValue = Arc<dyn Any + Send + Sync>;

/// A stored value and its accounted size.
#[derive(Clone)]
#[doc(hidden)]
pub struct StoredValue {
    pub(crate) value: AnyValue,
    pub(crate) size: usize,
    /// Encodes the value (MessagePack) when another node asks for it: the store keeps
    /// values as typed pointers, so the way back to bytes travels with them.
    pub(crate) encode: fn(&(dyn Any + Send + Sync)) -> Result<Vec<u8>>,
}

enum State {
    Pending,
    Ready(StoredValue),
    Failed(Error),
}

struct Slot {
    state: State,
    waiters: Vec<Waker>,
    /// The reference-count owner, so that a deserialized ref joins the existing count.
    owner: Weak<RefInner>,
}

#[derive(Default)]
struct Table {
    slots: IdMap<ObjectId, Slot>,
    bytes: usize,
    ready: usize,
}

/// Store usage, as reported by [`crate::memory_summary`].
///
/// # Examples
/// ```
/// let before = ray::memory_summary();
/// let r = ray::put(vec![0u8; 1 << 20]);
/// assert!(ray::memory_summary().bytes_used >= before.bytes_used + (1 << 20));
/// drop(r);
/// assert_eq!(ray::memory_summary().bytes_used, before.bytes_used);
/// # ray::shutdown();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemorySummary {
    /// Objects referenced by someone (pending, ready or failed).
    pub num_objects: usize,
    /// Objects whose value is present.
    pub num_ready: usize,
    /// Bytes held by present values.
    pub bytes_used: usize,
}

/// See the module docs.
pub(crate) struct MemoryStore {
    node_id: NodeId,
    table: Mutex<Table>,
}

fn wake_all(waiters: Vec<Waker>) {
    for w in waiters {
        w.wake();
    }
}

impl MemoryStore {
    pub(crate) fn new(node_id: NodeId) -> Arc<Self> {
        Arc::new(Self {
            node_id,
            table: Mutex::new(Table::default()),
        })
    }

    pub(crate) fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Adds a slot for an object that will be produced later (a task return).
    pub(crate) fn create_pending(&self, id: ObjectId, owner: Weak<RefInner>) {
        self.table.lock().slots.insert(
            id,
            Slot {
                state: State::Pending,
                waiters: Vec::new(),
                owner,
            },
        );
    }

    /// Adds a slot that is ready at once (`ray::put`).
    pub(crate) fn create_ready(&self, id: ObjectId, value: StoredValue, owner: Weak<RefInner>) {
        let mut t = self.table.lock();
        t.bytes += value.size;
        t.ready += 1;
        t.slots.insert(
            id,
            Slot {
                state: State::Ready(value),
                waiters: Vec::new(),
                owner,
            },
        );
    }

    /// Fills a pending slot with a value or an error and wakes its readers. A slot that
    /// was freed meanwhile drops the result; one already settled (cancelled) keeps its
    /// first outcome. Returns whether the result was stored.
    pub(crate) fn complete(&self, id: ObjectId, result: Result<StoredValue>) -> bool {
        let (owner, waiters) = {
            let mut t = self.table.lock();
            let t = &mut *t;
            let Some(slot) = t.slots.get_mut(&id) else {
                return false;
            };
            if !matches!(slot.state, State::Pending) {
                return false;
            }
            slot.state = match &result {
                Ok(v) => {
                    t.bytes += v.size;
                    t.ready += 1;
                    State::Ready(v.clone())
                }
                Err(e) => State::Failed(e.clone()),
            };
            (slot.owner.upgrade(), std::mem::take(&mut slot.waiters))
        };
        // Outside the lock: dropping `owner` may free the slot (if every other ref went
        // away meanwhile), which takes the lock again.
        if let Some(owner) = owner {
            owner.settle(result);
        }
        wake_all(waiters);
        true
    }

    /// Removes an object (its last reference, `owner`, is gone). A slot created since
    /// under the same id (a borrowed object pulled again) belongs to another owner and
    /// stays.
    pub(crate) fn free(&self, id: ObjectId, owner: *const RefInner) {
        let slot = {
            let mut t = self.table.lock();
            if t.slots.get(&id).is_none_or(|s| s.owner.as_ptr() != owner) {
                return;
            }
            let slot = t.slots.remove(&id);
            if let Some(Slot {
                state: State::Ready(v),
                ..
            }) = &slot
            {
                t.bytes -= v.size;
                t.ready -= 1;
            }
            slot
        };
        // The value (possibly large) is dropped here, outside the lock.
        if let Some(slot) = slot {
            wake_all(slot.waiters);
        }
    }

    /// The outcome if settled, `None` while pending.
    pub(crate) fn peek(&self, id: ObjectId) -> Option<Result<StoredValue>> {
        let t = self.table.lock();
        match t.slots.get(&id) {
            None => Some(Err(Error::ObjectLost { object_id: id })),
            Some(slot) => match &slot.state {
                State::Pending => None,
                State::Ready(v) => Some(Ok(v.clone())),
                State::Failed(e) => Some(Err(e.clone())),
            },
        }
    }

    /// Polls for the outcome, registering `cx`'s waker while pending.
    pub(crate) fn poll(&self, id: ObjectId, cx: &mut Context<'_>) -> Poll<Result<StoredValue>> {
        let mut t = self.table.lock();
        match t.slots.get_mut(&id) {
            None => Poll::Ready(Err(Error::ObjectLost { object_id: id })),
            Some(slot) => match &slot.state {
                State::Pending => {
                    if !slot.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        slot.waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
                State::Ready(v) => Poll::Ready(Ok(v.clone())),
                State::Failed(e) => Poll::Ready(Err(e.clone())),
            },
        }
    }

    /// Counts how many of `ids` are settled, updating `ready` (entries already `true` are
    /// not looked up again: a settled object stays settled while its ref is held) and
    /// registering `cx`, if given, on the pending ones.
    pub(crate) fn poll_settled(
        &self,
        ids: &[ObjectId],
        ready: &mut [bool],
        mut cx: Option<&mut Context<'_>>,
    ) -> usize {
        let mut t = self.table.lock();
        let mut n = 0;
        for (id, done) in ids.iter().zip(ready.iter_mut()) {
            if !*done {
                *done = match t.slots.get_mut(id) {
                    None => true,
                    Some(slot) if matches!(slot.state, State::Pending) => {
                        if let Some(cx) = cx.as_deref_mut()
                            && !slot.waiters.iter().any(|w| w.will_wake(cx.waker()))
                        {
                            slot.waiters.push(cx.waker().clone());
                        }
                        false
                    }
                    Some(_) => true,
                };
            }
            n += usize::from(*done);
        }
        n
    }

    /// The reference-count owner of `id`, if some reference is still alive.
    pub(crate) fn owner(&self, id: ObjectId) -> Option<Arc<RefInner>> {
        self.table
            .lock()
            .slots
            .get(&id)
            .and_then(|s| s.owner.upgrade())
    }

    pub(crate) fn summary(&self) -> MemorySummary {
        let t = self.table.lock();
        MemorySummary {
            num_objects: t.slots.len(),
            num_ready: t.ready,
            bytes_used: t.bytes,
        }
    }

    /// Fails every pending object (the runtime is going away) so no reader hangs.
    pub(crate) fn fail_all_pending(&self, err: &Error) {
        let (owners, waiters): (Vec<_>, Vec<_>) = {
            let mut t = self.table.lock();
            t.slots
                .values_mut()
                .filter(|s| matches!(s.state, State::Pending))
                .map(|s| {
                    s.state = State::Failed(err.clone());
                    (s.owner.upgrade(), std::mem::take(&mut s.waiters))
                })
                .unzip()
        };
        for owner in owners.into_iter().flatten() {
            owner.settle(Err(err.clone()));
        }
        wake_all(waiters.into_iter().flatten().collect());
    }
}
