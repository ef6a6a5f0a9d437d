//! Utilities on top of tasks and actors, as Ray's `ray.util`: [`ActorPool`] spreads
//! calls over a set of actors, [`Queue`] is a queue that tasks and actors on any node
//! share.

mod pool;
mod queue;

pub use pool::ActorPool;
pub use queue::{Queue, QueueActor};
