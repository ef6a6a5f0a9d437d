//! Any bytes a peer may send, through the frame decoder and the streaming frame reader:
//! they must give a message, "need more bytes" or an error, never a panic, a hang or an
//! allocation beyond the frame limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ray::transport::{FrameReader, decode_frame};

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame(data);
    // The same bytes arriving in uneven pieces, as a QUIC stream delivers them.
    let step = data.first().map_or(1, |b| usize::from(*b % 7) + 1);
    let mut reader = FrameReader::new();
    for piece in data.chunks(step) {
        reader.extend(piece);
        loop {
            match reader.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = reader.finish();
});
