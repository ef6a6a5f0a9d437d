//! The one process-wide handle: the driver's node, which the first Ray call of a process
//! starts when nothing started one. Starting is the composition root's (`runtime`): it
//! registers how with [`Starter`], so this layer never names it.

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::{Node, current_context};
use crate::{Error, Result};

/// A started node and the thread its actix system runs on.
pub(crate) struct Global {
    pub(crate) node: Arc<Node>,
    pub(crate) thread: JoinHandle<()>,
}

/// How to start the driver's node with the default configuration (the embedded runtime),
/// registered once by the composition root.
pub(crate) struct Starter(pub(crate) fn() -> Result<Global>);

inventory::collect!(Starter);

/// The driver's node. The only global state of the crate.
static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

/// Runs `f` on the driver's node slot, locked (starting, stopping, reading it).
pub(crate) fn with_global<R>(f: impl FnOnce(&mut Option<Global>) -> R) -> R {
    f(&mut GLOBAL.lock())
}

/// The node of the calling code: its execution context's, else the driver's (started on
/// first use).
pub(crate) fn current_node() -> Result<Arc<Node>> {
    if let Some(ctx) = current_context() {
        return Ok(ctx.node);
    }
    let mut g = GLOBAL.lock();
    if let Some(g) = g.as_ref() {
        return Ok(g.node.clone());
    }
    let start = inventory::iter::<Starter>
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("no runtime to start".into()))?;
    let started = (start.0)()?;
    let node = started.node.clone();
    *g = Some(started);
    Ok(node)
}

/// The calling code's node, without starting one.
pub(crate) fn running_node() -> Option<Arc<Node>> {
    if let Some(ctx) = current_context() {
        return Some(ctx.node);
    }
    GLOBAL.lock().as_ref().map(|g| g.node.clone())
}
