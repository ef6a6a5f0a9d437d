//! `Queue`: a first-in first-out queue that tasks and actors on any node share, kept by
//! an actor, as Ray's `ray.util.queue.Queue`.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::actors::{ActorHandle, ActorOptions};
use crate::{Error, Result};

/// The actor behind a [`Queue`]: encoded items, waited on by async methods (many at a
/// time: a `get` waiting for an item does not hold up the `put` that brings it).
#[doc(hidden)]
pub struct QueueActor {
    state: parking_lot::Mutex<Items>,
    changed: tokio::sync::Notify,
}

struct Items {
    items: VecDeque<ByteBuf>,
    /// 0: unbounded.
    maxsize: usize,
}

impl Items {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }
}

/// Waits for `ready` to give a value, checking again whenever the queue changes;
/// `None` after `timeout_ms`.
async fn when<T>(
    changed: &tokio::sync::Notify,
    timeout_ms: Option<u64>,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let wait = async {
        loop {
            // Registered before the check, so a change in between is not missed.
            let notified = changed.notified();
            if let Some(v) = ready() {
                changed.notify_waiters();
                return v;
            }
            notified.await;
        }
    };
    match timeout_ms {
        Some(ms) => actix_rt::time::timeout(Duration::from_millis(ms), wait)
            .await
            .ok(),
        None => Some(wait.await),
    }
}

#[ray_macros::remote]
impl QueueActor {
    pub fn new(maxsize: usize) -> Self {
        QueueActor {
            state: parking_lot::Mutex::new(Items {
                items: VecDeque::new(),
                maxsize,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Adds `item` once there is room; false after `timeout_ms` (0: at once).
    pub async fn put(&self, item: ByteBuf, timeout_ms: Option<u64>) -> bool {
        let mut item = Some(item);
        when(&self.changed, timeout_ms, || {
            let mut s = self.state.lock();
            if s.full() {
                return None;
            }
            item.take().map(|i| s.items.push_back(i))
        })
        .await
        .is_some()
    }

    /// Adds all of `items`, or none when they do not all fit now.
    pub fn put_batch(&self, items: Vec<ByteBuf>) -> bool {
        let mut s = self.state.lock();
        if s.maxsize > 0 && s.items.len() + items.len() > s.maxsize {
            return false;
        }
        s.items.extend(items);
        drop(s);
        self.changed.notify_waiters();
        true
    }

    /// The oldest item once there is one; `None` after `timeout_ms` (0: at once).
    pub async fn get(&self, timeout_ms: Option<u64>) -> Option<ByteBuf> {
        when(&self.changed, timeout_ms, || {
            self.state.lock().items.pop_front()
        })
        .await
    }

    /// The `n` oldest items, or none when there are fewer now.
    pub fn get_batch(&self, n: usize) -> Option<Vec<ByteBuf>> {
        let mut s = self.state.lock();
        if s.items.len() < n {
            return None;
        }
        let batch = s.items.drain(..n).collect();
        drop(s);
        self.changed.notify_waiters();
        Some(batch)
    }

    /// How many items it holds, and its bound.
    pub fn size(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.items.len(), s.maxsize)
    }
}

/// A first-in first-out queue of `T` that tasks and actors on any node share: pass it to
/// them like an actor handle. An actor keeps the items; `put` waits while the queue is
/// full (`maxsize` > 0) and `get` while it is empty, each with a `_timeout` form and a
/// `_nowait` form that fail at once with [`Error::QueueFull`] / [`Error::QueueEmpty`],
/// as Ray's `Queue` raises `Full` / `Empty`.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::util::Queue;
///
/// #[ray::remote]
/// fn produce(q: Queue<u32>, n: u32) {
///     for i in 0..n {
///         q.put(i).unwrap();
///     }
/// }
///
/// let q = Queue::new(2).unwrap(); // at most 2 items: the producer waits for us
/// let done = produce.remote(q.clone(), 5);
/// let got: Vec<u32> = (0..5).map(|_| q.get().unwrap()).collect();
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// ray::get(&done).unwrap();
/// assert!(matches!(q.get_nowait(), Err(ray::Error::QueueEmpty)));
/// # ray::shutdown();
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Queue<T> {
    actor: ActorHandle<QueueActor>,
    #[serde(skip)]
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            actor: self.actor.clone(),
            _items: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue of at most `maxsize` items (0: unbounded), on this node or, as any actor,
    /// wherever the cluster places it.
    ///
    /// # Errors
    /// Why its actor could not start.
    ///
    /// # Examples
    /// See [`Queue`].
    pub fn new(maxsize: usize) -> Result<Self> {
        Self::with_options(maxsize, ActorOptions::default())
    }

    /// Like [`Queue::new`], its actor created with `options` (a name, a node, resources).
    ///
    /// # Errors
    /// Why its actor could not start.
    ///
    /// # Examples
    /// ```
    /// use ray::prelude::*;
    /// use ray::util::Queue;
    ///
    /// let named = ray::ActorOptions::default().name("jobs");
    /// let q: Queue<String> = Queue::with_options(0, named).unwrap();
    /// q.put("hello".to_string()).unwrap();
    /// assert_eq!(q.qsize().unwrap(), 1);
    /// # ray::shutdown();
    /// ```
    pub fn with_options(maxsize: usize, options: ActorOptions) -> Result<Self> {
        let actor = __RayQueueActorOptions(options).remote(maxsize);
        crate::get(&actor.ready())?;
        Ok(Self {
            actor,
            _items: PhantomData,
        })
    }

    fn encode(item: &T) -> Result<ByteBuf> {
        rmp_serde::to_vec(item)
            .map(ByteBuf::from)
            .map_err(|e| Error::Serialization(e.to_string()))
    }

    fn decode(bytes: &[u8]) -> Result<T> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::Serialization(e.to_string()))
    }

    fn put_within(&self, item: T, timeout: Option<Duration>) -> Result<()> {
        let ms = timeout.map(|t| t.as_millis().try_into().unwrap_or(u64::MAX));
        match crate::get(&self.actor.put.remote(Self::encode(&item)?, ms))? {
            true => Ok(()),
            false => Err(Error::QueueFull),
        }
    }

    fn get_within(&self, timeout: Option<Duration>) -> Result<T> {
        let ms = timeout.map(|t| t.as_millis().try_into().unwrap_or(u64::MAX));
        match crate::get(&self.actor.get.remote(ms))? {
            Some(bytes) => Self::decode(&bytes),
            None => Err(Error::QueueEmpty),
        }
    }

    /// Adds `item`, waiting while the queue is full.
    ///
    /// # Errors
    /// The queue's actor is gone, or `item` cannot be encoded.
    ///
    /// # Examples
    /// See [`Queue`].
    pub fn put(&self, item: T) -> Result<()> {
        self.put_within(item, None)
    }

    /// Adds `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when there was no room in time.
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// let q = ray::util::Queue::new(1).unwrap();
    /// q.put(1).unwrap();
    /// let full = q.put_timeout(2, Duration::from_millis(20));
    /// assert!(matches!(full, Err(ray::Error::QueueFull)));
    /// # ray::shutdown();
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<()> {
        self.put_within(item, Some(timeout))
    }

    /// Adds `item` if there is room now.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when there is none.
    ///
    /// # Examples
    /// ```
    /// let q = ray::util::Queue::new(1).unwrap();
    /// q.put_nowait('a').unwrap();
    /// assert!(matches!(q.put_nowait('b'), Err(ray::Error::QueueFull)));
    /// # ray::shutdown();
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<()> {
        self.put_within(item, Some(Duration::ZERO))
    }

    /// Adds all of `items` if they all fit now, else none of them.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when they do not all fit.
    ///
    /// # Examples
    /// ```
    /// let q = ray::util::Queue::new(3).unwrap();
    /// assert!(matches!(q.put_nowait_batch(vec![1, 2, 3, 4]), Err(ray::Error::QueueFull)));
    /// q.put_nowait_batch(vec![1, 2, 3]).unwrap();
    /// assert_eq!(q.get_nowait_batch(3).unwrap(), [1, 2, 3]);
    /// # ray::shutdown();
    /// ```
    pub fn put_nowait_batch(&self, items: Vec<T>) -> Result<()> {
        let encoded = items.iter().map(Self::encode).collect::<Result<Vec<_>>>()?;
        match crate::get(&self.actor.put_batch.remote(encoded))? {
            true => Ok(()),
            false => Err(Error::QueueFull),
        }
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// # Errors
    /// The queue's actor is gone, or the item is not a `T`.
    ///
    /// # Examples
    /// See [`Queue`].
    pub fn get(&self) -> Result<T> {
        self.get_within(None)
    }

    /// Takes the oldest item, waiting at most `timeout` for one.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] when none came in time.
    ///
    /// # Examples
    /// ```
    /// # use std::time::Duration;
    /// let q = ray::util::Queue::<u8>::new(0).unwrap();
    /// let empty = q.get_timeout(Duration::from_millis(20));
    /// assert!(matches!(empty, Err(ray::Error::QueueEmpty)));
    /// # ray::shutdown();
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_within(Some(timeout))
    }

    /// Takes the oldest item if there is one now.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] when there is none.
    ///
    /// # Examples
    /// See [`Queue`].
    pub fn get_nowait(&self) -> Result<T> {
        self.get_within(Some(Duration::ZERO))
    }

    /// Takes the `n` oldest items if there are that many now, else none.
    ///
    /// # Errors
    /// [`Error::QueueEmpty`] when there are fewer.
    ///
    /// # Examples
    /// See [`Queue::put_nowait_batch`].
    pub fn get_nowait_batch(&self, n: usize) -> Result<Vec<T>> {
        match crate::get(&self.actor.get_batch.remote(n))? {
            Some(items) => items.iter().map(|b| Self::decode(b)).collect(),
            None => Err(Error::QueueEmpty),
        }
    }

    /// How many items it holds now.
    ///
    /// # Errors
    /// The queue's actor is gone.
    ///
    /// # Examples
    /// See [`Queue::with_options`].
    pub fn qsize(&self) -> Result<usize> {
        Ok(crate::get(&self.actor.size.remote())?.0)
    }

    /// Whether it holds no items now.
    ///
    /// # Errors
    /// The queue's actor is gone.
    ///
    /// # Examples
    /// ```
    /// let q = ray::util::Queue::<u8>::new(1).unwrap();
    /// assert!(q.empty().unwrap() && !q.full().unwrap());
    /// q.put(7).unwrap();
    /// assert!(!q.empty().unwrap() && q.full().unwrap());
    /// # ray::shutdown();
    /// ```
    pub fn empty(&self) -> Result<bool> {
        Ok(self.qsize()? == 0)
    }

    /// Whether it holds `maxsize` items now (never, unbounded).
    ///
    /// # Errors
    /// The queue's actor is gone.
    ///
    /// # Examples
    /// See [`Queue::empty`].
    pub fn full(&self) -> Result<bool> {
        let (len, max) = crate::get(&self.actor.size.remote())?;
        Ok(max > 0 && len >= max)
    }

    /// Ends the queue's actor: its items are gone, and calls on any copy of this queue
    /// fail with [`Error::ActorDied`].
    ///
    /// # Examples
    /// ```
    /// let q = ray::util::Queue::<u8>::new(0).unwrap();
    /// q.clone().shutdown();
    /// assert!(matches!(q.put(1), Err(ray::Error::ActorDied { .. })));
    /// # ray::shutdown();
    /// ```
    pub fn shutdown(self) {
        crate::kill(&self.actor);
    }
}
