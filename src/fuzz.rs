//! The per-input bodies of the `cargo fuzz` targets in `fuzz/` (each target is one call
//! to a function here), also run on fixed pseudo-random inputs by
//! `tests/fuzz_targets_smoke.rs`, so that they build and pass on stable. Not a public API.
//!
//! Each takes any bytes, as a peer may send them, and panics only when a decoder breaks a
//! promise: a panic inside it, a value that does not read back as it was written, a
//! reading that depends on how the bytes were split or whose they are, or memory taken
//! from a length a peer only declared.

mod args;
mod bulk;
mod dag_part;

pub use args::args;
pub use bulk::{bulk, read_frames_in_pieces, read_message_in_pieces};
pub use dag_part::{dag_part, dag_part_from, dag_part_refusal};

/// Small numbers from a seed (xorshift64*): chunk sizes.
pub(super) struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The fuzzer's bytes read as the choices of a builder; zeros once they run out.
pub(super) struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub(super) fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub(super) fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    pub(super) fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }

    pub(super) fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.u8() % 48);
        self.take(n).to_vec()
    }

    pub(super) fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}
