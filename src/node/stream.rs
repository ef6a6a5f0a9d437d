//! Streaming generators: a `#[ray::remote(streaming)]` task yields items one by one; each
//! becomes an object whose ref the caller receives as soon as it is produced.
//!
//! Between the generator and its consumer sits a [`Window`]: it counts items produced and
//! consumed, holds the generator back when `generator_backpressure_num_objects` items are
//! produced but not consumed yet, and is closed when the consumer drops the stream or
//! cancels it (the generator then stops at its next item). A generator on another node
//! has one window at each end; the cluster agent's stream pump carries items one way and
//! consumption counts the other (`actors/cluster/streams.rs`).

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};

use parking_lot::Mutex;
use serde::Serialize;

use super::{block_on, current_node};
use crate::ids::ObjectId;
use crate::store::{ObjectRef, RawRef, stored};
use crate::{Error, Result};

/// What a stream's two ends share: counts, the back-pressure limit, and whether the
/// consumer is gone.
pub(crate) struct Window {
    /// Items produced but not consumed at most (`None`: no limit).
    limit: Option<u64>,
    /// The generator task (named by the error a stopped generator ends with).
    task: Mutex<Option<crate::ids::TaskId>>,
    counts: Mutex<Counts>,
    changed: tokio::sync::Notify,
}

#[derive(Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) produced: u64,
    pub(crate) consumed: u64,
    pub(crate) closed: bool,
}

impl Window {
    pub(crate) fn new(limit: Option<u64>) -> Arc<Self> {
        Arc::new(Window {
            limit: limit.filter(|l| *l > 0),
            task: Mutex::new(None),
            counts: Mutex::new(Counts::default()),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// Items produced but not consumed at most (`None`: no limit).
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    pub(crate) fn counts(&self) -> Counts {
        *self.counts.lock()
    }

    /// Counts one more item produced if the window has room: `None` when it is full
    /// (then wait for [`Window::produce`]), an error once the consumer is gone (the
    /// generator should stop).
    fn try_produce(&self) -> Option<Result<()>> {
        let mut c = self.counts.lock();
        if c.closed {
            let task_id = self.task.lock().unwrap_or_else(crate::ids::TaskId::new);
            return Some(Err(Error::Cancelled { task_id }));
        }
        if self.limit.is_some_and(|l| c.produced - c.consumed >= l) {
            return None;
        }
        c.produced += 1;
        Some(Ok(()))
    }

    /// Waits until one more item may be produced and counts it (see
    /// [`Window::try_produce`]).
    async fn produce(&self) -> Result<()> {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if let Some(done) = self.try_produce() {
                return done;
            }
            changed.await;
        }
    }

    /// The consumer took items: `consumed` in all so far.
    pub(crate) fn consumed_up_to(&self, consumed: u64) {
        let mut c = self.counts.lock();
        if consumed > c.consumed {
            c.consumed = consumed;
            drop(c);
            self.changed.notify_waiters();
        }
    }

    fn consume_one(&self) {
        let now = self.counts.lock().consumed + 1;
        self.consumed_up_to(now);
    }

    /// The consumer is gone or cancelled: the generator stops at its next item.
    pub(crate) fn close(&self) {
        self.counts.lock().closed = true;
        self.changed.notify_waiters();
    }

    /// Waits until the counts differ from `seen` (or the window closed).
    pub(crate) async fn changed_since(&self, seen: Counts) -> Counts {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let now = self.counts();
            if now.closed || now.consumed != seen.consumed {
                return now;
            }
            changed.await;
        }
    }
}

/// The producing side, moved into the generator task's body.
#[doc(hidden)]
#[derive(Clone)]
pub struct StreamSender {
    tx: mpsc::UnboundedSender<RawRef>,
    window: Arc<Window>,
}

impl StreamSender {
    /// Stores one item and hands its ref to the consumer, once the window has room. An
    /// error when the consumer is gone: the generator stops there.
    pub fn send<T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        item: T,
    ) -> Result<()> {
        match self.window.try_produce() {
            Some(done) => done?,
            None => block_on(self.window.produce())?,
        }
        self.push(item)
    }

    /// [`send`](Self::send) for async generators: waits without blocking the executor.
    pub async fn send_async<T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        item: T,
    ) -> Result<()> {
        self.window.produce().await?;
        self.push(item)
    }

    fn push<T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        item: T,
    ) -> Result<()> {
        let node = current_node()?;
        let r = RawRef::ready(&node.store, ObjectId::for_put(), stored(item));
        self.push_raw(r);
        Ok(())
    }

    /// Hands an item already stored (one that came from another node) to the consumer.
    pub(crate) fn push_raw(&self, r: RawRef) {
        // A consumer that went away simply drops the ref (and with it the object).
        let _ = self.tx.unbounded_send(r);
    }

    pub(crate) fn window(&self) -> &Arc<Window> {
        &self.window
    }
}

/// The refs of a streaming generator's items, in the order they were produced.
///
/// A blocking [`Iterator`] for synchronous code and a [`Stream`] for async code. If the
/// generator fails, the stream ends with one ref whose `get` returns the error. Dropping
/// the stream, or [`cancel`](Self::cancel), stops the generator at its next item.
///
/// # Examples
/// ```
/// #[ray::remote(streaming)]
/// fn countdown(n: u32) -> impl Iterator<Item = u32> { (0..n).rev() }
///
/// let items: Vec<u32> = countdown.remote(3).map(|r| ray::get(&r).unwrap()).collect();
/// assert_eq!(items, vec![2, 1, 0]);
/// # ray::shutdown();
/// ```
#[must_use = "dropping the stream stops its generator"]
pub struct ObjectRefStream<T> {
    raw: RawStream,
    _t: PhantomData<fn() -> T>,
}

/// An [`ObjectRefStream`] without its item type: what the stream pump forwards.
#[doc(hidden)]
pub struct RawStream {
    rx: mpsc::UnboundedReceiver<RawRef>,
    /// The next item, taken from `rx` by [`ObjectRefStream::wait`].
    peeked: Option<RawRef>,
    /// The generator task's completion object.
    completion: Option<RawRef>,
    window: Arc<Window>,
    /// Whether taking an item counts as consuming it (not for a pump that forwards the
    /// items to a consumer on another node: that consumer's counts come back instead).
    counts_consumption: bool,
}

impl RawStream {
    pub(crate) fn window(&self) -> &Arc<Window> {
        &self.window
    }

    pub(crate) fn completion(&self) -> Option<&RawRef> {
        self.completion.as_ref()
    }

    /// The next item as it comes, without counting it consumed; `None` at the end.
    pub(crate) async fn next_raw(&mut self) -> Option<RawRef> {
        if let Some(r) = self.peeked.take() {
            return Some(r);
        }
        self.rx.next().await
    }

    fn taken(&mut self, r: RawRef) -> RawRef {
        if self.counts_consumption {
            self.window.consume_one();
        }
        r
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<RawRef>> {
        if let Some(r) = self.peeked.take() {
            return Poll::Ready(Some(self.taken(r)));
        }
        match self.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(r)) => Poll::Ready(Some(self.taken(r))),
            Poll::Ready(None) => {
                if let Some(done) = &self.completion
                    && done.poll(cx).is_pending()
                {
                    return Poll::Pending;
                }
                Poll::Ready(self.tail())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// After the last item: a failed ref if the generator failed, else the end.
    fn tail(&mut self) -> Option<RawRef> {
        let done = self.completion.take()?;
        match done.peek() {
            Some(Err(_)) => Some(done),
            _ => None,
        }
    }
}

impl Drop for RawStream {
    fn drop(&mut self) {
        if self.counts_consumption {
            self.window.close();
        }
    }
}

impl<T> ObjectRefStream<T> {
    /// A stream whose generator may run `limit` items ahead of its consumer (`None`:
    /// no limit).
    #[doc(hidden)]
    pub fn channel(limit: Option<u64>) -> (StreamSender, Self) {
        let (tx, rx) = mpsc::unbounded();
        let window = Window::new(limit);
        (
            StreamSender {
                tx,
                window: window.clone(),
            },
            Self {
                raw: RawStream {
                    rx,
                    peeked: None,
                    completion: None,
                    window,
                    counts_consumption: true,
                },
                _t: PhantomData,
            },
        )
    }

    /// A stream that only ends with `error`.
    pub(crate) fn failed(error: crate::Error) -> Self {
        let (_, mut stream) = Self::channel(None);
        stream.raw.completion = Some(RawRef::failed(error));
        stream
    }

    /// Attaches the generator task's completion object.
    pub(crate) fn attach(&mut self, completion: RawRef) {
        *self.raw.window.task.lock() = Some(completion.id().task_id());
        self.raw.completion = Some(completion);
    }

    /// The stream as a pump forwarding it to another node takes it: taking an item no
    /// longer counts as consuming it, and dropping it no longer closes the window.
    pub(crate) fn into_raw(mut self) -> RawStream {
        self.raw.counts_consumption = false;
        self.raw
    }

    /// Waits up to `timeout` (`None`: no limit) until the next item, or the end of the
    /// stream, is there; `true` if so. Consumes nothing: the next `next()` returns it at
    /// once (Ray's `ray.wait` on a generator).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// #[ray::remote(streaming)]
    /// fn slow_pair() -> impl Iterator<Item = u8> {
    ///     (0..2u8).inspect(|i| if *i == 1 { std::thread::sleep(Duration::from_millis(300)) })
    /// }
    ///
    /// let mut s = slow_pair.remote();
    /// assert!(s.wait(Some(Duration::from_secs(10))));
    /// assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 0);
    /// assert!(!s.wait(Some(Duration::from_millis(10))), "the second item takes 300 ms");
    /// assert_eq!(ray::get(&s.next().unwrap()).unwrap(), 1);
    /// # ray::shutdown();
    /// ```
    pub fn wait(&mut self, timeout: Option<Duration>) -> bool {
        if self.raw.peeked.is_some() {
            return true;
        }
        let raw = &mut self.raw;
        let next = async {
            match raw.rx.next().await {
                Some(r) => raw.peeked = Some(r),
                None => {
                    if let Some(done) = &raw.completion {
                        let _ = done.settled().await;
                    }
                }
            }
        };
        match timeout {
            None => {
                block_on(next);
                true
            }
            Some(t) => {
                let Ok(alarm) = super::alarm(t) else {
                    return false;
                };
                block_on(async {
                    let next = std::pin::pin!(next);
                    matches!(
                        futures::future::select(next, alarm).await,
                        futures::future::Either::Left(_)
                    )
                })
            }
        }
    }

    /// Closes the window (the generator stops at its next item) and drops the items not
    /// taken yet: the stream then ends with the generator's outcome. Returns the
    /// generator task's completion object (`ObjectRefStream::cancel`, in `api`).
    pub(crate) fn close_and_drain(&mut self) -> Option<&RawRef> {
        self.raw.window.close();
        self.raw.peeked = None;
        self.raw.rx.close();
        while self.raw.rx.try_recv().is_ok() {}
        self.raw.completion.as_ref()
    }
}

impl<T> Iterator for ObjectRefStream<T> {
    type Item = ObjectRef<T>;
    fn next(&mut self) -> Option<ObjectRef<T>> {
        block_on(futures::future::poll_fn(|cx| self.raw.poll_item(cx))).map(ObjectRef::from_raw)
    }
}

impl<T> Stream for ObjectRefStream<T> {
    type Item = ObjectRef<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ObjectRef<T>>> {
        self.raw.poll_item(cx).map(|r| r.map(ObjectRef::from_raw))
    }
}

impl<T> Unpin for ObjectRefStream<T> {}
