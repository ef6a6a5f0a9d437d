//! Task arguments: a value, or an `ObjectRef` resolved to its value before the task runs.
//! A borrowed parameter (`&T`, `&[E]`, `&str`) and a parameter of type `Arc<T>` take an
//! `ObjectRef<T>` without copying: the call holds the store's own shared pointer. An
//! owned parameter gets a copy (`large_copy` warns when it is a large one).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::large_copy::CopySite;
use crate::ids::ObjectId;
use crate::store::{
    INLINE_MAX, Located, ObjectRef, RawRef, StoredValue, encode_into, object_ref_downcast,
    take_bytes,
};
use crate::tasks::decode;
use crate::transport::Bulk;
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
    /// The argument for encoding (the trip to another node): a reference travels as its
    /// stored value's encoding, which a large object shares with every other call that
    /// passes it. The dependency exists (here, or held by another node).
    ///
    /// Under [`lending_refs`], a reference travels as itself when the object is held by
    /// another node (it is not here to send), or is large and the parameter reads it
    /// in place (`shared`: borrowed, or an `Arc`). An owned parameter's large object goes
    /// as its value: decoded straight into the parameter there, where a copy pulled
    /// into that node's store would be copied again.
    pub fn for_encode(self, shared: bool) -> Result<Encodable<T>> {
        match self.0 {
            Inner::Value(v) => Ok(Encodable::Own(v)),
            Inner::Ref(r, extract) => {
                let lending = LEND_REFS.get();
                // Held by another node: that node serves it to the one the task goes to.
                if lending && matches!(r.located(), Located::HeldBy(_)) {
                    return Ok(Encodable::Lent(r));
                }
                let (id, stored) = settled(&r)?;
                // A parameter of the stored type, or an `Arc` of it (which `extract`
                // shares without copying): both encode as the stored value does.
                if !(*stored.value).is::<T>() {
                    extract(id, stored.clone())?;
                }
                if lending && shared && stored.size >= INLINE_MAX {
                    return Ok(Encodable::Lent(r));
                }
                Ok(Encodable::Stored(r, stored))
            }
        }
    }
}

/// An argument about to be encoded: a value the caller passed, or the object a
/// reference names (kept alive with it until the call is answered).
#[doc(hidden)]
pub enum Encodable<T> {
    /// A value the caller passed.
    Own(T),
    /// The object a reference the caller passed names, and its value.
    Stored(RawRef, StoredValue),
    /// A large object a reference the caller passed names, sent as that reference: the
    /// receiving node pulls it once into its store and lends it to every task there.
    Lent(RawRef),
}

impl<T: Serialize + Send + Sync + 'static> Encodable<T> {
    /// Appends this argument to the call's encoded arguments.
    pub fn write(&self, out: &mut ArgsWriter) -> Result<()> {
        match self {
            Encodable::Own(v) => out.write_with(|buf| encode_into(v, buf)),
            Encodable::Stored(r, v) => r.encoded(v).map(|bytes| out.push_encoded(bytes)),
            Encodable::Lent(r) => {
                let r = ObjectRef::<()>::from_raw(r.clone());
                out.write_flagged(BY_REF, |buf| encode_into(&r, buf))
            }
        }
    }
}

/// The encoded arguments of a call to another node. Each argument is encoded on its own
/// (a buffer of plain numbers as one `bin`, as stored values travel) after its length as
/// a little-endian `u64`; [`ArgReader`] reads them back. A large stored object's
/// encoding is a piece of its own, shared, never copied into the call.
#[doc(hidden)]
#[derive(Default)]
pub struct ArgsWriter {
    pieces: Bulk,
    open: Vec<u8>,
}

impl ArgsWriter {
    fn write_with(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<()> {
        self.write_flagged(0, encode)
    }

    /// Appends one argument, its length marked with `flag`.
    fn write_flagged(
        &mut self,
        flag: u64,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let at = self.open.len();
        self.open.extend_from_slice(&[0; 8]);
        encode(&mut self.open)?;
        let len = (self.open.len() - at - 8) as u64 | flag;
        self.open[at..at + 8].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    fn push_encoded(&mut self, encoded: Bulk) {
        let len = encoded.len();
        self.open.extend_from_slice(&(len as u64).to_le_bytes());
        if len < INLINE_MAX {
            for piece in encoded.pieces() {
                self.open.extend_from_slice(piece);
            }
        } else {
            self.pieces.append(std::mem::take(&mut self.open).into());
            self.pieces.append(encoded);
        }
    }

    /// The arguments, as bulk data for the request.
    pub fn finish(mut self) -> Bulk {
        if !self.open.is_empty() {
            self.pieces.append(self.open.into());
        }
        self.pieces
    }
}

/// Reads the arguments [`ArgsWriter`] wrote, one by one, with clear errors for missing,
/// truncated, mistyped or extra ones.
#[doc(hidden)]
pub struct ArgReader<'a> {
    source: Source<'a>,
    /// Where the next argument starts.
    at: usize,
    index: usize,
}

/// The bytes an [`ArgReader`] reads: borrowed, or its own (the received request's).
#[doc(hidden)]
pub enum Source<'a> {
    /// Borrowed bytes.
    Borrowed(&'a [u8]),
    /// The reader's own bytes: a large byte buffer at their end is moved out, not copied.
    Owned(Vec<u8>),
}

impl<'a> From<&'a [u8]> for Source<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Source::Borrowed(bytes)
    }
}

impl From<Vec<u8>> for Source<'_> {
    fn from(bytes: Vec<u8>) -> Self {
        Source::Owned(bytes)
    }
}

impl Source<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Source::Borrowed(b) => b,
            Source::Owned(v) => v,
        }
    }
}

impl<'a> ArgReader<'a> {
    /// A reader of `bytes` (a `&[u8]`, or a `Vec<u8>` it then owns).
    pub fn new(bytes: impl Into<Source<'a>>) -> Self {
        Self {
            source: bytes.into(),
            at: 0,
            index: 0,
        }
    }

    /// The next argument's header: whether it is a reference, and where its bytes are.
    fn next(&mut self) -> Result<(bool, usize, usize)> {
        let i = self.index;
        self.index += 1;
        let all = self.source.as_slice();
        let Some((len, rest)) = all[self.at..].split_first_chunk::<8>() else {
            return Err(bad_arg(
                i,
                "missing (fewer arguments than the function takes)".into(),
            ));
        };
        let len = u64::from_le_bytes(*len);
        let (by_ref, len) = (len & BY_REF != 0, len & !BY_REF);
        let Some(len) = usize::try_from(len).ok().filter(|l| *l <= rest.len()) else {
            return Err(bad_arg(
                i,
                format!("truncated: {len} bytes announced, {} left", rest.len()),
            ));
        };
        let (start, end) = (self.at + 8, self.at + 8 + len);
        self.at = end;
        Ok((by_ref, start, end))
    }

    /// The next argument, as a `T`.
    pub fn read<T: DeserializeOwned + 'static>(&mut self) -> Result<T> {
        match self.next()? {
            (false, start, end) => self.value_at(start, end),
            (true, ..) => Err(bad_arg(
                self.index - 1,
                "a reference where this call takes a value".into(),
            )),
        }
    }

    /// The next argument of a task: a value, or a reference to a large object (pulled
    /// into this node's store once, however many tasks here take it).
    pub fn read_arg<T: Value>(&mut self) -> Result<Arg<T>> {
        match self.next()? {
            (false, start, end) => self.value_at(start, end).map(|v| Arg(Inner::Value(v))),
            (true, start, end) => self.ref_at::<T>(start, end).map(IntoArg::into_arg),
        }
    }

    /// [`ArgReader::read_arg`] for a parameter of type `Arc<T>`: a reference shares the
    /// stored `T`.
    pub fn read_shared<T: Value>(&mut self) -> Result<Arg<Arc<T>>> {
        match self.next()? {
            (false, start, end) => self.value_at(start, end).map(|v| Arg(Inner::Value(v))),
            (true, start, end) => self.ref_at::<T>(start, end).map(IntoArg::into_arg),
        }
    }

    fn ref_at<T: Value>(&self, start: usize, end: usize) -> Result<ObjectRef<T>> {
        decode::<ObjectRef<T>>(&self.source.as_slice()[start..end]).map_err(|e| match e {
            Error::Serialization(why) => bad_arg(self.index - 1, why),
            other => other,
        })
    }

    fn value_at<T: DeserializeOwned + 'static>(&mut self, start: usize, end: usize) -> Result<T> {
        let len = end - start;
        // A large byte buffer last in bytes of our own leaves them in place: the request
        // and the argument are never both in memory.
        if let Source::Owned(v) = &mut self.source
            && end == v.len()
            && len >= INLINE_MAX
            && let Some(taken) = take_bytes::<T>(v, start)
        {
            self.at = 0;
            return taken;
        }
        decode::<T>(&self.source.as_slice()[start..end]).map_err(|e| match e {
            Error::Serialization(why) => bad_arg(self.index - 1, why),
            other => other,
        })
    }

    /// Checks that no bytes are left after the last argument.
    pub fn finish(self) -> Result<()> {
        let left = self.source.as_slice().len() - self.at;
        if left == 0 {
            return Ok(());
        }
        Err(Error::Serialization(format!(
            "{left} bytes left after the {} arguments the function takes",
            self.index
        )))
    }
}

fn bad_arg(i: usize, why: String) -> Error {
    Error::Serialization(format!("argument {i}: {why}"))
}

/// An argument's length with this bit set: its bytes are a reference to the value.
const BY_REF: u64 = 1 << 63;

thread_local! {
    /// Whether encodings on this thread send large ref arguments as refs.
    static LEND_REFS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `encode` (a task's arguments for another node) sending each large object a ref
/// argument names as that ref, not its value: the receiving node pulls it from where it
/// is, once, and lends it to every task there that takes it (Ray passes arguments over
/// 100 KiB by reference the same way). Only a plain task's receiver reads such
/// arguments ([`ArgReader::read_arg`]); actor calls and generators get values.
pub(crate) fn lending_refs<R>(encode: impl FnOnce() -> R) -> R {
    let before = LEND_REFS.replace(true);
    let out = encode();
    LEND_REFS.set(before);
    out
}

/// An opaque dependency handle (used by generated code).
#[doc(hidden)]
pub struct RawRefHandle(pub(crate) RawRef);

#[cfg(test)]
mod tests {
    use super::*;

    type Write<'a> = &'a dyn Fn(&mut ArgsWriter) -> Result<()>;

    fn written(args: &[Write<'_>]) -> Bulk {
        let mut w = ArgsWriter::default();
        for a in args {
            a(&mut w).unwrap();
        }
        w.finish()
    }

    #[test]
    fn arguments_round_trip_one_by_one() {
        let bytes = written(&[
            &|w| Encodable::Own(7i64).write(w),
            &|w| Encodable::Own(vec![1u8, 2, 3]).write(w),
            &|w| Encodable::Own(("x".to_string(), 2.5f64)).write(w),
        ])
        .concat();
        // The byte buffer travels as one `bin`: header, length, bytes.
        assert!(bytes.windows(8).any(|w| w == [0xc6, 0, 0, 0, 3, 1, 2, 3]));
        let mut r = ArgReader::new(bytes.as_slice());
        assert_eq!(r.read::<i64>().unwrap(), 7);
        assert_eq!(*r.read::<Arc<Vec<u8>>>().unwrap(), vec![1, 2, 3]);
        assert_eq!(r.read::<(String, f64)>().unwrap(), ("x".to_string(), 2.5));
        r.finish().unwrap();
        // No arguments: no bytes.
        assert!(written(&[]).is_empty());
        ArgReader::new(&[][..]).finish().unwrap();
    }

    #[test]
    fn a_reference_where_a_value_is_read_is_a_clear_error() {
        let mut w = ArgsWriter::default();
        w.write_flagged(BY_REF, |buf| encode_into(&7u8, buf))
            .unwrap();
        let bytes = w.finish().concat();
        let err = ArgReader::new(bytes.as_slice()).read::<u8>().unwrap_err();
        assert!(
            err.to_string()
                .contains("argument 0: a reference where this call takes a value"),
            "{err}"
        );
        // The flag is no length: a huge one announced is still truncation.
        let mut bytes = (u64::MAX >> 1).to_le_bytes().to_vec();
        bytes.push(1);
        let err = ArgReader::new(bytes.as_slice()).read::<u8>().unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn a_large_stored_object_is_one_shared_piece() {
        let store = crate::store::MemoryStore::new(crate::ids::NodeId::new());
        let big = vec![9u8; INLINE_MAX + 1];
        let r = RawRef::ready(
            &store,
            ObjectId::for_put(),
            crate::store::stored(big.clone()),
        );
        let arg = || Encodable::<Vec<u8>>::Stored(r.clone(), r.peek().unwrap().unwrap());
        let (a, b) = (
            written(&[&|w| Encodable::Own(1u8).write(w), &|w| arg().write(w)]),
            written(&[&|w| arg().write(w)]),
        );
        let (pa, pb) = (a.pieces(), b.pieces());
        assert_eq!(
            pa.len(),
            3,
            "the small argument and the length, the object's bin header, then the object"
        );
        let stored = r.peek().unwrap().unwrap();
        let data = stored.value.downcast_ref::<Vec<u8>>().unwrap();
        assert_eq!(pa[2].as_ptr(), data.as_ptr(), "the stored bytes themselves");
        assert!(std::ptr::eq(pa[2], pb[2]), "both calls send the one value");
        // Read from the received bytes: the large buffer last is those bytes, not a copy.
        let bytes = a.concat();
        let at = bytes.as_ptr();
        let mut reader = ArgReader::new(bytes);
        assert_eq!(reader.read::<u8>().unwrap(), 1);
        let got = reader.read::<serde_bytes::ByteBuf>().unwrap();
        assert_eq!(got.as_slice(), big.as_slice());
        assert_eq!(got.as_ptr(), at, "moved out of the received bytes");
        reader.finish().unwrap();
        // Borrowed bytes, or a buffer not last: decoded as a copy.
        let bytes = a.concat();
        let mut reader = ArgReader::new(bytes.as_slice());
        assert_eq!(reader.read::<u8>().unwrap(), 1);
        assert_eq!(*reader.read::<Arc<Vec<u8>>>().unwrap(), big);
        reader.finish().unwrap();
    }
}
