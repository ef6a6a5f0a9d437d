//! Streaming generators: a `#[ray::remote(streaming)]` task yields items one by one; each
//! becomes an object whose ref the caller receives as soon as it is produced.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use serde::Serialize;

use super::{block_on, current_node};
use crate::Result;
use crate::ids::ObjectId;
use crate::store::{ObjectRef, RawRef, stored};

/// The producing side, moved into the generator task's body.
#[doc(hidden)]
pub struct StreamSender {
    tx: mpsc::UnboundedSender<RawRef>,
}

impl StreamSender {
    /// Stores one item and hands its ref to the consumer. A consumer that went away
    /// simply drops the ref (and with it the object).
    pub fn send<T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>(
        &self,
        item: T,
    ) -> Result<()> {
        let node = current_node()?;
        let r = RawRef::ready(&node.store, ObjectId::for_put(), stored(item));
        let _ = self.tx.unbounded_send(r);
        Ok(())
    }
}

/// The refs of a streaming generator's items, in the order they were produced.
///
/// A blocking [`Iterator`] for synchronous code and a [`Stream`] for async code. If the
/// generator fails, the stream ends with one ref whose `get` returns the error.
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
pub struct ObjectRefStream<T> {
    rx: mpsc::UnboundedReceiver<RawRef>,
    completion: Option<RawRef>,
    _t: PhantomData<fn() -> T>,
}

impl<T> ObjectRefStream<T> {
    #[doc(hidden)]
    pub fn channel() -> (StreamSender, Self) {
        let (tx, rx) = mpsc::unbounded();
        (
            StreamSender { tx },
            Self {
                rx,
                completion: None,
                _t: PhantomData,
            },
        )
    }

    /// Attaches the generator task's completion object.
    pub(crate) fn attach(&mut self, completion: RawRef) {
        self.completion = Some(completion);
    }

    /// After the last item: a failed ref if the generator failed, else the end.
    fn tail(&mut self) -> Option<ObjectRef<T>> {
        let done = self.completion.take()?;
        match done.peek() {
            Some(Err(_)) => Some(ObjectRef::from_raw(done)),
            _ => None,
        }
    }
}

impl<T> Iterator for ObjectRefStream<T> {
    type Item = ObjectRef<T>;
    fn next(&mut self) -> Option<ObjectRef<T>> {
        match block_on(self.rx.next()) {
            Some(r) => Some(ObjectRef::from_raw(r)),
            None => {
                // The sender is dropped once the body returned; the completion object is
                // settled just after, so wait for it.
                if let Some(done) = &self.completion {
                    let _ = block_on(done.settled());
                }
                self.tail()
            }
        }
    }
}

impl<T> Stream for ObjectRefStream<T> {
    type Item = ObjectRef<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ObjectRef<T>>> {
        match self.rx.poll_next_unpin(cx) {
            Poll::Ready(Some(r)) => Poll::Ready(Some(ObjectRef::from_raw(r))),
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
}

impl<T> Unpin for ObjectRefStream<T> {}
