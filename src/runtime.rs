//! The composition root: starting and stopping a node (`lifecycle`: it wires the store,
//! the actors, the cluster agent and the dashboard together; nothing below names it) and
//! what `ray::runtime_context()` reports.

mod context;
mod lifecycle;

pub use context::{RuntimeContext, runtime_context};
pub(crate) use lifecycle::start;
pub use lifecycle::wait_for_termination;
pub use lifecycle::{init, init_with, is_initialized, shutdown};
