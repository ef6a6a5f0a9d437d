//! One stream's bytes: a request or answer is a frame, then (optionally) a big-endian
//! `u64` payload length and that many bytes, then the end of the stream; a channel is
//! frames until the end. The readers take bytes from any [`Chunks`] source (a QUIC
//! stream, or bytes in memory for the fuzz targets, `crate::fuzz`) and never allocate
//! from a length the peer only declared.

#[cfg(feature = "cluster")]
use quinn::{RecvStream, SendStream};

#[cfg(feature = "cluster")]
use super::encode_frame;
use super::{MAX_FRAME_BYTES, TransportError, WireMessage, decode_body};

#[cfg(feature = "cluster")]
pub(super) async fn write_frame(
    send: &mut SendStream,
    msg: &WireMessage,
) -> Result<(), TransportError> {
    write_message(send, msg, &[]).await
}

/// One frame, then the bulk payload (`pieces`, one after another), then the end of the
/// stream.
#[cfg(feature = "cluster")]
pub(super) async fn write_message(
    send: &mut SendStream,
    msg: &WireMessage,
    pieces: &[&[u8]],
) -> Result<(), TransportError> {
    let mut head = encode_frame(msg)?;
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    if len > 0 {
        // The payload's length goes first, so the reader allocates it once.
        head.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let closed = |e: quinn::WriteError| TransportError::Closed(e.to_string());
    send.write_all(&head).await.map_err(closed)?;
    for piece in pieces {
        send.write_all(piece).await.map_err(closed)?;
    }
    let _ = send.finish();
    Ok(())
}

/// Largest bulk payload accepted on one stream.
pub const MAX_PAYLOAD_BYTES: usize = 8 << 30;

/// Where the readers below take a stream's bytes from: a QUIC stream, or bytes in memory
/// (the fuzz targets' entry points, `crate::fuzz`).
pub(crate) trait Chunks {
    /// Appends at most `max` (at least 1) of the next bytes to `buf`; `false`, with
    /// nothing appended, once the stream ended.
    async fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<bool, TransportError>;
}

#[cfg(feature = "cluster")]
impl Chunks for RecvStream {
    async fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<bool, TransportError> {
        let chunk = self
            .read_chunk(max, true)
            .await
            .map_err(|e| TransportError::Closed(e.to_string()))?;
        match chunk {
            Some(chunk) => {
                buf.extend_from_slice(&chunk.bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Exactly `N` bytes; `None` when the stream ends before the first of them.
async fn read_head<const N: usize>(
    recv: &mut impl Chunks,
) -> Result<Option<[u8; N]>, TransportError> {
    let mut got = Vec::with_capacity(N);
    while got.len() < N {
        let want = N - got.len();
        if !recv.read_into(&mut got, want).await? {
            if got.is_empty() {
                return Ok(None);
            }
            return Err(TransportError::Truncated {
                expected: N,
                got: got.len(),
            });
        }
    }
    let mut head = [0u8; N];
    head.copy_from_slice(&got);
    Ok(Some(head))
}

/// One frame and the bulk data after it: nothing (the stream ends), or its length as
/// a big-endian `u64` and that many bytes, read into one buffer of that size.
pub(crate) async fn read_message(
    recv: &mut impl Chunks,
) -> Result<(WireMessage, Vec<u8>), TransportError> {
    let msg = read_frame(recv).await?;
    let Some(len) = read_head::<8>(recv).await? else {
        return Ok((msg, Vec::new()));
    };
    let len = u64::from_be_bytes(len);
    if len > MAX_PAYLOAD_BYTES as u64 {
        return Err(TransportError::FrameTooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    // `len <= MAX_PAYLOAD_BYTES`, checked just above.
    let payload = read_growing(recv, len as usize, 0).await?;
    Ok((msg, payload))
}

/// What is set aside for bytes a peer announced before any of them arrived.
pub(crate) const FIRST_CHUNK: usize = 64 << 10;

/// Reads exactly `len` bytes (`before` already read, for errors), growing the buffer as
/// they arrive: nothing is allocated from a length the peer only declared.
async fn read_growing(
    recv: &mut impl Chunks,
    len: usize,
    before: usize,
) -> Result<Vec<u8>, TransportError> {
    let mut buf = Vec::with_capacity(len.min(FIRST_CHUNK));
    while buf.len() < len {
        let want = len - buf.len();
        if !recv.read_into(&mut buf, want).await? {
            return Err(TransportError::Truncated {
                expected: before + len,
                got: before + buf.len(),
            });
        }
    }
    Ok(buf)
}

pub(super) async fn read_frame(recv: &mut impl Chunks) -> Result<WireMessage, TransportError> {
    read_frame_or_end(recv)
        .await?
        .ok_or(TransportError::Truncated {
            expected: 4,
            got: 0,
        })
}

/// The next frame, or `None` when the peer finished the stream before one began (a
/// persistent `Channel` ends so).
pub(crate) async fn read_frame_or_end(
    recv: &mut impl Chunks,
) -> Result<Option<WireMessage>, TransportError> {
    let Some(len) = read_head::<4>(recv).await? else {
        return Ok(None);
    };
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME_BYTES {
        return Err(TransportError::FrameTooLarge {
            len: n,
            max: MAX_FRAME_BYTES,
        });
    }
    let body = read_growing(recv, n, 4).await?;
    decode_body(&body).map(Some)
}
