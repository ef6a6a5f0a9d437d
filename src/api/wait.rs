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
struct WaitFor {
    ids: Vec<ObjectId>,
    store: std::sync::Arc<crate::store::MemoryStore>,
    ready: Vec<bool>,
    k: usize,
    /// Brings values other nodes hold here (`fetch_local`); else such a ref is ready.
    fetch: bool,
}

impl WaitFor {
    fn enough(&self) -> bool {
        self.ready.iter().filter(|r| **r).count() >= self.k
    }

    /// After a timeout: objects that settled at the last moment count.
    fn refresh(&mut self) {
        self.store
            .poll_settled(&self.ids, &mut self.ready, self.fetch, None);
    }
}

impl Future for WaitFor {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.enough() {
            return Poll::Ready(());
        }
        if this
            .store
            .poll_settled(&this.ids, &mut this.ready, this.fetch, Some(cx))
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
    wait_with(refs, num_returns, timeout, true)
}

/// [`wait`] with Ray's `fetch_local`: with `false`, a ref whose value another node holds
/// (a large result of a task that ran there) is ready as it is, and its value stays
/// there; with `true` (what [`wait`] does) it is ready once its value is here. Pass the
/// ref to a task on another node afterwards, and that node reads the value from where it
/// is.
///
/// # Errors
/// As [`wait`].
///
/// # Examples
/// ```
/// let refs: Vec<_> = (0..3).map(|i| ray::put(i)).collect();
/// let (ready, rest) = ray::wait_with(&refs, 3, None, false).unwrap();
/// assert_eq!((ready.len(), rest.len()), (3, 0));
/// # ray::shutdown();
/// ```
pub fn wait_with<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    timeout: Option<Duration>,
    fetch_local: bool,
) -> Result<WaitResult<T>> {
    let Some(mut fut) = wait_setup(refs, num_returns, fetch_local)? else {
        return Ok(split(refs, &[], num_returns));
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    if !fut.enough() && block_on_deadline(&mut fut, deadline).is_err() {
        fut.refresh();
    }
    Ok(split(refs, &fut.ready, num_returns))
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
    let Some(mut fut) = wait_setup(refs, num_returns, true)? else {
        return Ok(split(refs, &[], num_returns));
    };
    match timeout {
        _ if fut.enough() => {}
        None => (&mut fut).await,
        Some(t) => {
            futures::future::select(&mut fut, crate::node::alarm(t)?).await;
            fut.refresh();
        }
    }
    Ok(split(refs, &fut.ready, num_returns))
}

/// Checks a wait's arguments; the wait, knowing which refs are settled already
/// (`None`: no refs).
fn wait_setup<T>(
    refs: &[ObjectRef<T>],
    num_returns: usize,
    fetch: bool,
) -> Result<Option<WaitFor>> {
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
    let mut wait = WaitFor {
        ids: Vec::new(),
        store,
        ready: refs.iter().map(|r| r.raw.is_settled_fast()).collect(),
        k: num_returns,
        fetch,
    };
    // The store is asked about the rest only when those settled are not enough.
    if !wait.enough() {
        wait.ids = refs.iter().map(|r| r.id()).collect();
    }
    Ok(Some(wait))
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
