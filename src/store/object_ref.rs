//! `ObjectRef<T>`: a typed, reference-counted handle to an object in a node's store. It is
//! a future of the value (`r.await`), it can be passed to tasks (resolved to the value
//! before the task runs), and it serializes to its id for the trip to another process
//! (that encoding, and a blocking read, involve the node: `node/refs.rs`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use super::{Encoded, MemoryStore, StoredValue};
use crate::ids::{NodeId, ObjectId};
use crate::transport::Bulk;
use crate::{Error, Result};

/// The reference-count owner of one object: the store slot lives while this does.
pub(crate) struct RefInner {
    id: ObjectId,
    store: Arc<MemoryStore>,
    /// How to cancel the work producing this object when the node manager does not know
    /// it (an actor method call).
    cancel: Option<CancelHook>,
    /// The outcome, once settled, for errors and small values: read without the store's
    /// lock (the store's slot keeps the same value for accounting and for refs decoded
    /// later). Large values are read from the store, which may spill them.
    outcome: OnceLock<Result<StoredValue>>,
    /// Runs when the last reference goes: a borrowed copy tells its owner.
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    /// A large value's encoding for other nodes while someone still sends it: made once
    /// however many tasks on other nodes take the object or nodes ask for it.
    encoded: parking_lot::Mutex<std::sync::Weak<Vec<u8>>>,
}

impl RefInner {
    /// The owner of a new reference count, its outcome not known yet.
    fn new(
        store: &Arc<MemoryStore>,
        id: ObjectId,
        cancel: Option<CancelHook>,
        on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    ) -> Arc<Self> {
        Arc::new(RefInner {
            id,
            store: store.clone(),
            cancel,
            outcome: OnceLock::new(),
            on_drop,
            encoded: Default::default(),
        })
    }

    /// Records the outcome; the first one wins, as in the store.
    pub(crate) fn settle(&self, result: Result<StoredValue>) {
        if cacheable(&result) {
            let _ = self.outcome.set(result);
        }
    }
}

/// Whether a ref keeps its own pointer to an outcome: not to a large value, which would
/// pin it in memory and keep the store from spilling it.
fn cacheable(result: &Result<StoredValue>) -> bool {
    result
        .as_ref()
        .map_or(true, |v| v.size < super::spill::INLINE_MAX)
}

/// Cancels the call that produces an object (shared by all of the call's returns).
pub(crate) trait Cancel: Send + Sync {
    fn cancel(&self);
}

/// The cancel hook a reference carries.
pub(crate) type CancelHook = Arc<dyn Cancel>;

impl Drop for RefInner {
    fn drop(&mut self) {
        self.store.free(self.id, self);
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

/// An untyped reference: what task specs and the scheduler hold.
#[doc(hidden)]
#[derive(Clone)]
pub struct RawRef(Arc<RefInner>);

impl RawRef {
    /// The owner of the object, weakly: what a pull fills in if the ref still lives.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<RefInner> {
        Arc::downgrade(&self.0)
    }

    /// A reference to an object that a task will produce.
    pub(crate) fn pending(store: &Arc<MemoryStore>, id: ObjectId) -> Self {
        Self::pending_with_cancel(store, id, None)
    }

    /// A reference to an object produced by work that `cancel` reaches through `hook`.
    pub(crate) fn pending_with_cancel(
        store: &Arc<MemoryStore>,
        id: ObjectId,
        cancel: Option<CancelHook>,
    ) -> Self {
        // A new id: nothing owns it yet, so `make` runs.
        RawRef(store.owner_or_pending(id, None, || RefInner::new(store, id, cancel, None)))
    }

    /// A reference to a value stored at once.
    pub(crate) fn ready(store: &Arc<MemoryStore>, id: ObjectId, value: StoredValue) -> Self {
        let inner = RefInner::new(store, id, None, None);
        inner.settle(Ok(value.clone()));
        store.create_ready(id, value, Arc::downgrade(&inner));
        RawRef(inner)
    }

    /// This node's copy of an object another node holds: the live one if a ref to it is
    /// alive here, else a new one, still to arrive, with `extra` from `on_drop` (the hook
    /// that runs when the copy's last reference goes, and what its pull needs). `Some`
    /// second only for a new copy, which the caller must fill.
    pub(crate) fn borrowed<X>(
        store: &Arc<MemoryStore>,
        id: ObjectId,
        holder: crate::ids::NodeId,
        on_drop: impl FnOnce() -> (Box<dyn FnOnce() + Send + Sync>, X),
    ) -> (Self, Option<X>) {
        let mut extra = None;
        let inner = store.owner_or_pending(id, Some(holder), || {
            let (on_drop, x) = on_drop();
            extra = Some(x);
            RefInner::new(store, id, None, Some(on_drop))
        });
        (RawRef(inner), extra)
    }

    /// A reference to an object this node will fill in (`complete`), unless a live
    /// reference here owns `id` already (`None`).
    pub(crate) fn pending_unless_held(store: &Arc<MemoryStore>, id: ObjectId) -> Option<Self> {
        let mut made = false;
        let inner = store.owner_or_pending(id, None, || {
            made = true;
            RefInner::new(store, id, None, None)
        });
        made.then_some(RawRef(inner))
    }

    /// A reference that already failed, for calls made when no runtime could start.
    pub(crate) fn failed(err: Error) -> Self {
        let store = MemoryStore::new(NodeId::new());
        let r = Self::pending(&store, ObjectId::for_put());
        store.complete(r.id(), Err(err));
        r
    }

    pub(crate) fn id(&self) -> ObjectId {
        self.0.id
    }

    /// The encoding of this object's value `v` for another node. A large buffer shares
    /// the stored bytes themselves; another large value is encoded once and shared while
    /// any request still carries it (eight tasks on eight nodes that take one object send
    /// one encoding), unless refs travel inside it (each message lends its own: see
    /// `handoff.rs`); a small one is encoded each time.
    pub(crate) fn encoded(&self, v: &StoredValue) -> Result<Bulk> {
        if v.size < super::spill::INLINE_MAX {
            return (v.encode)(&v.value).map(Encoded::into_bulk);
        }
        // Held while encoding: a second sender waits for these bytes rather than
        // encoding the value again.
        let mut cache = self.0.encoded.lock();
        if let Some(bytes) = cache.upgrade() {
            return Ok(bytes.into());
        }
        match super::handoff::carrying(|| (v.encode)(&v.value)) {
            (encoded, true) => encoded.map(Encoded::into_bulk),
            (encoded, false) => match encoded? {
                Encoded::Shared(bulk) => Ok(bulk),
                Encoded::Made(bytes) => {
                    let bytes = Arc::new(bytes);
                    *cache = Arc::downgrade(&bytes);
                    Ok(bytes.into())
                }
            },
        }
    }

    /// A reference sharing the count of `inner`.
    pub(crate) fn from_inner(inner: Arc<RefInner>) -> Self {
        RawRef(inner)
    }

    /// Runs the cancel hook; `false` when the object has none.
    pub(crate) fn cancel_hook(&self) -> bool {
        match &self.0.cancel {
            Some(hook) => {
                hook.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn store(&self) -> &Arc<MemoryStore> {
        &self.0.store
    }

    /// Settles the object with a task's outcome.
    pub(crate) fn complete(&self, result: Result<StoredValue>) -> bool {
        self.0.store.complete(self.0.id, result)
    }

    pub(crate) fn peek(&self) -> Option<Result<StoredValue>> {
        if let Some(done) = self.0.outcome.get() {
            return Some(done.clone());
        }
        self.0.store.peek(self.0.id)
    }

    /// Whether the outcome is known, without taking the store's lock (may say `false`
    /// for an instant after the store settled it).
    pub(crate) fn is_settled_fast(&self) -> bool {
        self.0.outcome.get().is_some()
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<StoredValue>> {
        if let Some(done) = self.0.outcome.get() {
            return Poll::Ready(done.clone());
        }
        self.0.store.poll(self.0.id, cx)
    }

    /// Waits until the object is settled (value or error).
    pub(crate) fn settled(&self) -> Settled<'_> {
        Settled(self)
    }

    /// Where the value is now; brings nothing here (`peek` does).
    pub(crate) fn located(&self) -> super::Located {
        match self.0.outcome.get() {
            Some(Ok(v)) => super::Located::Here(v.size),
            Some(Err(_)) => super::Located::Failed,
            None => self.0.store.located(self.0.id),
        }
    }

    /// Waits until the value exists somewhere (here, or held by another node) or the
    /// object failed; brings nothing here.
    pub(crate) fn exists(&self) -> Exists<'_> {
        Exists(self)
    }
}

/// Future returned by [`RawRef::exists`].
pub(crate) struct Exists<'a>(&'a RawRef);

impl Future for Exists<'_> {
    type Output = super::Located;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.located() {
            super::Located::Pending => self.0.0.store.poll_located(self.0.0.id, cx),
            done => Poll::Ready(done),
        }
    }
}

/// Future returned by [`RawRef::settled`].
pub(crate) struct Settled<'a>(&'a RawRef);

impl Future for Settled<'_> {
    type Output = Result<StoredValue>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.poll(cx)
    }
}

/// Extracts a typed shared pointer from a stored value.
pub(crate) fn downcast<T: Send + Sync + 'static>(id: ObjectId, v: StoredValue) -> Result<Arc<T>> {
    v.value.downcast::<T>().map_err(|_| {
        Error::Serialization(format!(
            "object {id} does not hold a `{}`",
            std::any::type_name::<T>()
        ))
    })
}

/// A future (or already available) value of type `T` in the object store.
///
/// Returned by `f.remote(..)`, actor method calls and [`crate::put`]. Cloning is cheap; the
/// object is freed when the last clone (and the last pending task that needs it) is gone.
///
/// # Examples
/// ```
/// let r: ray::ObjectRef<Vec<u32>> = ray::put(vec![1, 2, 3]);
/// assert_eq!(ray::get(&r).unwrap(), vec![1, 2, 3]);
/// // Zero-copy read: a shared pointer to the stored value.
/// assert_eq!(r.get_arc().unwrap().len(), 3);
/// # ray::shutdown();
/// ```
// Not `#[must_use]`: a dropped ref loses no work (the task runs either way), and
// `actor.method.remote(x);` is how Ray code fires and forgets.
pub struct ObjectRef<T> {
    pub(crate) raw: RawRef,
    _t: PhantomData<fn() -> T>,
}

impl<T> ObjectRef<T> {
    pub(crate) fn from_raw(raw: RawRef) -> Self {
        Self {
            raw,
            _t: PhantomData,
        }
    }

    /// The object's id.
    pub fn id(&self) -> ObjectId {
        self.raw.id()
    }

    /// Whether the value (or an error) is available now, without waiting.
    pub fn is_ready(&self) -> bool {
        self.raw.peek().is_some()
    }
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        Self::from_raw(self.raw.clone())
    }
}

impl<T> fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRef({})", self.id())
    }
}

impl<T> PartialEq for ObjectRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl<T> Eq for ObjectRef<T> {}

impl<T> std::hash::Hash for ObjectRef<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

/// The future behind `ObjectRef::await`.
///
/// # Examples
/// ```
/// #[ray::remote]
/// fn one() -> u32 { 1 }
///
/// #[ray::remote]
/// async fn two() -> u32 { one.remote().await.unwrap() + 1 }
///
/// assert_eq!(ray::get(&two.remote()).unwrap(), 2);
/// # ray::shutdown();
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct ObjectRefFuture<T> {
    raw: RawRef,
    _t: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> Future for ObjectRefFuture<T> {
    type Output = Result<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.raw.poll(cx).map(|r| {
            r.and_then(|v| downcast::<T>(self.raw.id(), v))
                .map(|a| (*a).clone())
        })
    }
}

impl<T: Clone + Send + Sync + 'static> IntoFuture for ObjectRef<T> {
    type Output = Result<T>;
    type IntoFuture = ObjectRefFuture<T>;
    fn into_future(self) -> Self::IntoFuture {
        ObjectRefFuture {
            raw: self.raw,
            _t: PhantomData,
        }
    }
}

impl<T: Clone + Send + Sync + 'static> IntoFuture for &ObjectRef<T> {
    type Output = Result<T>;
    type IntoFuture = ObjectRefFuture<T>;
    fn into_future(self) -> Self::IntoFuture {
        self.clone().into_future()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use super::RawRef;
    use crate::ids::{NodeId, ObjectId};
    use crate::store::{MemoryStore, stored};

    /// A copy of another node's object, as decoding a ref to it makes one: the hook
    /// counts the copy's last drop.
    fn copy(store: &Arc<MemoryStore>, id: ObjectId, drops: &Arc<AtomicUsize>) -> (RawRef, bool) {
        let drops = drops.clone();
        let (r, new) = RawRef::borrowed(store, id, NodeId::new(), move || {
            let hook: Box<dyn FnOnce() + Send + Sync> = Box::new(move || {
                drops.fetch_add(1, Ordering::SeqCst);
            });
            (hook, ())
        });
        (r, new.is_some())
    }

    /// A store, a count of copies dropped, and an object id.
    fn fresh() -> (Arc<MemoryStore>, Arc<AtomicUsize>, ObjectId) {
        let store = MemoryStore::new(NodeId::new());
        (store, Arc::new(AtomicUsize::new(0)), ObjectId::for_put())
    }

    #[test]
    fn a_second_copy_of_a_settled_object_shares_the_first_and_its_value() {
        let (store, drops, id) = fresh();
        let (first, new) = copy(&store, id, &drops);
        assert!(new);
        assert!(first.complete(Ok(stored(vec![7u8; 1 << 20]))));
        let (second, new) = copy(&store, id, &drops);
        assert!(!new, "a live copy is joined, not replaced");
        for r in [&first, &second] {
            let v = r.peek().expect("settled").expect("a value");
            assert_eq!(v.size, 1 << 20, "the value the first copy pulled");
        }
        drop(first);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "the second still holds it");
        drop(second);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "one copy, dropped once");
        assert_eq!(store.summary().num_objects, 0);
        assert_eq!(store.summary().bytes_used, 0);
    }

    #[test]
    fn refs_decoded_at_once_on_several_threads_make_one_copy() {
        let store = MemoryStore::new(NodeId::new());
        let threads = 4;
        for _ in 0..200 {
            let id = ObjectId::for_put();
            let drops = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(Barrier::new(threads));
            let copies: Vec<(RawRef, bool)> = std::thread::scope(|s| {
                let spawned: Vec<_> = (0..threads)
                    .map(|_| {
                        let (store, drops, start) = (&store, &drops, start.clone());
                        s.spawn(move || {
                            start.wait();
                            copy(store, id, drops)
                        })
                    })
                    .collect();
                spawned.into_iter().map(|t| t.join().unwrap()).collect()
            });
            assert_eq!(copies.iter().filter(|(_, new)| *new).count(), 1);
            let one = copies[0].0.downgrade();
            assert!(copies.iter().all(|(r, _)| r.downgrade().ptr_eq(&one)));
            drop(copies);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert_eq!(store.summary().num_objects, 0);
        }
    }

    #[test]
    fn a_result_kept_for_its_owner_never_replaces_a_live_copy() {
        let (store, drops, id) = fresh();
        let (copied, _) = copy(&store, id, &drops);
        assert!(RawRef::pending_unless_held(&store, id).is_none());
        drop(copied);
        let kept = RawRef::pending_unless_held(&store, id).expect("nothing holds it now");
        assert!(kept.complete(Ok(stored(5u32))));
        assert_eq!(store.summary().num_ready, 1);
    }
}
