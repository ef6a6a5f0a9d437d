//! The fuzz targets' entry points (`ray::fuzz`: what each of `fuzz/fuzz_targets/*.rs`
//! calls) on 20,000 pseudo-random and mutated valid inputs each, with a fixed seed, on
//! stable: they keep building and passing where `cargo fuzz` (nightly) does not run.
//! Valid inputs must read back: written arguments, encoded compiled-graph parts (checked
//! against the documented limits), and well-formed request streams and channels.

use ray::__private::{ArgReader, ArgsWriter};
use ray::IntoArg;
use ray::fuzz;
use ray::transport::{DagPartSpec, TransportError, WireMessage, decode_frame, encode_frame};
use serde_bytes::ByteBuf;

const INPUTS: usize = 20_000;

/// xorshift64*: the inputs, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// `bytes` with a few bytes changed, maybe cut short or grown.
    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..1 + self.below(3) {
            if bytes.is_empty() {
                break;
            }
            let at = self.below(bytes.len());
            bytes[at] ^= 1 << self.below(8);
        }
        match self.below(4) {
            0 => bytes.truncate(self.below(bytes.len() + 1)),
            1 => bytes.extend((0..self.below(16)).map(|_| self.next() as u8)),
            _ => {}
        }
        bytes
    }
}

/// `mode` then `body`: an entry point's input.
fn input(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut data = vec![mode];
    data.extend_from_slice(body);
    data
}

fn put<T: ray::Value>(w: &mut ArgsWriter, v: T) {
    IntoArg::<T>::into_arg(v)
        .for_encode(false)
        .unwrap()
        .write(w)
        .unwrap();
}

#[test]
fn written_arguments_read_back_borrowed_and_owned() {
    let big = vec![7u8; 200_000];
    let mut w = ArgsWriter::default();
    put(&mut w, 7u64);
    put(&mut w, "seven".to_string());
    put(&mut w, vec![1.5f64, f64::NAN]);
    put(&mut w, (-7i32, "x".to_string()));
    put(&mut w, Some(vec!["a".to_string(), String::new()]));
    put(&mut w, ByteBuf::from(big.clone()));
    let bytes = w.finish().concat();
    let read = |mut r: ArgReader<'_>| {
        assert_eq!(r.read::<u64>().unwrap(), 7);
        assert_eq!(r.read::<String>().unwrap(), "seven");
        let f = r.read::<Vec<f64>>().unwrap();
        assert_eq!(f[0], 1.5);
        assert!(f[1].is_nan());
        assert_eq!(r.read::<(i32, String)>().unwrap(), (-7, "x".to_string()));
        assert_eq!(
            r.read::<Option<Vec<String>>>().unwrap(),
            Some(vec!["a".to_string(), String::new()])
        );
        let last = r.read::<ByteBuf>().unwrap();
        assert_eq!(last.as_slice(), big.as_slice());
        r.finish().unwrap();
        last.as_ptr() as usize
    };
    read(ArgReader::new(&bytes[..]));
    let owned = bytes.clone();
    let at = owned.as_ptr() as usize;
    assert_eq!(
        read(ArgReader::new(owned)),
        at,
        "taken in place, not copied"
    );

    // Mutated: the fuzz entry point reads them as u64, String, Vec<f64>, (i32, String),
    // Option<Vec<String>>, ByteBuf (mode 0: raw bytes, 6 arguments), borrowed and owned.
    let kinds = [0u8, 1, 4, 6, 7, 3];
    let mut rng = Rng(0x5eed_0001);
    let small = &bytes[..bytes.len() - big.len() - 13];
    for _ in 0..2_000 {
        let mutated = rng.mutate(small.to_vec());
        fuzz::args(&input(5 << 5, &[&kinds[..], &mutated].concat()));
    }
}

#[test]
fn args_entry_point_takes_random_and_mutated_inputs() {
    let mut rng = Rng(0x5eed_0002);
    for i in 0..INPUTS {
        let mut data = rng.bytes(300);
        if let Some(mode) = data.first_mut() {
            // Every mode, the large buffer in one input of eight.
            *mode = (*mode & !7) | (i % 8) as u8;
            if i % 64 >= 8 {
                *mode &= !4;
            }
        }
        fuzz::args(&data);
    }
}

#[test]
fn compiled_graph_parts_decode_and_are_checked_against_the_limits() {
    let mut rng = Rng(0x5eed_0003);
    let mut refused = 0;
    for _ in 0..2_000 {
        let spec: DagPartSpec = fuzz::dag_part_from(&rng.bytes(200));
        let msg = WireMessage::DagPart { part: spec.clone() };
        let frame = encode_frame(&msg).unwrap();
        let (back, used) = decode_frame(&frame).unwrap().unwrap();
        assert_eq!((back, used), (msg, frame.len()));
        // SECURITY.md: 1 to 1,024 in flight, 1 to 4,096 steps.
        let fits = (1..=4096).contains(&spec.ops.len()) && (1..=1024).contains(&spec.max_inflight);
        let why = fuzz::dag_part_refusal(&spec);
        assert_eq!(
            why.is_none(),
            fits,
            "{why:?} for {} steps, {} in flight",
            spec.ops.len(),
            spec.max_inflight
        );
        refused += usize::from(why.is_some());
        // The frame mutated, as raw bytes to the entry point.
        fuzz::dag_part(&input(0, &rng.mutate(frame)));
    }
    assert!(
        (100..1_900).contains(&refused),
        "{refused} refused: both kinds are made"
    );
    for i in 0..INPUTS {
        let mut data = rng.bytes(300);
        if let Some(mode) = data.first_mut() {
            *mode = (*mode & !3) | (i % 4) as u8;
        }
        fuzz::dag_part(&data);
    }
}

/// A request stream: `msg`'s frame, then the payload's length and bytes, if any.
fn request(msg: &WireMessage, payload: Option<&[u8]>) -> Vec<u8> {
    let mut out = encode_frame(msg).unwrap();
    if let Some(p) = payload {
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn value(edge: u32, bytes: &[u8]) -> WireMessage {
    WireMessage::DagValue {
        edge,
        result: Ok(ByteBuf::from(bytes.to_vec())),
    }
}

#[test]
fn well_formed_streams_read_in_any_pieces_and_bad_ones_fail_alike() {
    let msg = value(3, b"frame");
    for size in [0, 1, 10, 65_535, 65_536, 65_537, 300_000] {
        let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let stream = request(&msg, Some(&payload));
        for seed in 0..8 {
            let (got, data) = fuzz::read_message_in_pieces(&stream, seed).unwrap();
            assert_eq!(got, msg);
            assert_eq!(data, payload, "{size} bytes, seed {seed}");
        }
    }
    // No payload at all; a frame larger than the first chunk.
    let stream = request(&msg, None);
    assert_eq!(
        fuzz::read_message_in_pieces(&stream, 1).unwrap(),
        (msg.clone(), Vec::new())
    );
    let large = value(4, &vec![9u8; 200_000]);
    assert_eq!(
        fuzz::read_message_in_pieces(&request(&large, None), 2).unwrap(),
        (large.clone(), Vec::new())
    );
    // 8 GiB declared, 10 bytes sent: an error, and (checked by the reader) 64 KiB taken.
    let mut stream = request(&msg, None);
    stream.extend_from_slice(&(8u64 << 30).to_be_bytes());
    stream.extend_from_slice(&[1; 10]);
    assert_eq!(
        fuzz::read_message_in_pieces(&stream, 3),
        Err(TransportError::Truncated {
            expected: 8 << 30,
            got: 10
        })
    );
    // A channel: frames until the stream ends.
    let frames = [msg.clone(), large, value(5, b"")];
    let stream: Vec<u8> = frames.iter().flat_map(|m| request(m, None)).collect();
    for seed in 0..4 {
        assert_eq!(
            fuzz::read_frames_in_pieces(&stream, seed),
            (frames.to_vec(), None)
        );
    }
    let (read, error) = fuzz::read_frames_in_pieces(&stream[..stream.len() - 1], 0);
    assert_eq!(read.len(), 2);
    assert!(matches!(error, Some(TransportError::Truncated { .. })));

    // Mutated well-formed streams and random bytes: in pieces as whole.
    let mut rng = Rng(0x5eed_0004);
    let valid = request(&msg, Some(b"payload"));
    for i in 0..INPUTS {
        let data = if i % 2 == 0 {
            // One request or a channel, no padding.
            input(
                (i % 4 / 2) as u8 | (rng.next() as u8 & 0xf0 & !2),
                &rng.mutate(valid.clone()),
            )
        } else {
            let mut data = rng.bytes(200);
            if let Some(mode) = data.first_mut() {
                // Padding (up to 240 KiB) in one input of sixteen.
                if i % 32 != 1 {
                    *mode &= !2;
                }
            }
            data
        };
        fuzz::bulk(&data);
    }
}
