//! Tasks: the task spec, argument resolution, options, submission, the ephemeral actor
//! that executes one task, and streaming generators.
//!
//! Invariant: every return object of a submitted task is settled exactly once — by the
//! body's outcome, by cancellation, or (when the spec is dropped unrun) with
//! [`crate::Error::ShutDown`] — so no reader can wait forever.

mod args;
mod large_copy;
mod messages;
mod options;
mod placement;
mod registry;
mod spec;
mod wire_args;

pub use args::RawRefHandle;
pub use args::{Arg, IntoArg, Value};
pub use large_copy::CopySite;
pub(crate) use messages::{
    Batch, LeaseDone, SubmitTask, TaskBlocked, TaskEvent, TaskFinished, TaskUnblocked,
};
pub use options::{SchedulingStrategy, TaskOptions, TaskOptionsBuilder};
pub(crate) use placement::{Placement, Turn, Who, place, to_resources};
pub(crate) use registry::{ByName, Registered, decode, encode, lookup, signatures_of};
pub use registry::{RemoteBody, RemoteCall, RemoteFunction};
pub use spec::TaskOutput;
pub use spec::{Held, RemoteForm};
pub use wire_args::{ArgReader, ArgsWriter};

/// Decodes a task's or call's encoded returns (what another node answered) into values.
pub(crate) type DecodeReturns = fn(&[u8]) -> crate::Result<Vec<crate::store::StoredValue>>;
pub(crate) use spec::{TaskBody, TaskSpec};
