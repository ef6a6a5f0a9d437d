//! How many bytes a value occupies, for the store's accounting. Buffers of plain data are
//! measured in O(1); other values by counting their MessagePack encoding (what they would
//! cost on the wire), without allocating.

use std::any::Any;
use std::sync::Arc;

use serde::Serialize;

use super::StoredValue;

/// Wraps a value for the store, measuring it once.
pub(crate) fn stored<T: Serialize + Send + Sync + 'static>(value: T) -> StoredValue {
    let size = size_of_value(&value);
    StoredValue {
        value: Arc::new(value),
        size,
        encode: encode_as::<T>,
    }
}

fn encode_as<T: Serialize + 'static>(v: &(dyn Any + Send + Sync)) -> crate::Result<Vec<u8>> {
    let v = v
        .downcast_ref::<T>()
        .ok_or_else(|| crate::Error::Serialization("stored value has an unexpected type".into()))?;
    rmp_serde::to_vec(v).map_err(|e| crate::Error::Serialization(e.to_string()))
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
}
