//! The framing of request streams (a frame, then a big-endian `u64` payload length and
//! that many bytes) and of channels (frames until the end), handed out in uneven pieces
//! as QUIC delivers them: the same result as the bytes read whole, and no buffer larger
//! than twice what arrived or the 64 KiB first chunk. See `ray::fuzz::bulk`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ray::fuzz::bulk(data));
