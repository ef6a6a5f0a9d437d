//! The node's in-process memory store: a table from `ObjectId` to a slot that is pending,
//! ready (a shared pointer to the value) or failed (the error every reader gets).
//!
//! It is a lock-protected table rather than an actor on purpose: `get` and `put` from any
//! thread must not hop threads (a hop costs ~16 µs here, docs/machine-limits.md), exactly as Ray's
//! core worker keeps its in-process memory store next to the caller.

use std::any::Any;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

mod list;
mod located;
pub(crate) use located::Located;
mod room;

use super::object_ref::RefInner;
use super::spill::{INLINE_MAX, Spill, remove_file};
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
    pub(crate) encode: fn(&AnyValue) -> Result<Encoded>,
    /// Reads back what `encode` wrote (a spilled object restored).
    pub(crate) decode: fn(&[u8]) -> Result<StoredValue>,
}

/// A stored value's encoding: bytes made for it, or bulk pieces that share the value's
/// own bytes (a byte or number buffer is sent as a `bin` header and the buffer itself).
pub(crate) enum Encoded {
    /// Bytes encoded from the value.
    Made(Vec<u8>),
    /// The value's own bytes, shared, after the header that makes them its encoding.
    Shared(crate::transport::Bulk),
}

impl Encoded {
    /// All of it as bulk data.
    pub(crate) fn into_bulk(self) -> crate::transport::Bulk {
        match self {
            Encoded::Made(bytes) => bytes.into(),
            Encoded::Shared(bulk) => bulk,
        }
    }
}

impl StoredValue {
    /// Whether the store may move the value to disk: it is large, and nobody but the
    /// store holds it (a value someone reads is pinned, as in Ray).
    fn spillable(&self) -> bool {
        self.size >= INLINE_MAX && Arc::strong_count(&self.value) == 1
    }
}

enum State {
    Pending,
    Ready(StoredValue),
    Failed(Error),
    /// The value is in the spill directory; reading it restores it.
    Spilled {
        path: PathBuf,
        size: usize,
        decode: fn(&[u8]) -> Result<StoredValue>,
    },
    /// Another node holds the value for this one; reading it fetches it (`fetching` once
    /// asked, and while the object is being made again).
    Remote {
        at: Arc<dyn Elsewhere>,
        fetching: bool,
    },
}

impl State {
    /// Whether readers wait (nothing to read here yet).
    fn waits(&self) -> bool {
        matches!(self, State::Pending | State::Remote { .. })
    }
}

/// An object whose value another node holds for this one: a large task result left in
/// the store of the node that made it, as Ray leaves task outputs in that node's plasma
/// store. Implemented by the cluster agent.
pub(crate) trait Elsewhere: Send + Sync {
    /// Starts bringing the value here; the outcome settles the slot (`complete`), or moves
    /// it (`relocate`) when the object had to be made again.
    fn fetch(self: Arc<Self>, id: ObjectId);
    /// The object's last reference here went: the holder may drop it.
    fn release(&self, id: ObjectId);
    /// The node holding it.
    fn holder(&self) -> NodeId;
    /// Its size there, in bytes.
    fn size(&self) -> usize;
}

struct Slot {
    state: State,
    waiters: Vec<Waker>,
    /// The reference-count owner, so that a deserialized ref joins the existing count.
    owner: Weak<RefInner>,
    /// For a copy of another node's object: that node (its owner).
    from: Option<NodeId>,
}

#[derive(Default)]
struct Table {
    slots: IdMap<ObjectId, Slot>,
    /// Bytes of values in memory.
    bytes: usize,
    ready: usize,
    spilled: usize,
    spilled_bytes: usize,
    /// Large values in the order they came, the oldest spilled first (stale ids are
    /// skipped when met).
    order: VecDeque<ObjectId>,
}

impl Table {
    /// Removes a slot and its value from the accounts; `discard` it outside the lock.
    fn take(&mut self, id: ObjectId, store: &MemoryStore) -> Option<Slot> {
        let slot = self.slots.remove(&id)?;
        match &slot.state {
            State::Ready(v) => {
                self.bytes -= v.size;
                self.ready -= 1;
                store.sync_hint(self);
            }
            State::Spilled { size, .. } => {
                self.spilled -= 1;
                self.spilled_bytes -= size;
                self.ready -= 1;
            }
            _ => {}
        }
        Some(slot)
    }

    /// Accounts a value that just came into memory.
    fn add(&mut self, id: ObjectId, v: &StoredValue, spill: bool) {
        self.bytes += v.size;
        if spill && v.size >= INLINE_MAX {
            self.order.push_back(id);
            if self.order.len() > 2 * self.slots.len() + 1024 {
                let slots = &self.slots;
                self.order.retain(|id| {
                    slots
                        .get(id)
                        .is_some_and(|s| matches!(s.state, State::Ready(_)))
                });
            }
        }
    }
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
    /// Bytes held by values in memory.
    pub bytes_used: usize,
    /// Objects moved to the spill directory because the store was full.
    pub num_spilled: usize,
    /// Bytes of those objects.
    pub bytes_spilled: usize,
    /// Bytes the store keeps in memory before spilling (`object_store_memory`).
    pub capacity: usize,
}

/// See the module docs.
pub(crate) struct MemoryStore {
    node_id: NodeId,
    table: Mutex<Table>,
    /// `Table::bytes` as of the last change, so that a store far from full decides
    /// without taking the lock that it need not spill.
    bytes_hint: std::sync::atomic::AtomicUsize,
    /// Capacity and spill directory; `None`: unbounded, never spills.
    spill: Option<Spill>,
    /// A copy of a stored object this large for an owned parameter is worth a warning
    /// (`Config::large_copy_warning_bytes`).
    large_copy_warning: std::sync::atomic::AtomicUsize,
}

/// The default of `Config::large_copy_warning_bytes`: 64 MiB.
pub(crate) const LARGE_COPY_WARNING: usize = 64 << 20;

/// Lets go of a removed slot, outside the store's lock: its value (possibly large) is
/// dropped, its spill file removed, the node holding it told, its readers woken.
fn discard(id: ObjectId, slot: Slot) {
    match &slot.state {
        State::Spilled { path, .. } => remove_file(path),
        State::Remote { at, .. } => at.release(id),
        _ => {}
    }
    wake_all(slot.waiters);
}

fn wake_all(waiters: Vec<Waker>) {
    for w in waiters {
        w.wake();
    }
}

/// How far `bytes_hint` may lag behind the table (concurrent inserts between a check
/// and the lock): below the capacity by this much, nothing is spilled without looking.
const HINT_SLACK: usize = 64 << 20;

/// What reading a slot found.
enum Read {
    Done(Result<StoredValue>),
    Pending,
    Spilled,
    /// Held by another node and not asked for yet: the reader starts the fetch.
    Fetch(Arc<dyn Elsewhere>),
}

/// Marks a slot held elsewhere as being fetched; returns the holder to ask, once.
fn start_fetch(state: &mut State) -> Option<Arc<dyn Elsewhere>> {
    match state {
        State::Remote { at, fetching } if !*fetching => {
            *fetching = true;
            Some(at.clone())
        }
        _ => None,
    }
}

fn register(slot: &mut Slot, cx: Option<&mut Context<'_>>) {
    if let Some(cx) = cx
        && !slot.waiters.iter().any(|w| w.will_wake(cx.waker()))
    {
        slot.waiters.push(cx.waker().clone());
    }
}

impl MemoryStore {
    /// An unbounded store (it never spills).
    pub(crate) fn new(node_id: NodeId) -> Arc<Self> {
        Self::with_spill(node_id, None)
    }

    /// A store that spills to `spill`'s directory past its capacity.
    pub(crate) fn with_spill(node_id: NodeId, spill: Option<Spill>) -> Arc<Self> {
        Arc::new(Self {
            node_id,
            table: Mutex::new(Table::default()),
            bytes_hint: Default::default(),
            spill,
            large_copy_warning: LARGE_COPY_WARNING.into(),
        })
    }

    /// The size from which copying a stored object for an owned parameter is reported.
    pub(crate) fn large_copy_warning(&self) -> usize {
        self.large_copy_warning
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets [`MemoryStore::large_copy_warning`].
    pub(crate) fn set_large_copy_warning(&self, bytes: usize) {
        self.large_copy_warning
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Publishes the table's byte count for the lock-free check in `make_room`.
    fn sync_hint(&self, t: &Table) {
        self.bytes_hint
            .store(t.bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The reference-count owner of `id`: the live one if a reference to it is alive,
    /// else a new one from `make`, whose slot waits for the value (a task return, or a
    /// copy of the object node `from` holds). One step under the lock: two refs to another
    /// node's object decoded at once on two threads share one copy, where a second slot
    /// would take the first's from under its readers.
    pub(crate) fn owner_or_pending(
        &self,
        id: ObjectId,
        from: Option<NodeId>,
        make: impl FnOnce() -> Arc<RefInner>,
    ) -> Arc<RefInner> {
        let (made, stale) = {
            let mut t = self.table.lock();
            if let Some(live) = t.slots.get(&id).and_then(|s| s.owner.upgrade()) {
                return live;
            }
            // Nothing else runs under the lock: `make` only builds the owner.
            let made = make();
            // A slot whose last ref is going (its `free` will find another owner).
            let stale = t.take(id, self);
            let slot = Slot {
                state: State::Pending,
                waiters: Vec::new(),
                owner: Arc::downgrade(&made),
                from,
            };
            t.slots.insert(id, slot);
            (made, stale)
        };
        if let Some(stale) = stale {
            discard(id, stale);
        }
        made
    }

    /// Adds a slot that is ready at once (`ray::put`).
    pub(crate) fn create_ready(&self, id: ObjectId, value: StoredValue, owner: Weak<RefInner>) {
        self.make_room(value.size);
        let mut t = self.table.lock();
        t.add(id, &value, self.spill.is_some());
        t.ready += 1;
        self.sync_hint(&t);
        t.slots.insert(
            id,
            Slot {
                state: State::Ready(value),
                waiters: Vec::new(),
                owner,
                from: None,
            },
        );
        drop(t);
        self.settle_room();
    }

    /// Spills again if the table is over capacity after an insert: values added at the
    /// same time on two threads each made room for themselves only.
    fn settle_room(&self) {
        self.make_room(0);
    }

    /// Fills a pending slot with a value or an error and wakes its readers. A slot that
    /// was freed meanwhile drops the result; one already settled (cancelled) keeps its
    /// first outcome. Returns whether the result was stored.
    pub(crate) fn complete(&self, id: ObjectId, result: Result<StoredValue>) -> bool {
        if let Ok(v) = &result {
            self.make_room(v.size);
        }
        // The state replaced (a record of another node holding the value, which may
        // keep refs) is dropped outside the lock: dropping a ref may free its slot.
        let (owner, waiters, _replaced) = {
            let mut t = self.table.lock();
            let t = &mut *t;
            let Some(slot) = t.slots.get_mut(&id) else {
                return false;
            };
            if !slot.state.waits() {
                return false;
            }
            let replaced = std::mem::replace(
                &mut slot.state,
                match &result {
                    Ok(v) => State::Ready(v.clone()),
                    Err(e) => State::Failed(e.clone()),
                },
            );
            let settled = (
                slot.owner.upgrade(),
                std::mem::take(&mut slot.waiters),
                replaced,
            );
            if let Ok(v) = &result {
                t.add(id, v, self.spill.is_some());
                t.ready += 1;
                self.sync_hint(t);
            }
            settled
        };
        // Outside the lock: dropping `owner` may free the slot (if every other ref went
        // away meanwhile), which takes the lock again.
        let stored = result.is_ok();
        if let Some(owner) = owner {
            owner.settle(result);
        }
        // Room is settled before readers wake, so a reader woken by this value finds the
        // store within its capacity (one polling meanwhile may see it over for an instant).
        if stored {
            self.settle_room();
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
            t.take(id, self)
        };
        if let Some(slot) = slot {
            discard(id, slot);
        }
    }

    /// Records that another node holds the value of a pending (or relocated) object, and
    /// wakes its readers, which fetch it. Returns whether the object is still wanted.
    pub(crate) fn relocate(&self, id: ObjectId, at: Arc<dyn Elsewhere>) -> bool {
        // The record replaced (the lost holder's) is dropped outside the lock.
        let (waiters, _replaced) = {
            let mut t = self.table.lock();
            match t.slots.get_mut(&id) {
                Some(slot) if slot.state.waits() => {
                    let at = State::Remote {
                        at,
                        fetching: false,
                    };
                    let replaced = std::mem::replace(&mut slot.state, at);
                    (std::mem::take(&mut slot.waiters), replaced)
                }
                _ => return false,
            }
        };
        wake_all(waiters);
        true
    }

    /// Looks at a slot, registering `cx` while it is pending.
    fn read(&self, id: ObjectId, cx: Option<&mut Context<'_>>) -> Read {
        let mut t = self.table.lock();
        let Some(slot) = t.slots.get_mut(&id) else {
            return Read::Done(Err(Error::unreferenced(id)));
        };
        match &slot.state {
            State::Ready(v) => Read::Done(Ok(v.clone())),
            State::Failed(e) => Read::Done(Err(e.clone())),
            State::Spilled { .. } => Read::Spilled,
            State::Pending | State::Remote { .. } => {
                register(slot, cx);
                start_fetch(&mut slot.state).map_or(Read::Pending, Read::Fetch)
            }
        }
    }

    /// The outcome if settled, `None` while pending. A spilled value is restored; one
    /// another node holds is fetched (`None` meanwhile).
    pub(crate) fn peek(&self, id: ObjectId) -> Option<Result<StoredValue>> {
        match self.read(id, None) {
            Read::Done(r) => Some(r),
            Read::Pending => None,
            Read::Spilled => Some(self.restore(id)),
            Read::Fetch(at) => {
                at.fetch(id);
                None
            }
        }
    }

    /// Polls for the outcome, registering `cx`'s waker while pending.
    pub(crate) fn poll(&self, id: ObjectId, cx: &mut Context<'_>) -> Poll<Result<StoredValue>> {
        match self.read(id, Some(cx)) {
            Read::Done(r) => Poll::Ready(r),
            Read::Pending => Poll::Pending,
            Read::Spilled => Poll::Ready(self.restore(id)),
            Read::Fetch(at) => {
                at.fetch(id);
                Poll::Pending
            }
        }
    }

    /// Counts how many of `ids` are settled here, updating `ready` (entries already
    /// `true` are not looked up again: a settled object stays settled while its ref is
    /// held) and registering `cx`, if given, on the pending ones. Objects another node
    /// holds are fetched and count once here with `bring` (Ray's `wait` with
    /// `fetch_local`), and count as they are without.
    pub(crate) fn poll_settled(
        &self,
        ids: &[ObjectId],
        ready: &mut [bool],
        bring: bool,
        mut cx: Option<&mut Context<'_>>,
    ) -> usize {
        let mut fetch = Vec::new();
        let mut n = 0;
        {
            let mut t = self.table.lock();
            for (id, done) in ids.iter().zip(ready.iter_mut()) {
                if !*done {
                    *done = match t.slots.get_mut(id) {
                        None => true,
                        Some(Slot {
                            state:
                                State::Remote {
                                    fetching: false, ..
                                },
                            ..
                        }) if !bring => true,
                        Some(slot) if slot.state.waits() => {
                            register(slot, cx.as_deref_mut());
                            fetch.extend(start_fetch(&mut slot.state).map(|at| (*id, at)));
                            false
                        }
                        Some(_) => true,
                    };
                }
                n += usize::from(*done);
            }
        }
        for (id, at) in fetch {
            at.fetch(id);
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
            num_spilled: t.spilled,
            bytes_spilled: t.spilled_bytes,
            capacity: self.spill.as_ref().map_or(usize::MAX, |s| s.capacity),
        }
    }

    /// Fails every pending object (the runtime is going away) so no reader hangs, and
    /// removes the spill directory. Spilled objects still referenced are lost with it.
    pub(crate) fn shut_down(&self, err: &Error) {
        let mut replaced = Vec::new();
        let (owners, waiters): (Vec<_>, Vec<_>) = {
            let mut t = self.table.lock();
            t.slots
                .values_mut()
                .filter(|s| s.state.waits())
                .map(|s| {
                    replaced.push(std::mem::replace(&mut s.state, State::Failed(err.clone())));
                    (s.owner.upgrade(), std::mem::take(&mut s.waiters))
                })
                .unzip()
        };
        // Outside the lock: a replaced record may keep refs.
        drop(replaced);
        for owner in owners.into_iter().flatten() {
            owner.settle(Err(err.clone()));
        }
        wake_all(waiters.into_iter().flatten().collect());
        if let Some(spill) = &self.spill {
            spill.remove_all();
        }
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        if let Some(spill) = &self.spill {
            spill.remove_all();
        }
    }
}
