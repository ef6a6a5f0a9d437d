//! Request streams: a frame, then optionally a payload (`read_message`), and a
//! channel's frames (`read_frame_or_end`).

use super::Rng;
use crate::transport::{
    Chunks, FIRST_CHUNK, MAX_PAYLOAD_BYTES, TransportError, WireMessage, decode_frame,
    read_frame_or_end, read_message,
};

/// Bytes in memory handed out as a QUIC stream does, in uneven pieces (their sizes from
/// a seed), checking at every read that the reader's buffer holds no more than twice
/// what arrived in it, or [`FIRST_CHUNK`]: nothing allocated from a declared length.
struct Pieces<'a> {
    data: &'a [u8],
    sizes: Rng,
}

impl Pieces<'_> {
    fn check(buf: &[u8], capacity: usize) {
        assert!(
            capacity <= FIRST_CHUNK.max(2 * buf.len()),
            "a buffer of {capacity} bytes for {} that arrived",
            buf.len()
        );
    }
}

impl Chunks for Pieces<'_> {
    async fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> Result<bool, TransportError> {
        assert!(max > 0, "a read of nothing");
        Self::check(buf, buf.capacity());
        if self.data.is_empty() {
            return Ok(false);
        }
        let r = self.sizes.next();
        let size = 1 + (r % [1, 7, 300, 70_000][(r >> 62) as usize]) as usize;
        let (piece, rest) = self.data.split_at(size.min(max).min(self.data.len()));
        buf.extend_from_slice(piece);
        self.data = rest;
        Self::check(buf, buf.capacity());
        Ok(true)
    }
}

/// `read_message` (a request stream: a frame, then nothing or a payload's length as a
/// big-endian `u64` and that many bytes) on `stream` handed out in uneven pieces.
pub fn read_message_in_pieces(
    stream: &[u8],
    seed: u64,
) -> Result<(WireMessage, Vec<u8>), TransportError> {
    let mut pieces = Pieces {
        data: stream,
        sizes: Rng::new(seed),
    };
    futures::executor::block_on(read_message(&mut pieces))
}

/// `read_frame_or_end` until the stream ends or an error (a channel's frames) on
/// `stream` handed out in uneven pieces: the frames read, and the error if any.
pub fn read_frames_in_pieces(
    stream: &[u8],
    seed: u64,
) -> (Vec<WireMessage>, Option<TransportError>) {
    let mut pieces = Pieces {
        data: stream,
        sizes: Rng::new(seed),
    };
    let mut frames = Vec::new();
    loop {
        match futures::executor::block_on(read_frame_or_end(&mut pieces)) {
            Ok(Some(m)) => frames.push(m),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// What the stream readers must give, from the whole stream at once (`decode_frame`):
/// the next frame and the bytes it used, `None` at the end.
fn frame_whole(stream: &[u8]) -> Result<Option<(WireMessage, usize)>, TransportError> {
    if stream.is_empty() {
        return Ok(None);
    }
    match decode_frame(stream)? {
        Some(found) => Ok(Some(found)),
        None if stream.len() < 4 => Err(TransportError::Truncated {
            expected: 4,
            got: stream.len(),
        }),
        None => {
            let n = u32::from_be_bytes([stream[0], stream[1], stream[2], stream[3]]);
            Err(TransportError::Truncated {
                expected: 4 + n as usize,
                got: stream.len(),
            })
        }
    }
}

fn message_whole(stream: &[u8]) -> Result<(WireMessage, Vec<u8>), TransportError> {
    let (msg, used) = frame_whole(stream)?.ok_or(TransportError::Truncated {
        expected: 4,
        got: 0,
    })?;
    let rest = &stream[used..];
    let Some((len, data)) = rest.split_first_chunk::<8>() else {
        if rest.is_empty() {
            return Ok((msg, Vec::new()));
        }
        return Err(TransportError::Truncated {
            expected: 8,
            got: rest.len(),
        });
    };
    let len = u64::from_be_bytes(*len);
    if len > MAX_PAYLOAD_BYTES as u64 {
        return Err(TransportError::FrameTooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    match data.get(..len as usize) {
        Some(payload) => Ok((msg, payload.to_vec())),
        None => Err(TransportError::Truncated {
            expected: len as usize,
            got: data.len(),
        }),
    }
}

/// A message compared by its encoding (a NaN in it equals itself).
fn encoded(msg: &WireMessage) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(msg).map_err(|e| e.to_string())
}

fn same_message(
    a: &Result<(WireMessage, Vec<u8>), TransportError>,
    b: &Result<(WireMessage, Vec<u8>), TransportError>,
) -> bool {
    match (a, b) {
        (Ok((ma, pa)), Ok((mb, pb))) => pa == pb && encoded(ma) == encoded(mb),
        (Err(ea), Err(eb)) => ea == eb,
        _ => false,
    }
}

/// The `bulk` target: the framing of a request stream (a frame, then optionally a
/// big-endian `u64` payload length and that many bytes) and of a channel (frames until
/// the stream ends), read as QUIC delivers them: in uneven pieces.
///
/// The first byte chooses: bit 0, a channel's frames instead of one request; bit 1,
/// zeros appended (bits 4-7 times 16 KiB, up to 240 KiB: payloads and frames past the
/// 64 KiB first chunk from a short input); all its bits, the sizes of the pieces. The
/// reading in pieces must give what the same bytes give read whole (message, payload,
/// or the same error), and a reader's buffer never holds more than twice what arrived
/// in it or 64 KiB (an 8 GiB payload declared and 10 bytes sent take 64 KiB).
pub fn bulk(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let padded;
    let stream = if mode & 2 != 0 {
        padded = [rest, &vec![0u8; usize::from(mode >> 4) << 14]].concat();
        &padded[..]
    } else {
        rest
    };
    let seed = u64::from(mode) << 32 | stream.len() as u64;
    if mode & 1 == 0 {
        let got = read_message_in_pieces(stream, seed);
        let want = message_whole(stream);
        assert!(
            same_message(&got, &want),
            "read in pieces: {got:?}\nread whole: {want:?}"
        );
        return;
    }
    let (frames, error) = read_frames_in_pieces(stream, seed);
    let mut at = 0;
    for (i, frame) in frames.iter().enumerate() {
        match frame_whole(&stream[at..]) {
            Ok(Some((msg, used))) if encoded(&msg) == encoded(frame) => at += used,
            other => panic!("frame {i} read in pieces: {frame:?}\nread whole: {other:?}"),
        }
    }
    let end = frame_whole(&stream[at..]);
    match (&error, &end) {
        (None, Ok(None)) => {}
        (Some(e), Err(w)) if e == w => {}
        _ => panic!(
            "after {} frames, in pieces: {error:?}\nwhole: {end:?}",
            frames.len()
        ),
    }
}
