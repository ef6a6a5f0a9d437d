//! Task arguments on the wire to another node: each argument encoded on its own after
//! its length (`ArgsWriter`), read back one by one with clear errors (`ArgReader`); a
//! large stored object's encoding shared, not copied, into the call; and, for a plain
//! task, a large object sent as its ref (the length's top bit set), which the receiving
//! node pulls once and lends to every task there.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::{Arg, IntoArg, Value};
use crate::store::{INLINE_MAX, ObjectRef, RawRef, StoredValue, encode_into, take_bytes};
use crate::tasks::decode;
use crate::transport::Bulk;
use crate::{Error, Result};

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
            (false, start, end) => self.value_at::<T>(start, end).map(IntoArg::into_arg),
            (true, start, end) => self.ref_at::<T>(start, end).map(IntoArg::into_arg),
        }
    }

    /// [`ArgReader::read_arg`] for a parameter of type `Arc<T>`: a reference shares the
    /// stored `T`.
    pub fn read_shared<T: Value>(&mut self) -> Result<Arg<Arc<T>>> {
        match self.next()? {
            (false, start, end) => self.value_at::<Arc<T>>(start, end).map(IntoArg::into_arg),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ObjectId;

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
