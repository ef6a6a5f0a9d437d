//! Task arguments: a value, or an `ObjectRef` resolved to its value before the task runs.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{ObjectRef, RawRef};
use crate::{Error, Result};

/// What a value must be to cross a task or actor boundary: serializable for the trip to
/// another process, `Clone` so that `get` can hand out an owned copy while the store keeps
/// its own (use [`ObjectRef::get_arc`] to share instead of copying).
pub trait Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Value for T {}

/// One argument of a remote call, as the caller gave it.
#[derive(Clone, Debug)]
pub enum Arg<T> {
    /// A plain value, moved into the task.
    Value(T),
    /// A reference, resolved to its value before the task starts.
    Ref(ObjectRef<T>),
}

/// Anything that can be passed where a remote function expects a `T`: the value itself,
/// an `ObjectRef<T>` or a `&ObjectRef<T>`.
pub trait IntoArg<T> {
    /// Converts into an [`Arg`].
    fn into_arg(self) -> Arg<T>;
}

impl<T: Value> IntoArg<T> for T {
    fn into_arg(self) -> Arg<T> {
        Arg::Value(self)
    }
}

impl<T> IntoArg<T> for ObjectRef<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::Ref(self)
    }
}

impl<T> IntoArg<T> for &ObjectRef<T> {
    fn into_arg(self) -> Arg<T> {
        Arg::Ref(self.clone())
    }
}

impl<T: Clone + Send + Sync + 'static> Arg<T> {
    /// The object the task must wait for, if any.
    pub fn dep(&self) -> Option<RawRefHandle> {
        match self {
            Arg::Value(_) => None,
            Arg::Ref(r) => Some(RawRefHandle(r.raw.clone())),
        }
    }

    /// The value; for a reference, a copy of the stored value (the dependency has settled
    /// by the time a task body calls this). A failed dependency gives its error: the
    /// task fails with the root cause without running.
    pub fn resolve(self) -> Result<T> {
        match self {
            Arg::Value(v) => Ok(v),
            Arg::Ref(r) => {
                let id = r.id();
                let stored = r.raw.peek().ok_or(Error::ObjectLost { object_id: id })??;
                let arc = crate::store::object_ref_downcast::<T>(id, stored)?;
                Ok(std::sync::Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()))
            }
        }
    }
}

/// An opaque dependency handle (used by generated code).
#[doc(hidden)]
pub struct RawRefHandle(pub(crate) RawRef);
