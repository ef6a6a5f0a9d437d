//! How many bytes a value occupies, for the store's accounting. Buffers of plain data are
//! measured in O(1); other values by counting their MessagePack encoding (what they would
//! cost on the wire), without allocating.

use std::any::Any;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::memory::AnyValue;
use super::{Encoded, StoredValue};

/// Wraps a value for the store, measuring it once.
pub(crate) fn stored<T: Serialize + DeserializeOwned + Send + Sync + 'static>(
    value: T,
) -> StoredValue {
    let size = size_of_value(&value);
    StoredValue {
        value: Arc::new(value),
        size,
        encode: encode_as::<T>,
        decode: decode_as::<T>,
    }
}

/// Appends the encoding of `v` for another node to `out`: a buffer of plain numbers as
/// one `bin` (as stored values travel), anything else in serde's form.
pub(crate) fn encode_into<T: Serialize + Send + Sync + 'static>(
    v: &T,
    out: &mut Vec<u8>,
) -> crate::Result<()> {
    if buffer::encode_into(v, out) {
        return Ok(());
    }
    rmp_serde::encode::write(out, v).map_err(|e| crate::Error::Serialization(e.to_string()))
}

/// Encodes a value for the trip to another node.
pub(crate) fn encode<T: Serialize>(v: &T) -> crate::Result<Vec<u8>> {
    rmp_serde::to_vec(v).map_err(|e| crate::Error::Serialization(e.to_string()))
}

/// Decodes a value that came from another node: in serde's form, or a buffer of plain
/// numbers in the one-`bin` form stored values travel in.
pub(crate) fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> crate::Result<T> {
    if let Some(v) = buffer::decode::<T>(bytes) {
        return v;
    }
    rmp_serde::from_slice(bytes).map_err(|e| crate::Error::Serialization(e.to_string()))
}

/// [`decode_as`] from bytes of its own: a byte buffer is moved out of them, not copied
/// (a ref's copy arriving from another node).
pub(crate) fn decode_owned_as<T: Serialize + DeserializeOwned + Send + Sync + 'static>(
    mut bytes: Vec<u8>,
) -> crate::Result<StoredValue> {
    match buffer::take_bytes::<T>(&mut bytes, 0) {
        Some(taken) => taken.map(stored),
        None => decode_as::<T>(&bytes),
    }
}

/// Decodes a value of type `T` into a stored value (a ref's copy arriving, a spilled
/// object restored).
pub(crate) fn decode_as<T: Serialize + DeserializeOwned + Send + Sync + 'static>(
    bytes: &[u8],
) -> crate::Result<StoredValue> {
    decode::<T>(bytes).map(stored)
}

/// Buffers of plain numbers travel as one MessagePack `bin` of their little-endian bytes
/// instead of an array of numbers encoded one by one (an array of bytes would cost up to
/// two bytes per byte, and the encoder's time per element).
pub(crate) mod buffer {
    use std::any::{Any, TypeId};
    use std::sync::Arc;

    use crate::store::INLINE_MAX;
    use crate::store::memory::AnyValue;
    use crate::transport::{Bulk, Piece};

    /// MessagePack's `bin 32` marker; the length follows as a big-endian `u32`.
    const BIN32: u8 = 0xc6;

    /// Appends a `bin` header for `payload_len` bytes and the bytes `fill` writes;
    /// `false` (nothing written) when the length does not fit a `bin 32`.
    fn bin(out: &mut Vec<u8>, payload_len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> bool {
        let Ok(len) = u32::try_from(payload_len) else {
            return false;
        };
        out.reserve(5 + payload_len);
        out.push(BIN32);
        out.extend_from_slice(&len.to_be_bytes());
        fill(out);
        true
    }

    fn payload(bytes: &[u8]) -> Option<&[u8]> {
        let (&marker, rest) = bytes.split_first()?;
        if marker != BIN32 || rest.len() < 4 {
            return None;
        }
        let (len, data) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        (data.len() == len).then_some(data)
    }

    /// The `bin` form of a large stored buffer of plain numbers (or an `Arc` of one, or
    /// a `ByteBuf`) without copying it: a header, then the buffer itself, shared. `None`
    /// for other values, small ones (copying them costs less than sharing), and numbers
    /// wider than a byte on a big-endian machine (their bytes are not the wire's).
    pub(super) fn share(v: &AnyValue) -> Option<Bulk> {
        fn headed(len: usize, piece: Piece) -> Option<Bulk> {
            let len32 = u32::try_from(len).ok()?;
            if len < INLINE_MAX {
                return None;
            }
            let mut head = Vec::with_capacity(5);
            head.push(BIN32);
            head.extend_from_slice(&len32.to_be_bytes());
            Some(Bulk::from_pieces([Arc::new(head) as Piece, piece]))
        }
        if let Ok(b) = v.clone().downcast::<Vec<u8>>() {
            return headed(b.len(), b);
        }
        if let Ok(b) = v.clone().downcast::<serde_bytes::ByteBuf>() {
            return headed(b.len(), b);
        }
        if let Ok(b) = v.clone().downcast::<Arc<Vec<u8>>>() {
            return headed(b.len(), Arc::clone(&*b) as Piece);
        }
        #[cfg(target_endian = "little")]
        {
            /// A buffer of numbers read as its little-endian bytes.
            struct LeBytes<E>(Arc<Vec<E>>);
            impl<E: bytemuck::Pod> AsRef<[u8]> for LeBytes<E> {
                fn as_ref(&self) -> &[u8] {
                    bytemuck::cast_slice(self.0.as_slice())
                }
            }
            macro_rules! numbers {
                ($($t:ty),*) => {$(
                    let b = v.clone().downcast::<Vec<$t>>().ok().or_else(|| {
                        v.clone().downcast::<Arc<Vec<$t>>>().ok().map(|a| Arc::clone(&*a))
                    });
                    if let Some(b) = b {
                        return headed(std::mem::size_of_val(b.as_slice()), Arc::new(LeBytes(b)));
                    }
                )*};
            }
            numbers!(i8, u16, i16, u32, i32, u64, i64, f32, f64);
        }
        None
    }

    /// Appends `v` in the one-`bin` form if it is a buffer of plain numbers (or an `Arc`
    /// of one); `false` (nothing written) otherwise.
    pub(crate) fn encode_into(v: &(dyn Any + Send + Sync), out: &mut Vec<u8>) -> bool {
        macro_rules! numbers {
            ($($t:ty),*) => {$(
                let b = v
                    .downcast_ref::<Vec<$t>>()
                    .or_else(|| v.downcast_ref::<Arc<Vec<$t>>>().map(|a| &**a));
                if let Some(b) = b {
                    return bin(out, std::mem::size_of_val(b.as_slice()), |out| {
                        for x in b {
                            out.extend_from_slice(&x.to_le_bytes());
                        }
                    });
                }
            )*};
        }
        if let Some(b) = v
            .downcast_ref::<Vec<u8>>()
            .or_else(|| v.downcast_ref::<Arc<Vec<u8>>>().map(|a| &**a))
        {
            return bin(out, b.len(), |out| out.extend_from_slice(b));
        }
        numbers!(i8, u16, i16, u32, i32, u64, i64, f32, f64);
        false
    }

    /// Whether `T` is `V`, or an `Arc` of it.
    fn wants<T: 'static, V: 'static>() -> bool {
        let want = TypeId::of::<T>();
        want == TypeId::of::<V>() || want == TypeId::of::<Arc<V>>()
    }

    /// `v` as a `T` that [`wants`] it.
    fn cast<T: 'static, V: 'static>(v: V) -> Option<crate::Result<T>> {
        let boxed: Box<dyn Any> = if TypeId::of::<T>() == TypeId::of::<Arc<V>>() {
            Box::new(Arc::new(v))
        } else {
            Box::new(v)
        };
        boxed.downcast::<T>().ok().map(|b| Ok(*b))
    }

    /// The `bin` that starts at `bytes[start]` and ends with them, as a `T` that is a byte
    /// buffer (`Vec<u8>`, `ByteBuf`, or an `Arc` of one), made of `bytes` themselves: the
    /// bytes before the buffer's data are removed in place. `None` (and `bytes` kept)
    /// for any other type or layout.
    pub(crate) fn take_bytes<T: 'static>(
        bytes: &mut Vec<u8>,
        start: usize,
    ) -> Option<crate::Result<T>> {
        if !(wants::<T, Vec<u8>>() || wants::<T, serde_bytes::ByteBuf>()) {
            return None;
        }
        payload(bytes.get(start..)?)?;
        let mut data = std::mem::take(bytes);
        data.drain(..start + 5);
        if wants::<T, Vec<u8>>() {
            cast::<T, _>(data)
        } else {
            cast::<T, _>(serde_bytes::ByteBuf::from(data))
        }
    }

    pub(crate) fn decode<T: 'static>(bytes: &[u8]) -> Option<crate::Result<T>> {
        if wants::<T, Vec<u8>>() {
            return cast::<T, _>(payload(bytes)?.to_vec());
        }
        macro_rules! numbers {
            ($($t:ty),*) => {$(
                if wants::<T, Vec<$t>>() {
                    let data = payload(bytes)?;
                    const W: usize = std::mem::size_of::<$t>();
                    if !data.len().is_multiple_of(W) {
                        return Some(Err(crate::Error::Serialization(format!(
                            "a buffer of {} bytes is not a whole number of `{}`",
                            data.len(),
                            stringify!($t)
                        ))));
                    }
                    let v: Vec<$t> = data
                        .chunks_exact(W)
                        .map(|c| {
                            let mut a = [0u8; W];
                            a.copy_from_slice(c);
                            <$t>::from_le_bytes(a)
                        })
                        .collect();
                    return cast::<T, _>(v);
                }
            )*};
        }
        numbers!(i8, u16, i16, u32, i32, u64, i64, f32, f64);
        None
    }
}

fn encode_as<T: Serialize + 'static>(v: &AnyValue) -> crate::Result<Encoded> {
    if let Some(bulk) = buffer::share(v) {
        return Ok(Encoded::Shared(bulk));
    }
    let mut out = Vec::new();
    if buffer::encode_into(v.as_ref(), &mut out) {
        return Ok(Encoded::Made(out));
    }
    let v = v
        .downcast_ref::<T>()
        .ok_or_else(|| crate::Error::Serialization("stored value has an unexpected type".into()))?;
    rmp_serde::to_vec(v)
        .map(Encoded::Made)
        .map_err(|e| crate::Error::Serialization(e.to_string()))
}

fn slice_bytes<E>(v: &[E]) -> usize {
    std::mem::size_of_val(v)
}

/// The accounted size of `v` in bytes.
pub(crate) fn size_of_value<T: Serialize + 'static>(v: &T) -> usize {
    // A type without drop glue owns no heap memory: its inline size is all of it.
    if !std::mem::needs_drop::<T>() {
        return std::mem::size_of::<T>();
    }
    let any = v as &dyn Any;
    macro_rules! buffers {
        ($($t:ty),*) => {$(
            if let Some(b) = any.downcast_ref::<Vec<$t>>() {
                return slice_bytes(b.as_slice());
            }
        )*};
    }
    buffers!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);
    if let Some(s) = any.downcast_ref::<String>() {
        return s.len();
    }
    if let Some(m) = any.downcast_ref::<Vec<Vec<f64>>>() {
        return m.iter().map(|r| slice_bytes(r.as_slice())).sum();
    }
    let mut counter = CountingWriter(0);
    // Counting cannot fail on the writer side; a value whose Serialize impl errors is
    // accounted with what was counted so far.
    let _ = rmp_serde::encode::write(&mut counter, v);
    counter.0
}

struct CountingWriter(usize);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_measured_without_encoding() {
        assert_eq!(size_of_value(&7i64), 8);
        assert_eq!(size_of_value(&vec![0u8; 1000]), 1000);
        assert_eq!(size_of_value(&vec![vec![1.0f64; 10]; 10]), 800);
        let nested = vec![("a".to_string(), 1u32); 3];
        assert!(size_of_value(&nested) >= 9);
    }

    fn round_trip<T>(v: T) -> T
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let s = stored(v);
        let bytes = (s.encode)(&s.value).unwrap().into_bulk().concat();
        let back = (s.decode)(&bytes).unwrap();
        (*back.value.downcast::<T>().unwrap()).clone()
    }

    #[test]
    fn buffers_travel_as_one_bin() {
        let bytes: Vec<u8> = (0..=255).collect();
        let s = stored(bytes.clone());
        let enc = (s.encode)(&s.value).unwrap().into_bulk().concat();
        assert_eq!(enc.len(), 5 + 256, "one header, one byte per byte");
        assert_eq!(round_trip(bytes), (0..=255).collect::<Vec<u8>>());
        assert_eq!(
            round_trip(vec![1.5f64, -2.0, f64::MAX]),
            vec![1.5, -2.0, f64::MAX]
        );
        assert_eq!(round_trip(vec![-7i32, 9]), vec![-7, 9]);
        assert_eq!(round_trip(Vec::<u64>::new()), Vec::<u64>::new());
        // Other values keep serde's encoding.
        assert_eq!(round_trip(vec!["a".to_string()]), vec!["a".to_string()]);
    }

    #[test]
    fn a_serde_encoded_buffer_still_decodes() {
        let serde_form = rmp_serde::to_vec(&vec![1u8, 2, 3]).unwrap();
        let back = decode_as::<Vec<u8>>(&serde_form).unwrap();
        assert_eq!(*back.value.downcast::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
        let torn = [BIN_TORN, 0, 0, 0, 9, 1];
        assert!(decode_as::<Vec<u8>>(&torn).is_err());
        let ragged = [0xc6, 0, 0, 0, 3, 1, 2, 3];
        assert!(decode_as::<Vec<u32>>(&ragged).is_err());
    }

    const BIN_TORN: u8 = 0xc6;

    #[test]
    fn large_buffers_are_sent_as_themselves() {
        let n = 1 << 20;
        let bytes = stored(serde_bytes::ByteBuf::from(vec![9u8; n]));
        let numbers = stored(vec![0.5f64; n / 8]);
        let shared = stored(Arc::new(vec![3u8; n]));
        for (s, data) in [
            (
                &bytes,
                bytes
                    .value
                    .downcast_ref::<serde_bytes::ByteBuf>()
                    .unwrap()
                    .as_ptr(),
            ),
            (
                &numbers,
                numbers
                    .value
                    .downcast_ref::<Vec<f64>>()
                    .unwrap()
                    .as_ptr()
                    .cast(),
            ),
            (
                &shared,
                shared
                    .value
                    .downcast_ref::<Arc<Vec<u8>>>()
                    .unwrap()
                    .as_ptr(),
            ),
        ] {
            let Encoded::Shared(bulk) = (s.encode)(&s.value).unwrap() else {
                panic!("a large buffer was copied");
            };
            let pieces = bulk.pieces();
            assert_eq!(pieces[0], [0xc6, 0, 0x10, 0, 0], "one bin 32 header");
            assert_eq!(pieces[1].as_ptr(), data, "the stored bytes themselves");
            // The receiver reads it as it reads a copy.
            let back = (s.decode)(&bulk.concat()).unwrap();
            assert_eq!(back.size, s.size);
        }
        assert_eq!(
            round_trip(vec![0.25f64; n / 8]),
            vec![0.25f64; n / 8],
            "numbers keep their values"
        );
        // A small buffer is copied: sharing costs more than that.
        let small = stored(vec![1u8; 10]);
        assert!(matches!(
            (small.encode)(&small.value).unwrap(),
            Encoded::Made(_)
        ));
    }
}
