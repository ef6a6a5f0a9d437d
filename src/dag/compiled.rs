//! A compiled graph from the driver's side: `CompiledDag::execute` (bounded in-flight
//! executions, back-pressure), the `CompiledRef` of each execution's output (read with
//! `ray::get` or `.await`), and teardown on drop.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::actor_loop::Writer;
use super::executor::DagActor;
use super::link::Counts;
use super::ring::{Ring, thread_waker, wait_until};
use super::{DagError, DagOutput};
use crate::{Error, Result, Value};

/// What an execution's output slot holds on the driver's side.
enum Entry<T> {
    /// Not read from its ring yet.
    Pending,
    Ready(Result<T>),
    /// Taken by `.await`, or its ref was dropped.
    Gone,
}

/// The driver's bookkeeping, behind one lock (executions are submitted and read in
/// order; the lock is held for microseconds, never while waiting).
struct Driver<T> {
    /// Executions submitted so far.
    next: u64,
    /// Executions whose every output was read from its ring (no longer in flight).
    drained: u64,
    /// Outputs of execution `drained` read so far.
    partial: usize,
    /// The number (`execution * outputs + output`) of `entries[0]`.
    front: u64,
    entries: VecDeque<Entry<T>>,
}

/// Wakes every waiter of the driver: one waker registered on the output rings stands
/// for any number of threads and tasks waiting for results.
struct Fanout(Mutex<Vec<Waker>>);

impl Fanout {
    fn add(&self, w: &Waker) {
        let mut list = self.0.lock();
        if !list.iter().any(|x| x.will_wake(w)) {
            list.push(w.clone());
        }
    }
}

impl Wake for Fanout {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        for w in self.0.lock().drain(..) {
            w.wake();
        }
    }
}

/// What the compiled graph and its refs share.
#[doc(hidden)]
pub struct Shared<T> {
    outputs: Vec<Arc<Ring<T>>>,
    driver: Mutex<Driver<T>>,
    max_inflight: u64,
    fanout: Arc<Fanout>,
    fanout_waker: Waker,
    torn_down: AtomicBool,
}

impl<T: Value> Shared<T> {
    pub(crate) fn new(outputs: Vec<Arc<Ring<T>>>, max_inflight: usize) -> Arc<Self> {
        let fanout = Arc::new(Fanout(Mutex::new(Vec::new())));
        Arc::new(Self {
            outputs,
            driver: Mutex::new(Driver {
                next: 0,
                drained: 0,
                partial: 0,
                front: 0,
                entries: VecDeque::new(),
            }),
            max_inflight: max_inflight as u64,
            fanout_waker: Waker::from(fanout.clone()),
            fanout,
            torn_down: AtomicBool::new(false),
        })
    }

    /// Reads every output that has arrived, in execution order. Other waiters are woken
    /// when something was read: what they wait for may have been among it.
    fn drain(&self, d: &mut Driver<T>) {
        if self.drain_some(d) {
            self.fanout_waker.wake_by_ref();
        }
    }

    fn drain_some(&self, d: &mut Driver<T>) -> bool {
        let n = self.outputs.len();
        let mut read = false;
        while d.drained < d.next {
            while d.partial < n {
                let Some(v) = self.outputs[d.partial].try_pop() else {
                    return read;
                };
                read = true;
                let e = d.drained * self.width() + d.partial as u64;
                if let Some(slot @ Entry::Pending) = d.entries.get_mut((e - d.front) as usize) {
                    *slot = Entry::Ready(v);
                }
                d.partial += 1;
            }
            d.partial = 0;
            d.drained += 1;
        }
        self.compact(d);
        read
    }

    /// The ring the next output will arrive on, if an execution is in flight.
    fn next_ring(&self, d: &Driver<T>) -> Option<Arc<Ring<T>>> {
        (d.drained < d.next).then(|| self.outputs[d.partial].clone())
    }

    /// Waits (without the lock) until `ring` has a value or another thread took one
    /// (the awaited output may be among it); `false` at the deadline.
    fn wait(&self, ring: &Ring<T>, deadline: Option<Instant>) -> bool {
        let seen = ring.taken();
        let register = || {
            self.fanout.add(&thread_waker());
            ring.readable.register(&self.fanout_waker);
        };
        wait_until(
            || ring.has_value() || ring.taken() != seen,
            Some(&register),
            &self.torn_down,
            deadline,
        )
    }

    /// Output `output` of execution `seq`: cloned, or taken when `take`.
    fn get(&self, seq: u64, output: usize, timeout: Option<Duration>, take: bool) -> Result<T> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut expired = false;
        loop {
            let ring = {
                let mut d = self.driver.lock();
                self.drain(&mut d);
                match self.entry(&mut d, seq, output, take) {
                    Some(r) => return r,
                    None => self.next_ring(&d),
                }
            };
            let Some(ring) = ring.filter(|_| !expired) else {
                return Err(match timeout {
                    Some(after) if expired => Error::Timeout { after },
                    _ => DagError::TornDown.into(),
                });
            };
            // One more look after the deadline: the output may have come meanwhile.
            expired = !self.wait(&ring, deadline);
        }
    }

    /// The settled entry, if it is; `None` while pending.
    fn entry(&self, d: &mut Driver<T>, seq: u64, output: usize, take: bool) -> Option<Result<T>> {
        let e = seq * self.width() + output as u64;
        let i = e.checked_sub(d.front)? as usize;
        let slot = d.entries.get_mut(i)?;
        let out = match slot {
            Entry::Pending => return None,
            Entry::Gone => Err(DagError::AlreadyTaken.into()),
            Entry::Ready(r) if !take => r.clone(),
            Entry::Ready(_) => match std::mem::replace(slot, Entry::Gone) {
                Entry::Ready(r) => r,
                _ => Err(DagError::AlreadyTaken.into()),
            },
        };
        if take {
            self.compact(d);
        }
        Some(out)
    }
}

impl<T> Shared<T> {
    fn width(&self) -> u64 {
        self.outputs.len() as u64
    }

    /// Frees the slots at the front that nobody will read.
    fn compact(&self, d: &mut Driver<T>) {
        let done = d.drained * self.width();
        while d.front < done && matches!(d.entries.front(), Some(Entry::Gone)) {
            d.entries.pop_front();
            d.front += 1;
        }
    }

    /// The ref of output `output` of execution `seq` is gone.
    fn release(&self, seq: u64, output: usize) {
        let mut d = self.driver.lock();
        let e = seq * self.width() + output as u64;
        if let Some(slot) = e
            .checked_sub(d.front)
            .and_then(|i| d.entries.get_mut(i as usize))
        {
            *slot = Entry::Gone;
        }
        self.compact(&mut d);
    }
}

/// A graph compiled once and executed many times: `compiled.execute(x)`.
///
/// Dropping it tears the graph down: it waits for the executions in flight, stops the
/// loops, and gives each actor's instance back to its host, so classic calls work
/// again. Results of executions already made stay readable from their refs.
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct Adder { n: i64 }
/// #[ray::remote]
/// impl Adder {
///     pub fn new(n: i64) -> Self { Adder { n } }
///     pub fn add(&self, x: i64) -> i64 { x + self.n }
/// }
///
/// let a = Adder::remote(1);
/// let inp = InputNode::new();
/// let compiled = a.add.bind(&inp).compile().unwrap();
/// let refs: Vec<_> = (0..3).map(|i| compiled.execute(i).unwrap()).collect();
/// assert_eq!(ray::get(&refs).unwrap(), vec![1, 2, 3]);
/// drop(compiled);
/// assert_eq!(ray::get(&a.add.remote(41)).unwrap(), 42); // the actor is free again
/// # ray::shutdown();
/// ```
pub struct CompiledDag<I, O: DagOutput<I>> {
    shared: Arc<Shared<O::Value>>,
    input: Writer<I>,
    loops: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The actors' handles: they live at least as long as the graph.
    _actors: Vec<Arc<dyn DagActor>>,
    submit_timeout: Option<Duration>,
    /// Frames on the driver's channels to other nodes' parts.
    links: Arc<Counts>,
    _o: PhantomData<fn() -> O>,
}

impl<I: Value, O: DagOutput<I>> CompiledDag<I, O> {
    pub(crate) fn new(
        shared: Arc<Shared<O::Value>>,
        input: Writer<I>,
        loops: Vec<JoinHandle<()>>,
        stop: Arc<AtomicBool>,
        actors: Vec<Arc<dyn DagActor>>,
        submit_timeout: Option<Duration>,
        links: Arc<Counts>,
    ) -> Self {
        Self {
            shared,
            input,
            loops,
            stop,
            _actors: actors,
            submit_timeout,
            links,
            _o: PhantomData,
        }
    }

    /// Frames the driver sent to and received from other nodes' parts of this graph so
    /// far (`(sent, received)`): what shows that values between two actors on other
    /// nodes go node to node, not through the driver.
    #[doc(hidden)]
    pub fn driver_frames(&self) -> (u64, u64) {
        (
            self.links.sent.load(Ordering::Relaxed),
            self.links.received.load(Ordering::Relaxed),
        )
    }

    /// Starts one execution of the graph on `input` and returns its output ref(s) at
    /// once. With `max_inflight` executions unfinished, waits for the oldest to finish
    /// (back-pressure), at most `submit_timeout` when one was set.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the graph stayed full past `submit_timeout`. Failures of
    /// the work itself (a method's error or panic, a dead actor) come from the refs.
    ///
    /// # Examples
    /// ```
    /// use ray::prelude::*;
    /// use ray::dag::{DagOptions, InputNode};
    ///
    /// pub struct Twice;
    /// #[ray::remote]
    /// impl Twice {
    ///     pub fn new() -> Self { Twice }
    ///     pub fn twice(&self, x: u32) -> u32 { 2 * x }
    /// }
    ///
    /// let t = Twice::remote();
    /// let compiled = t.twice.bind(InputNode::new())
    ///     .compile_with(DagOptions::new().max_inflight(2))
    ///     .unwrap();
    /// // More executions than `max_inflight`: each waits for room, none is lost.
    /// let refs: Vec<_> = (0..5).map(|i| compiled.execute(i).unwrap()).collect();
    /// assert_eq!(ray::get(&refs).unwrap(), vec![0, 2, 4, 6, 8]);
    /// # ray::shutdown();
    /// ```
    pub fn execute(&self, input: I) -> Result<O::Refs> {
        let s = &self.shared;
        let deadline = self.submit_timeout.map(|t| Instant::now() + t);
        let mut d = s.driver.lock();
        s.drain(&mut d);
        let mut expired = false;
        while d.next - d.drained >= s.max_inflight {
            let Some(ring) = s.next_ring(&d) else { break };
            if expired {
                return Err(Error::Timeout {
                    after: self.submit_timeout.unwrap_or_default(),
                });
            }
            drop(d);
            // One more look after the deadline: the oldest may have finished meanwhile.
            expired = !s.wait(&ring, deadline);
            d = s.driver.lock();
            s.drain(&mut d);
        }
        let seq = d.next;
        d.next += 1;
        for _ in 0..s.outputs.len() {
            d.entries.push_back(Entry::Pending);
        }
        // Under the lock, so that inputs enter the rings in execution order.
        self.input.push(Ok(input), &self.stop);
        drop(d);
        Ok(O::refs(s.outputs.len(), |output| CompiledRef {
            shared: s.clone(),
            seq,
            output,
        }))
    }
}

impl<I, O: DagOutput<I>> std::fmt::Debug for CompiledDag<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledDag")
            .field("actors", &self._actors.len())
            .field("outputs", &self.shared.outputs.len())
            .field("max_inflight", &self.shared.max_inflight)
            .finish()
    }
}

impl<I, O: DagOutput<I>> Drop for CompiledDag<I, O> {
    fn drop(&mut self) {
        // Executions in flight finish first: their refs stay readable.
        let s = &self.shared;
        loop {
            let ring = {
                let mut d = s.driver.lock();
                s.drain(&mut d);
                s.next_ring(&d)
            };
            let Some(ring) = ring else { break };
            s.wait(&ring, None);
        }
        self.stop.store(true, Ordering::SeqCst);
        for h in &self.loops {
            h.thread().unpark();
        }
        for h in self.loops.drain(..) {
            let _ = h.join();
        }
        s.torn_down.store(true, Ordering::SeqCst);
        s.fanout_waker.wake_by_ref();
        tracing::info!("compiled graph torn down");
    }
}

/// The output of one execution of a compiled graph: `ray::get(&r)` (repeatable, clones
/// the value) or `r.await` (takes it).
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct Neg;
/// #[ray::remote]
/// impl Neg {
///     pub fn new() -> Self { Neg }
///     pub fn neg(&self, x: i64) -> i64 { -x }
/// }
///
/// let n = Neg::remote();
/// let compiled = n.neg.bind(InputNode::new()).compile().unwrap();
/// let r = compiled.execute(5).unwrap();
/// assert_eq!(ray::get(&r).unwrap(), -5);
/// let fut = std::future::IntoFuture::into_future(r); // what `r.await` does
/// assert_eq!(ray::__private::block_on(fut).unwrap(), -5);
/// # ray::shutdown();
/// ```
pub struct CompiledRef<T> {
    shared: Arc<Shared<T>>,
    seq: u64,
    output: usize,
}

impl<T> Drop for CompiledRef<T> {
    fn drop(&mut self) {
        self.shared.release(self.seq, self.output);
    }
}

impl<T: Value> CompiledRef<T> {
    /// The output, waiting at most `timeout` (used by `ray::get`/`ray::get_timeout`).
    pub(crate) fn get_with(&self, timeout: Option<Duration>) -> Result<T> {
        self.shared.get(self.seq, self.output, timeout, false)
    }

    /// Which execution of its graph this is (0 for the first).
    pub fn execution(&self) -> u64 {
        self.seq
    }
}

impl<T> std::fmt::Debug for CompiledRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CompiledRef(execution {}, output {})",
            self.seq, self.output
        )
    }
}

/// The future of [`CompiledRef`]: `r.await` takes the output (a second `get` of the
/// same ref then fails with [`DagError::AlreadyTaken`]).
///
/// # Examples
/// ```
/// use ray::prelude::*;
/// use ray::dag::InputNode;
///
/// pub struct Inc;
/// #[ray::remote]
/// impl Inc {
///     pub fn new() -> Self { Inc }
///     pub fn inc(&self, x: i64) -> i64 { x + 1 }
/// }
///
/// #[ray::main]
/// async fn main() -> ray::Result<()> {
///     let i = Inc::remote();
///     let compiled = i.inc.bind(InputNode::new()).compile()?;
///     assert_eq!(compiled.execute(1)?.await?, 2);
///     Ok(())
/// }
/// ```
pub struct CompiledRefFuture<T> {
    r: CompiledRef<T>,
}

impl<T: Value> Future for CompiledRefFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let s = &self.r.shared;
        loop {
            let mut d = s.driver.lock();
            s.drain(&mut d);
            if let Some(r) = s.entry(&mut d, self.r.seq, self.r.output, true) {
                return Poll::Ready(r);
            }
            let Some(ring) = s.next_ring(&d) else {
                return Poll::Ready(Err(DagError::TornDown.into()));
            };
            s.fanout.add(cx.waker());
            ring.readable.register(&s.fanout_waker);
            if !ring.has_value() {
                return Poll::Pending;
            }
        }
    }
}

impl<T: Value> IntoFuture for CompiledRef<T> {
    type Output = Result<T>;
    type IntoFuture = CompiledRefFuture<T>;
    fn into_future(self) -> CompiledRefFuture<T> {
        CompiledRefFuture { r: self }
    }
}

fn not_in_store<X>() -> Result<X> {
    Err(Error::InvalidArgument(
        "a compiled-graph ref is not in the object store".into(),
    ))
}

impl<T: Value> crate::Gettable for CompiledRef<T> {
    type Output = T;
    fn refs(&self) -> Vec<&crate::store::RawRef> {
        Vec::new()
    }
    fn assemble(_: Vec<crate::store::StoredValue>, _: Vec<crate::ObjectId>) -> Result<T> {
        not_in_store()
    }
    fn get_with(&self, timeout: Option<Duration>) -> Result<T> {
        CompiledRef::get_with(self, timeout)
    }
}

impl<T: Value> crate::Gettable for [CompiledRef<T>] {
    type Output = Vec<T>;
    fn refs(&self) -> Vec<&crate::store::RawRef> {
        Vec::new()
    }
    fn assemble(_: Vec<crate::store::StoredValue>, _: Vec<crate::ObjectId>) -> Result<Vec<T>> {
        not_in_store()
    }
    fn get_with(&self, timeout: Option<Duration>) -> Result<Vec<T>> {
        // One deadline for all, as `ray::get_timeout` on object refs.
        let deadline = timeout.map(|t| Instant::now() + t);
        self.iter()
            .map(|r| {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                r.get_with(left)
            })
            .collect()
    }
}

impl<T: Value> crate::Gettable for Vec<CompiledRef<T>> {
    type Output = Vec<T>;
    fn refs(&self) -> Vec<&crate::store::RawRef> {
        Vec::new()
    }
    fn assemble(_: Vec<crate::store::StoredValue>, _: Vec<crate::ObjectId>) -> Result<Vec<T>> {
        not_in_store()
    }
    fn get_with(&self, timeout: Option<Duration>) -> Result<Vec<T>> {
        self.as_slice().get_with(timeout)
    }
}
