//! `wait` and `wait_async`: until some of a list of refs are settled, or a timeout.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::ids::ObjectId;
use crate::node::block_on_deadline;
use crate::store::ObjectRef;
use crate::{Error, Result};

/// `(ready, not_ready)` as [`wait`] returns them, each in input order.
pub type WaitResult<T> = (Vec<ObjectRef<T>>, Vec<ObjectRef<T>>);

/// Future behind [`wait`]: ready once `k` refs are settled.
struct WaitFor<'a> {
    ids: Vec<ObjectId>,
    store: &'a crate::store::MemoryStore,
    ready: Vec<bool>,
    k: usize,
}

impl Future for WaitFor<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.ready.iter().filter(|r| **r).count() >= this.k {
            return Poll::Ready(());
        }
        if this
            .store
            .poll_settled(&this.ids, &mut this.ready, Some(cx))
            >= this.k
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Waits until `num_returns` of `refs` are ready (or failed), or `timeout` passes.
/// Returns `(ready, not_ready)`, each in input order: `ready` holds at most `num_returns`
/// refs (fewer after a timeout), and every other ref is in `not_ready`, as in Ray.
///
/// # Errors
/// [`Error::InvalidArgument`] when `num_returns` exceeds `refs.len()` or the refs live in
/// different runtimes.
///
/// # Examples
/// ```
/// let refs: Vec<_> = (0..3).map(|i| ray::put(i)).collect();
/// let (ready, rest) = ray::wait(&refs, 2, None).unwrap();
/// assert_eq!((ready.len(), rest.len()), (2, 1));
/// # ray::shutdown();
/// ```
pub fn wait<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
) -> Result<WaitResult<T>> {
    let Some((store, mut ready)) = wait_setup(refs, num_returns)? else {
        return Ok(split(refs, &[], num_returns));
    };
    if ready.iter().filter(|r| **r).count() < num_returns {
        let mut fut = WaitFor {
            ids: refs.iter().map(|r| r.id()).collect(),
            store: &store,
            ready,
            k: num_returns,
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        if block_on_deadline(&mut fut, deadline).is_err() {
            // Timed out: refresh, so objects that settled at the last moment count.
            store.poll_settled(&fut.ids, &mut fut.ready, None);
        }
        ready = fut.ready;
    }
    Ok(split(refs, &ready, num_returns))
}

/// [`wait`] for async code: waits without blocking the executor thread (the timeout is
/// kept by the node's own timer, so any executor can run it).
///
/// # Errors
/// As [`wait`].
///
/// # Examples
/// ```
/// let refs: Vec<_> = (0..3).map(|i| ray::put(i)).collect();
/// let (ready, rest) = futures::executor::block_on(ray::wait_async(&refs, 2, None)).unwrap();
/// assert_eq!((ready.len(), rest.len()), (2, 1));
/// # ray::shutdown();
/// ```
pub async fn wait_async<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
) -> Result<WaitResult<T>> {
    let Some((store, mut ready)) = wait_setup(refs, num_returns)? else {
        return Ok(split(refs, &[], num_returns));
    };
    if ready.iter().filter(|r| **r).count() < num_returns {
        let mut fut = WaitFor {
            ids: refs.iter().map(|r| r.id()).collect(),
            store: &store,
            ready,
            k: num_returns,
        };
        match timeout {
            None => (&mut fut).await,
            Some(t) => {
                let alarm = crate::node::alarm(t)?;
                futures::future::select(&mut fut, alarm).await;
                store.poll_settled(&fut.ids, &mut fut.ready, None);
            }
        }
        ready = fut.ready;
    }
    Ok(split(refs, &ready, num_returns))
}

/// Checks a wait's arguments; the refs' store and which are settled already (`None`:
/// no refs).
fn wait_setup<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
) -> Result<Option<(std::sync::Arc<crate::store::MemoryStore>, Vec<bool>)>> {
    if num_returns > refs.len() {
        return Err(Error::InvalidArgument(format!(
            "wait for {num_returns} of {} refs: num_returns must not exceed the number of refs",
            refs.len()
        )));
    }
    let Some(first) = refs.first() else {
        return Ok(None);
    };
    let store = first.raw.store().clone();
    if refs
        .iter()
        .any(|r| !std::sync::Arc::ptr_eq(r.raw.store(), &store))
    {
        return Err(Error::InvalidArgument(
            "wait over refs of different runtimes".into(),
        ));
    }
    // Settled refs know it without the store's lock; only the rest are looked up.
    let ready = refs.iter().map(|r| r.raw.is_settled_fast()).collect();
    Ok(Some((store, ready)))
}

/// As in Ray: at most `num_returns` ready refs, the first ones in input order, then the
/// rest.
fn split<T>(refs: &[ObjectRef<T>], ready: &[bool], num_returns: usize) -> WaitResult<T> {
    let mut done = Vec::with_capacity(num_returns);
    let mut not_done = Vec::with_capacity(refs.len().saturating_sub(num_returns));
    for (r, settled) in refs.iter().zip(ready) {
        if *settled && done.len() < num_returns {
            done.push(r.clone())
        } else {
            not_done.push(r.clone())
        }
    }
    (done, not_done)
}
