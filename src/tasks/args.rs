//! Task arguments: a value, or an `ObjectRef` resolved to its value before the task runs.
//! A parameter of type `Arc<T>` takes an `ObjectRef<T>` without copying: it receives the
//! store's own shared pointer.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::ObjectId;
use crate::store::{ObjectRef, RawRef, StoredValue, object_ref_downcast};
use crate::{Error, Result};

/// What a value must be to cross a task or actor boundary: serializable for the trip to
/// another process, `Clone` so that `get` can hand out an owned copy while the store keeps
/// its own (use [`ObjectRef::get_arc`] or `Arc<T>` parameters to share instead of copying).
///
/// # Examples
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Point { x: f64, y: f64 }
///
/// #[ray::remote]
/// fn mirror(p: Point) -> Point { Point { x: p.y, y: p.x } }
///
/// let p = ray::get(&mirror.remote(Point { x: 1.0, y: 2.0 })).unwrap();
/// assert_eq!(p, Point { x: 2.0, y: 1.0 });
/// # ray::shutdown();
/// ```
pub trait Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Value for T {}

/// Reads a settled object as the parameter type `T`.
type Extract<T> = fn(ObjectId, StoredValue) -> Result<T>;

enum Inner<T> {
    Value(T),
    Ref(RawRef, Extract<T>),
}

/// One argument of a remote call, as the caller gave it: a value, or a reference that is
/// resolved before the task starts.
pub struct Arg<T>(Inner<T>);

impl<T: Clone> Clone for Arg<T> {
    fn clone(&self) -> Self {
        Arg(match &self.0 {
            Inner::Value(v) => Inner::Value(v.clone()),
            Inner::Ref(r, f) => Inner::Ref(r.clone(), *f),
        })
    }
}

impl<T> fmt::Debug for Arg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Value(_) => write!(f, "Arg::Value"),
            Inner::Ref(r, _) => write!(f, "Arg::Ref({})", r.id()),
        }
    }
}

/// Anything that can be passed where a remote function expects a `T`: the value itself,
/// an `ObjectRef<T>` or a `&ObjectRef<T>`; and where it expects an `Arc<T>`, also an
/// `ObjectRef<T>` (shared with the store, not copied).
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// #[ray::remote]
/// fn total(v: Arc<Vec<u64>>) -> u64 { v.iter().sum() }
///
/// let big = ray::put(vec![1u64; 1_000_000]);
/// // The task reads the stored vector in place: no copy of its 8 MB.
/// assert_eq!(ray::get(&total.remote(&big)).unwrap(), 1_000_000);
/// # ray::shutdown();
/// ```
pub trait IntoArg<T> {
    /// Converts into an [`Arg`].
    fn into_arg(self) -> Arg<T>;
}

fn copy_out<T: Clone + Send + Sync + 'static>(id: ObjectId, v: StoredValue) -> Result<T> {
    let arc = object_ref_downcast::<T>(id, v)?;
    Ok(Arc::try_unwrap(arc).unwrap_or_else(|shared| (*shared).clone()))
}

fn share<T: Send + Sync + 'static>(id: ObjectId, v: StoredValue) -> Result<Arc<T>> {
    object_ref_downcast::<T>(id, v)
}

impl<T: Value> IntoArg<T> for T {
    fn into_arg(self) -> Arg<T> {
        Arg(Inner::Value(self))
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for ObjectRef<T> {
    fn into_arg(self) -> Arg<T> {
        Arg(Inner::Ref(self.raw, copy_out::<T>))
    }
}

impl<T: Clone + Send + Sync + 'static> IntoArg<T> for &ObjectRef<T> {
    fn into_arg(self) -> Arg<T> {
        self.clone().into_arg()
    }
}

impl<T: Send + Sync + 'static> IntoArg<Arc<T>> for ObjectRef<T> {
    fn into_arg(self) -> Arg<Arc<T>> {
        Arg(Inner::Ref(self.raw, share::<T>))
    }
}

impl<T: Send + Sync + 'static> IntoArg<Arc<T>> for &ObjectRef<T> {
    fn into_arg(self) -> Arg<Arc<T>> {
        Arg(Inner::Ref(self.raw.clone(), share::<T>))
    }
}

impl<T> Arg<T> {
    /// The object the task must wait for, if any.
    pub fn dep(&self) -> Option<RawRefHandle> {
        match &self.0 {
            Inner::Value(_) => None,
            Inner::Ref(r, _) => Some(RawRefHandle(r.clone())),
        }
    }

    /// The value; for a reference, the stored value (copied, or shared for `Arc`
    /// parameters). The dependency has settled by the time a task body calls this. A
    /// failed dependency gives its error: the task fails with the root cause without
    /// running.
    pub fn resolve(self) -> Result<T> {
        match self.0 {
            Inner::Value(v) => Ok(v),
            Inner::Ref(r, extract) => {
                let id = r.id();
                let stored = r.peek().ok_or(Error::unreferenced(id))??;
                extract(id, stored)
            }
        }
    }
}

impl<T: Send + Sync + 'static> Arg<T> {
    /// The value for encoding (the trip to another node): a reference's stored value is
    /// shared, not copied, however large it is. The dependency has settled.
    pub fn for_encode(self) -> Result<Encodable<T>> {
        match self.0 {
            Inner::Value(v) => Ok(Encodable::Own(v)),
            Inner::Ref(r, extract) => {
                let id = r.id();
                let stored = r.peek().ok_or(Error::unreferenced(id))??;
                match stored.value.clone().downcast::<T>() {
                    Ok(shared) => Ok(Encodable::Shared(shared)),
                    // An `Arc<U>` parameter: `extract` shares the stored `U` already.
                    Err(_) => extract(id, stored).map(Encodable::Own),
                }
            }
        }
    }
}

/// An argument about to be encoded: owned, or the store's shared value. Serializes as
/// the value itself.
#[doc(hidden)]
pub enum Encodable<T> {
    /// A value the caller passed.
    Own(T),
    /// The stored value of a reference the caller passed.
    Shared(Arc<T>),
}

impl<T: Serialize> Serialize for Encodable<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Encodable::Own(v) => v.serialize(s),
            Encodable::Shared(v) => v.as_ref().serialize(s),
        }
    }
}

/// An opaque dependency handle (used by generated code).
#[doc(hidden)]
pub struct RawRefHandle(pub(crate) RawRef);
