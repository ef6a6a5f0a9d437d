//! `ActorPool`: work spread over a fixed set of actors, as Ray's `ray.util.ActorPool`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::actors::{ActorHandle, RemoteActor};
use crate::store::ObjectRef;
use crate::tasks::Value;
use crate::{Error, Result};

/// A submission waiting for an idle actor.
type Queued<A, T> = Box<dyn FnOnce(&ActorHandle<A>) -> ObjectRef<T> + Send>;

/// Runs calls on a pool of actors: each submission goes to an idle actor (or waits for
/// one), and an actor is idle again once its result has been taken with `get_next` or
/// `get_next_unordered`. Results come back in submission order (`get_next`, `map`) or
/// as they finish (`get_next_unordered`, `map_unordered`). An actor whose call failed
/// because it died leaves the pool.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::util::ActorPool;
///
/// pub struct Doubler;
///
/// #[ray::remote]
/// impl Doubler {
///     pub fn new() -> Self { Doubler }
///     pub fn double(&self, x: u64) -> u64 { 2 * x }
/// }
///
/// let mut pool = ActorPool::new((0..2).map(|_| Doubler::remote()));
/// let doubled: Vec<u64> = pool
///     .map(|a, x| a.double.remote(x), 1..=4)
///     .collect::<ray::Result<_>>()
///     .unwrap();
/// assert_eq!(doubled, [2, 4, 6, 8]);
/// # ray::shutdown();
/// ```
#[must_use = "a pool does nothing until work is submitted"]
pub struct ActorPool<A: RemoteActor, T: Value> {
    idle: Vec<ActorHandle<A>>,
    /// Submitted, result not taken yet: by submission index.
    in_flight: BTreeMap<u64, (ObjectRef<T>, ActorHandle<A>)>,
    /// Submissions waiting for an idle actor, in order.
    queued: VecDeque<Queued<A, T>>,
    next_task: u64,
    next_return: u64,
}

impl<A: RemoteActor, T: Value> ActorPool<A, T> {
    /// A pool of `actors`, all idle.
    pub fn new(actors: impl IntoIterator<Item = ActorHandle<A>>) -> Self {
        Self {
            idle: actors.into_iter().collect(),
            in_flight: BTreeMap::new(),
            queued: VecDeque::new(),
            next_task: 0,
            next_return: 0,
        }
    }

    /// Calls `f(actor, value)` on an idle actor now, or once one is free.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # pub struct Echo;
    /// # #[ray::remote]
    /// # impl Echo { pub fn new() -> Self { Echo } pub fn echo(&self, s: String) -> String { s } }
    /// let mut pool = ray::util::ActorPool::new([Echo::remote()]);
    /// pool.submit(|a, s| a.echo.remote(s), "one".to_string());
    /// pool.submit(|a, s| a.echo.remote(s), "two".to_string()); // waits for the actor
    /// assert_eq!(pool.get_next().unwrap().unwrap(), "one");
    /// assert_eq!(pool.get_next().unwrap().unwrap(), "two");
    /// # ray::shutdown();
    /// ```
    pub fn submit<V, F>(&mut self, f: F, value: V)
    where
        V: Send + 'static,
        F: FnOnce(&ActorHandle<A>, V) -> ObjectRef<T> + Send + 'static,
    {
        let call: Queued<A, T> = Box::new(move |a| f(a, value));
        match self.idle.pop() {
            Some(actor) => self.start(actor, call),
            None => self.queued.push_back(call),
        }
    }

    fn start(&mut self, actor: ActorHandle<A>, call: Queued<A, T>) {
        let r = call(&actor);
        self.in_flight.insert(self.next_task, (r, actor));
        self.next_task += 1;
    }

    /// Whether a submitted result has not been taken yet.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # pub struct Echo;
    /// # #[ray::remote]
    /// # impl Echo { pub fn new() -> Self { Echo } pub fn echo(&self, s: u8) -> u8 { s } }
    /// let mut pool = ray::util::ActorPool::new([Echo::remote()]);
    /// assert!(!pool.has_next());
    /// pool.submit(|a, v| a.echo.remote(v), 1);
    /// assert!(pool.has_next());
    /// # ray::shutdown();
    /// ```
    pub fn has_next(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Whether an actor is idle and nothing waits for one.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # pub struct Echo;
    /// # #[ray::remote]
    /// # impl Echo { pub fn new() -> Self { Echo } pub fn echo(&self, s: u8) -> u8 { s } }
    /// let mut pool = ray::util::ActorPool::new([Echo::remote()]);
    /// assert!(pool.has_free());
    /// pool.submit(|a, v| a.echo.remote(v), 1);
    /// assert!(!pool.has_free());
    /// # ray::shutdown();
    /// ```
    pub fn has_free(&self) -> bool {
        !self.idle.is_empty() && self.queued.is_empty()
    }

    /// The next result in submission order, waiting for it; `None` when none is pending.
    ///
    /// # Errors
    /// The call's error, or [`Error::InvalidArgument`] when `get_next_unordered` took a
    /// result submitted at or after the one next in order (the ordered cursor moves past
    /// it, as in Ray: take what is left with `get_next_unordered`).
    ///
    /// # Examples
    /// See [`ActorPool::submit`].
    pub fn get_next(&mut self) -> Option<Result<T>> {
        self.next_ordered(None, false)
    }

    /// Like [`ActorPool::get_next`], giving up after `timeout` with [`Error::Timeout`].
    /// With `ignore_if_timed_out` that result is dropped and its actor freed (it may be
    /// still busy), so the next call moves on; without it, the next call waits for it.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # use std::time::Duration;
    /// # pub struct Sleeper;
    /// # #[ray::remote]
    /// # impl Sleeper { pub fn new() -> Self { Sleeper }
    /// #   pub fn nap(&self, ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms } }
    /// let mut pool = ray::util::ActorPool::new([Sleeper::remote()]);
    /// pool.submit(|a, ms| a.nap.remote(ms), 300);
    /// let early = pool.get_next_timeout(Duration::from_millis(10), false).unwrap();
    /// assert!(matches!(early, Err(ray::Error::Timeout { .. })));
    /// assert_eq!(pool.get_next().unwrap().unwrap(), 300);
    /// # ray::shutdown();
    /// ```
    pub fn get_next_timeout(
        &mut self,
        timeout: Duration,
        ignore_if_timed_out: bool,
    ) -> Option<Result<T>> {
        self.next_ordered(Some(timeout), ignore_if_timed_out)
    }

    fn next_ordered(&mut self, timeout: Option<Duration>, ignore: bool) -> Option<Result<T>> {
        if !self.has_next() {
            return None;
        }
        // `get_next_unordered` moves the ordered cursor past what it took (as Ray's).
        let Some((r, _)) = self.in_flight.get(&self.next_return) else {
            return Some(Err(Error::InvalidArgument(
                "get_next cannot follow get_next_unordered: take the rest with get_next_unordered"
                    .into(),
            )));
        };
        let got = match timeout {
            Some(t) => crate::get_timeout(r, t),
            None => crate::get(r),
        };
        if matches!(got, Err(Error::Timeout { .. })) && !ignore {
            return Some(got);
        }
        let index = self.next_return;
        self.next_return += 1;
        Some(self.taken(index, got))
    }

    /// The first result to finish, waiting for it; `None` when none is pending.
    ///
    /// # Errors
    /// The call's error.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # use std::time::Duration;
    /// # pub struct Sleeper;
    /// # #[ray::remote]
    /// # impl Sleeper { pub fn new() -> Self { Sleeper }
    /// #   pub fn nap(&self, ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms } }
    /// let mut pool = ray::util::ActorPool::new([Sleeper::remote(), Sleeper::remote()]);
    /// pool.submit(|a, ms| a.nap.remote(ms), 500);
    /// pool.submit(|a, ms| a.nap.remote(ms), 10);
    /// assert_eq!(pool.get_next_unordered().unwrap().unwrap(), 10);
    /// # ray::shutdown();
    /// ```
    pub fn get_next_unordered(&mut self) -> Option<Result<T>> {
        self.next_unordered(None)
    }

    /// Like [`ActorPool::get_next_unordered`], giving up after `timeout` with
    /// [`Error::Timeout`] (the pending results stay pending).
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # use std::time::Duration;
    /// # pub struct Sleeper;
    /// # #[ray::remote]
    /// # impl Sleeper { pub fn new() -> Self { Sleeper }
    /// #   pub fn nap(&self, ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms } }
    /// let mut pool = ray::util::ActorPool::new([Sleeper::remote()]);
    /// pool.submit(|a, ms| a.nap.remote(ms), 300);
    /// let early = pool.get_next_unordered_timeout(Duration::from_millis(10)).unwrap();
    /// assert!(matches!(early, Err(ray::Error::Timeout { .. })));
    /// # ray::shutdown();
    /// ```
    pub fn get_next_unordered_timeout(&mut self, timeout: Duration) -> Option<Result<T>> {
        self.next_unordered(Some(timeout))
    }

    fn next_unordered(&mut self, timeout: Option<Duration>) -> Option<Result<T>> {
        if !self.has_next() {
            return None;
        }
        let (indices, refs): (Vec<u64>, Vec<ObjectRef<T>>) = self
            .in_flight
            .iter()
            .map(|(i, (r, _))| (*i, r.clone()))
            .unzip();
        let (ready, _) = match crate::wait(&refs, 1, timeout) {
            Ok(split) => split,
            Err(e) => return Some(Err(e)),
        };
        let Some(first) = ready.first() else {
            return Some(Err(Error::Timeout {
                after: timeout.unwrap_or_default(),
            }));
        };
        let index = refs
            .iter()
            .position(|r| r.id() == first.id())
            .and_then(|p| indices.get(p).copied())?;
        let got = crate::get(first);
        self.next_return = self.next_return.max(index + 1);
        Some(self.taken(index, got))
    }

    /// The result of submission `index` was taken: its actor is free again (or leaves the
    /// pool, dead), and the next waiting submission starts on it.
    fn taken(&mut self, index: u64, got: Result<T>) -> Result<T> {
        if let Some((_, actor)) = self.in_flight.remove(&index) {
            if matches!(got, Err(Error::ActorDied { .. })) {
                tracing::warn!(actor_id = %actor.id(), "an actor of the pool died: it leaves the pool");
            } else {
                self.free(actor);
            }
        }
        got
    }

    fn free(&mut self, actor: ActorHandle<A>) {
        match self.queued.pop_front() {
            Some(call) => self.start(actor, call),
            None => self.idle.push(actor),
        }
    }

    /// Runs `f(actor, v)` for every `v` over the pool and yields the results in order.
    /// Results submitted earlier and not taken are dropped first, as Ray's `map` does.
    ///
    /// # Examples
    /// See [`ActorPool`].
    pub fn map<V, F>(
        &mut self,
        f: F,
        values: impl IntoIterator<Item = V>,
    ) -> impl Iterator<Item = Result<T>> + '_
    where
        V: Send + 'static,
        F: Fn(&ActorHandle<A>, V) -> ObjectRef<T> + Send + Sync + 'static,
    {
        self.restart_with(f, values);
        std::iter::from_fn(move || self.get_next())
    }

    /// Like [`ActorPool::map`], yielding each result as it finishes.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # pub struct Doubler;
    /// # #[ray::remote]
    /// # impl Doubler { pub fn new() -> Self { Doubler } pub fn double(&self, x: u64) -> u64 { 2 * x } }
    /// let mut pool = ray::util::ActorPool::new([Doubler::remote(), Doubler::remote()]);
    /// let mut all: Vec<u64> = pool
    ///     .map_unordered(|a, x| a.double.remote(x), 1..=4)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// all.sort();
    /// assert_eq!(all, [2, 4, 6, 8]);
    /// # ray::shutdown();
    /// ```
    pub fn map_unordered<V, F>(
        &mut self,
        f: F,
        values: impl IntoIterator<Item = V>,
    ) -> impl Iterator<Item = Result<T>> + '_
    where
        V: Send + 'static,
        F: Fn(&ActorHandle<A>, V) -> ObjectRef<T> + Send + Sync + 'static,
    {
        self.restart_with(f, values);
        std::iter::from_fn(move || self.get_next_unordered())
    }

    /// What `map` and `map_unordered` start with: results not taken are dropped, then
    /// every value is submitted.
    fn restart_with<V, F>(&mut self, f: F, values: impl IntoIterator<Item = V>)
    where
        V: Send + 'static,
        F: Fn(&ActorHandle<A>, V) -> ObjectRef<T> + Send + Sync + 'static,
    {
        while self.get_next_unordered().is_some() {}
        let f = Arc::new(f);
        for v in values {
            let f = f.clone();
            self.submit(move |a, v| f(a, v), v);
        }
    }

    /// Takes an idle actor out of the pool; `None` when none is idle.
    ///
    /// # Examples
    /// ```
    /// # use ray::prelude::*;
    /// # pub struct Echo;
    /// # #[ray::remote]
    /// # impl Echo { pub fn new() -> Self { Echo } pub fn echo(&self, s: u8) -> u8 { s } }
    /// let mut pool = ray::util::ActorPool::<Echo, u8>::new([Echo::remote()]);
    /// let actor = pool.pop_idle().unwrap();
    /// assert!(pool.pop_idle().is_none());
    /// pool.push(actor).unwrap();
    /// # ray::shutdown();
    /// ```
    pub fn pop_idle(&mut self) -> Option<ActorHandle<A>> {
        if self.has_free() {
            self.idle.pop()
        } else {
            None
        }
    }

    /// Adds `actor` to the pool (it takes a waiting submission at once, if any).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the actor is already in the pool.
    ///
    /// # Examples
    /// See [`ActorPool::pop_idle`].
    pub fn push(&mut self, actor: ActorHandle<A>) -> Result<()> {
        let members: HashSet<_> = (self.idle.iter().map(ActorHandle::id))
            .chain(self.in_flight.values().map(|(_, a)| a.id()))
            .collect();
        if members.contains(&actor.id()) {
            return Err(Error::InvalidArgument(format!(
                "actor {} is already in the pool",
                actor.id()
            )));
        }
        self.free(actor);
        Ok(())
    }
}
