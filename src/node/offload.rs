//! Work too heavy for a node's thread: decoding or encoding a large value (and the
//! spilling that storing it may start) runs on tokio's blocking pool, so the node thread
//! keeps sending heartbeats and serving requests meanwhile (a 1 GiB decode takes about a
//! second of copying into fresh pages, docs/machine-limits.md).

use std::sync::Arc;

use super::{Node, with_context};
use crate::{Error, Result};

/// Values at least this large are decoded and encoded off the node thread; smaller ones
/// cost less than the hop to another thread.
pub(crate) const HEAVY_BYTES: usize = 1 << 20;

/// Runs `f` with `node`'s context: here when `bytes` is small, on the blocking pool
/// otherwise. A panic in `f` (a value's own `Deserialize`, say) is an error, not a crash
/// of the node thread.
pub(crate) async fn off_node_thread<T: Send + 'static>(
    bytes: usize,
    node: Option<Arc<Node>>,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let run = move || with_context(node.as_ref().map(|n| n.context()), f);
    if bytes < HEAVY_BYTES {
        return run();
    }
    match tokio::task::spawn_blocking(run).await {
        Ok(out) => out,
        Err(e) if e.is_panic() => Err(Error::Serialization(format!(
            "decoding or encoding a value panicked: {}",
            crate::error::panic_message(&*e.into_panic())
        ))),
        Err(_) => Err(Error::ShutDown),
    }
}
