//! Objects: ids, the typed `ObjectRef<T>` handle, the node's in-process memory store and
//! reference counting. Inside one process values are kept as shared pointers and never
//! serialized; encoding happens only when a value leaves the process.
//!
//! Invariant: an object's slot lives exactly as long as some `ObjectRef` to it (held by
//! user code or by a pending task's arguments); the last drop frees it.

mod borrow;
mod handoff;
mod memory;
mod object_ref;
mod size;
mod spill;

pub(crate) use borrow::{BorrowState, PullObject, ReleaseBorrow};
pub(crate) use handoff::{Handoff, Loan, escaping, lent};
pub(crate) use memory::Encoded;
pub use memory::MemorySummary;
pub use memory::StoredValue;
pub(crate) use memory::{AnyValue, Elsewhere, LARGE_COPY_WARNING, Located, MemoryStore};
pub use object_ref::RawRef;
pub(crate) use object_ref::downcast as object_ref_downcast;
pub(crate) use object_ref::{Cancel, CancelHook, RefInner};
pub use object_ref::{ObjectRef, ObjectRefFuture};
pub(crate) use size::buffer::take_bytes;
pub(crate) use size::{decode, decode_owned_as, encode, encode_into, stored};
pub(crate) use spill::{INLINE_MAX, Spill};
