//! The argument-list decoder (`ArgReader`) on any bytes: raw, written by `ArgsWriter` and
//! read back, or written and mutated; borrowed and owned (a large byte buffer last taken
//! in place) must agree. The modes are described at `ray::fuzz::args`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ray::fuzz::args(data));
