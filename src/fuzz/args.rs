//! Argument lists (`ArgReader`).

use std::sync::Arc;

use serde_bytes::ByteBuf;

use super::Input;
use crate::store::INLINE_MAX;
use crate::tasks::{ArgReader, ArgsWriter, IntoArg, Value};

/// One argument, of one of the types the `args` target reads.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    U64(u64),
    Str(String),
    Bytes(Vec<u8>),
    Buf(ByteBuf),
    /// A `Vec<f64>`, kept as the numbers' bits (NaN equals itself).
    F64s(Vec<u64>),
    U32s(Vec<u32>),
    Pair(i32, String),
    Strings(Option<Vec<String>>),
    Shared(Arc<Vec<u8>>),
}

/// How many argument types there are.
const KINDS: u8 = 9;

impl Val {
    fn kind(&self) -> u8 {
        match self {
            Val::U64(_) => 0,
            Val::Str(_) => 1,
            Val::Bytes(_) => 2,
            Val::Buf(_) => 3,
            Val::F64s(_) => 4,
            Val::U32s(_) => 5,
            Val::Pair(..) => 6,
            Val::Strings(_) => 7,
            Val::Shared(_) => 8,
        }
    }

    /// Where a byte buffer's bytes are (to see one taken in place).
    fn data_at(&self) -> Option<usize> {
        match self {
            Val::Bytes(b) => Some(b.as_ptr() as usize),
            Val::Buf(b) => Some(b.as_ptr() as usize),
            Val::Shared(b) => Some(b.as_ptr() as usize),
            _ => None,
        }
    }

    /// A value of type `kind`, made from the fuzzer's bytes.
    fn make(inp: &mut Input<'_>, kind: u8) -> Val {
        let count = |inp: &mut Input<'_>| usize::from(inp.u8() % 8);
        match kind % KINDS {
            0 => Val::U64(inp.u64()),
            1 => Val::Str(inp.string()),
            2 => Val::Bytes(inp.bytes()),
            3 => Val::Buf(ByteBuf::from(inp.bytes())),
            4 => Val::F64s((0..count(inp)).map(|_| inp.u64()).collect()),
            5 => Val::U32s((0..count(inp)).map(|_| inp.u32()).collect()),
            6 => Val::Pair(inp.u32() as i32, inp.string()),
            7 => Val::Strings(
                (inp.u8() & 1 == 1).then(|| (0..count(inp)).map(|_| inp.string()).collect()),
            ),
            _ => Val::Shared(Arc::new(inp.bytes())),
        }
    }

    /// A byte buffer of at least [`INLINE_MAX`] bytes (what a reader of its own bytes
    /// takes in place when it comes last).
    fn large(inp: &mut Input<'_>) -> Val {
        let kind = inp.u8();
        let mut data = vec![inp.u8(); INLINE_MAX + usize::from(inp.u8()) * 17];
        let head = inp.bytes();
        data[..head.len()].copy_from_slice(&head);
        match kind % 3 {
            0 => Val::Bytes(data),
            1 => Val::Buf(ByteBuf::from(data)),
            _ => Val::Shared(Arc::new(data)),
        }
    }

    /// Appends this argument as a call to another node does.
    fn write(&self, w: &mut ArgsWriter) -> crate::Result<()> {
        fn put<T: Value>(w: &mut ArgsWriter, v: T) -> crate::Result<()> {
            IntoArg::<T>::into_arg(v).for_encode(false)?.write(w)
        }
        match self.clone() {
            Val::U64(v) => put(w, v),
            Val::Str(v) => put(w, v),
            Val::Bytes(v) => put(w, v),
            Val::Buf(v) => put(w, v),
            Val::F64s(v) => put(w, v.into_iter().map(f64::from_bits).collect::<Vec<_>>()),
            Val::U32s(v) => put(w, v),
            Val::Pair(a, b) => put(w, (a, b)),
            Val::Strings(v) => put(w, v),
            Val::Shared(v) => put(w, v),
        }
    }

    /// Reads the next argument as type `kind`.
    fn read(r: &mut ArgReader<'_>, kind: u8) -> crate::Result<Val> {
        Ok(match kind % KINDS {
            0 => Val::U64(r.read()?),
            1 => Val::Str(r.read()?),
            2 => Val::Bytes(r.read()?),
            3 => Val::Buf(r.read()?),
            4 => Val::F64s(r.read::<Vec<f64>>()?.iter().map(|x| x.to_bits()).collect()),
            5 => Val::U32s(r.read()?),
            6 => {
                let (a, b) = r.read()?;
                Val::Pair(a, b)
            }
            7 => Val::Strings(r.read()?),
            _ => Val::Shared(r.read()?),
        })
    }
}

/// What reading `kinds` from `r`, then `finish`, gave.
type Reading = (Vec<Result<Val, String>>, Result<(), String>);

fn read_all(mut r: ArgReader<'_>, kinds: &[u8]) -> Reading {
    let vals = kinds
        .iter()
        .map(|k| Val::read(&mut r, *k).map_err(|e| e.to_string()))
        .collect();
    (vals, r.finish().map_err(|e| e.to_string()))
}

/// Reads `bytes` as the arguments `kinds`, borrowed and owned (where a large byte buffer
/// last is taken in place): both must read the same.
fn read_both(kinds: &[u8], bytes: &[u8]) -> Reading {
    let borrowed = read_all(ArgReader::new(bytes), kinds);
    let owned = read_all(ArgReader::new(bytes.to_vec()), kinds);
    assert_eq!(borrowed, owned, "borrowed and owned bytes read differently");
    borrowed
}

/// The `args` target: the argument-list decoder ([`ArgReader`]) on any bytes.
///
/// The first byte chooses: bits 0-1 the mode, bit 2 a large byte buffer last (at least
/// `INLINE_MAX` bytes: the owned reader's in-place path), bit 3 a wrong `bin` length
/// in it (raw mode), bits 5-7 how many arguments (1 to 8; their types are the next
/// bytes). Modes: 0 and 3, the rest of the input is the argument bytes themselves;
/// 1, values made from the input are written by [`ArgsWriter`] and must read back the
/// same, owned and borrowed, with nothing left (a large buffer last is taken in place);
/// 2, the same bytes mutated by the rest of the input. Every reading is done on borrowed
/// and on owned bytes, and both must agree.
pub fn args(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut inp = Input(rest);
    let kinds: Vec<u8> = (0..=mode >> 5).map(|_| inp.u8() % KINDS).collect();
    let large = mode & 4 != 0;
    if matches!(mode & 3, 0 | 3) {
        let mut bytes = inp.0.to_vec();
        if large {
            // `[len u64][0xc6][be u32 n][n bytes]`, with `n` off by one if asked.
            let n = INLINE_MAX + usize::from(mode >> 5) * 4099;
            let declared = n as u32 + u32::from(mode >> 3 & 1);
            bytes.extend_from_slice(&(5 + n as u64).to_le_bytes());
            bytes.push(0xc6);
            bytes.extend_from_slice(&declared.to_be_bytes());
            bytes.resize(bytes.len() + n, mode);
        }
        let _ = read_both(&kinds, &bytes);
        return;
    }
    let mut vals: Vec<Val> = kinds.iter().map(|k| Val::make(&mut inp, *k)).collect();
    if large {
        vals.push(Val::large(&mut inp));
    }
    let kinds: Vec<u8> = vals.iter().map(Val::kind).collect();
    let mut w = ArgsWriter::default();
    for v in &vals {
        if let Err(e) = v.write(&mut w) {
            panic!("{v:?} does not encode: {e}");
        }
    }
    let mut bytes = w.finish().concat();
    if mode & 3 == 2 {
        // Mutated: a byte changed at each position the input names, maybe cut short.
        while inp.0.len() >= 3 && !bytes.is_empty() {
            let at = usize::from(u16::from_le_bytes([inp.u8(), inp.u8()])) % bytes.len();
            bytes[at] ^= inp.u8().max(1);
        }
        if inp.u8() & 1 == 1 {
            let keep = usize::from(inp.u8()) % (bytes.len() + 1);
            bytes.truncate(keep);
        }
        let _ = read_both(&kinds, &bytes);
        return;
    }
    // Written, then read back: the same values, nothing left.
    let want: Reading = (vals.iter().cloned().map(Ok).collect(), Ok(()));
    assert_eq!(
        read_both(&kinds, &bytes),
        want,
        "arguments do not read back"
    );
    if let Some(last) = kinds.last() {
        let mut fewer = ArgReader::new(&bytes[..]);
        for k in &kinds[..kinds.len() - 1] {
            assert!(Val::read(&mut fewer, *k).is_ok());
        }
        assert!(
            fewer.finish().is_err(),
            "an argument left over is not reported"
        );
        let mut more = ArgReader::new(&bytes[..]);
        for k in &kinds {
            assert!(Val::read(&mut more, *k).is_ok());
        }
        assert!(
            Val::read(&mut more, *last).is_err(),
            "a missing argument reads"
        );
    }
    if large {
        // Owned bytes: the large buffer last is those bytes, moved, not copied.
        let at = bytes.as_ptr() as usize;
        let mut r = ArgReader::new(bytes);
        for k in &kinds[..kinds.len() - 1] {
            assert!(Val::read(&mut r, *k).is_ok());
        }
        let last = Val::read(&mut r, kinds[kinds.len() - 1]).map(|v| v.data_at());
        assert!(
            matches!(last, Ok(Some(p)) if p == at),
            "a large byte buffer last was copied"
        );
    }
}
