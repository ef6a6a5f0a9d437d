//! Utilities on top of tasks and actors, as Ray's `ray.util`: [`ActorPool`] spreads
//! calls over a set of actors, [`Queue`] is a queue that tasks and actors on any node
//! share, [`metrics`] are your own figures on `/metrics`, and [`state`] lists the cluster's nodes, actors, tasks, objects, placement
//! groups and jobs as typed values.

pub mod metrics;
mod pool;
mod queue;
pub mod state;

pub use pool::ActorPool;
pub use queue::{Queue, QueueActor};
