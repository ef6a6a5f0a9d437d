//! Task arguments: a value, or an `ObjectRef` resolved to its value before the task runs.
//! A borrowed parameter (`&T`, `&[E]`, `&str`) and a parameter of type `Arc<T>` take an
//! `ObjectRef<T>` without copying: the call holds the store's own shared pointer. An
//! owned parameter gets a copy (`large_copy` warns when it is a large one).

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::large_copy::CopySite;
use super::wire_args::Encodable;
use crate::ids::ObjectId;
use crate::store::{INLINE_MAX, Located, ObjectRef, RawRef, StoredValue, object_ref_downcast};
use crate::{Error, Result};

/// What a value must be to cross a task or actor boundary: serializable for the trip to
/// another process, `Clone` so that `get` can hand out an owned copy while the store keeps
/// its own (use [`ObjectRef::get_arc`], or borrowed `&T` / `&[E]` / `&str` parameters, to
/// read a stored object in place instead of copying it).
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter or result of a remote call",
    label = "not a task value",
    note = "task values travel between processes: they implement `Serialize`, `Deserialize`, `Clone`, `Send` and `Sync` and own their data (`'static`)"
)]
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
/// `ObjectRef<T>` (shared with the store, not copied). A borrowed parameter (`&[E]`,
/// `&str`, `&T`) takes what its owned form (`Vec<E>`, `String`, `T`) takes, and reads a
/// stored object in place.
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// #[ray::remote]
/// fn total(v: &[u64]) -> u64 { v.iter().sum() }
///
/// #[ray::remote]
/// fn total_shared(v: Arc<Vec<u64>>) -> u64 { v.iter().sum() }
///
/// let big = ray::put(vec![1u64; 1_000_000]);
/// // Both tasks read the stored vector in place: no copy of its 8 MB.
/// assert_eq!(ray::get(&total.remote(&big)).unwrap(), 1_000_000);
/// assert_eq!(ray::get(&total_shared.remote(&big)).unwrap(), 1_000_000);
/// # ray::shutdown();
/// ```
pub trait IntoArg<T> {
    /// Converts into an [`Arg`].
    fn into_arg(self) -> Arg<T>;
}

/// The value a settled reference names (with its id), or why there is none: the object
/// failed, or nothing references it any more.
fn settled(r: &RawRef) -> Result<(ObjectId, StoredValue)> {
    let id = r.id();
    Ok((id, r.peek().ok_or(Error::unreferenced(id))??))
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

/// A string literal (or any `&str`) for a `String` or `&str` parameter: copied once,
/// into the task's argument.
///
/// ```
/// #[ray::remote]
/// fn greet(name: &str) -> String { format!("hello, {name}") }
///
/// assert_eq!(ray::get(&greet.remote("ray")).unwrap(), "hello, ray");
/// # ray::shutdown();
/// ```
impl IntoArg<String> for &str {
    fn into_arg(self) -> Arg<String> {
        Arg(Inner::Value(self.to_owned()))
    }
}

/// A slice for a `Vec<E>` or `&[E]` parameter: copied once, into the task's argument
/// (pass an `ObjectRef` to share a large one instead).
///
/// ```
/// #[ray::remote]
/// fn total(v: &[u32]) -> u32 { v.iter().sum() }
///
/// let data = [1u32, 2, 3, 4];
/// assert_eq!(ray::get(&total.remote(&data[1..])).unwrap(), 9);
/// # ray::shutdown();
/// ```
impl<E: Value> IntoArg<Vec<E>> for &[E] {
    fn into_arg(self) -> Arg<Vec<E>> {
        Arg(Inner::Value(self.to_vec()))
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

/// An argument already made: what a call from another node reads (a value, or a ref to
/// this node's copy of a large object) goes on, as it is, to the local function,
/// generator, actor constructor or method it names.
#[doc(hidden)]
impl<T> IntoArg<T> for Arg<T> {
    fn into_arg(self) -> Arg<T> {
        self
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
                let (id, stored) = settled(&r)?;
                extract(id, stored)
            }
        }
    }
}

impl<T: Send + Sync + 'static> Arg<T> {
    /// [`Arg::resolve`] for an owned parameter of the call `site`: a stored object of
    /// the parameter's type is copied out of the store, and a large copy is reported
    /// (once per function) with the borrowed form that avoids it.
    #[doc(hidden)]
    pub fn resolve_owned(self, site: &CopySite) -> Result<T> {
        match self.0 {
            Inner::Value(v) => Ok(v),
            Inner::Ref(r, extract) => {
                let (id, stored) = settled(&r)?;
                // The stored type itself (not an `Arc` parameter's share of it): a copy.
                if (*stored.value).is::<T>() {
                    super::large_copy::copied(site, stored.size, r.store());
                }
                extract(id, stored)
            }
        }
    }

    /// The argument of a borrowed parameter: the store's own shared pointer to the
    /// object a reference names (what `ObjectRef::get_arc` gives), or the value the
    /// caller passed, moved behind one. Never a copy.
    #[doc(hidden)]
    pub fn resolve_lent(self) -> Result<Arc<T>> {
        match self.0 {
            Inner::Value(v) => Ok(Arc::new(v)),
            Inner::Ref(r, _) => {
                let (id, stored) = settled(&r)?;
                object_ref_downcast::<T>(id, stored)
            }
        }
    }
}

impl<T: Send + Sync + 'static> Arg<T> {
    /// The argument for encoding (the trip to another node: a task, generator, actor
    /// creation or method call). The dependency exists (here, or held by another node).
    ///
    /// A reference travels as itself when the object is held by another node (it is
    /// not here to send), or is large and the parameter reads it in place (`shared`:
    /// borrowed, or an `Arc`): the receiving node pulls it from where it is, once, and
    /// lends it to every call there that takes it (Ray passes arguments over 100 KiB by
    /// reference the same way; `ArgReader::read_arg` reads it). Otherwise it travels
    /// as its stored value's encoding, which a large object shares with every other
    /// call that passes it: an owned parameter's large object is decoded straight into
    /// the parameter there, where a copy pulled into that node's store would be copied
    /// again.
    pub fn for_encode(self, shared: bool) -> Result<Encodable<T>> {
        match self.0 {
            Inner::Value(v) => Ok(Encodable::Own(v)),
            Inner::Ref(r, extract) => {
                // Held by another node: that node serves it to the one the task goes to.
                if matches!(r.located(), Located::HeldBy(..)) {
                    return Ok(Encodable::Lent(r));
                }
                let (id, stored) = settled(&r)?;
                // A parameter of the stored type, or an `Arc` of it (which `extract`
                // shares without copying): both encode as the stored value does.
                if !(*stored.value).is::<T>() {
                    extract(id, stored.clone())?;
                }
                if shared && stored.size >= INLINE_MAX {
                    return Ok(Encodable::Lent(r));
                }
                Ok(Encodable::Stored(r, stored))
            }
        }
    }
}

/// An opaque dependency handle (used by generated code).
#[doc(hidden)]
pub struct RawRefHandle(pub(crate) RawRef);
