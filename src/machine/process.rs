//! This process's CPU time and resident memory, read from `/proc/self` into buffers on
//! the stack: what each node samples every second for the dashboard's plots, so a read
//! allocates nothing (two small file reads, ~10 µs; zero where `/proc` is missing). The
//! machine's memory is read the same way, once (`machine_memory`).

use std::io::Read as _;

/// Clock ticks per second of `/proc/self/stat`'s times (`USER_HZ`, 100 on every Linux
/// architecture Rust targets).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's CPU time so far (user and system, every thread), in seconds.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let mut buf = [0u8; 1024];
    let text = read("/proc/self/stat", &mut buf)?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields
    // after the last `)`. There, field 3 (the state) is the first; utime and stime are
    // fields 14 and 15.
    let at = text.iter().rposition(|b| *b == b')')?;
    let mut fields = text[at + 1..]
        .split(|b| *b == b' ')
        .filter(|f| !f.is_empty());
    let utime = number(fields.nth(11)?)?;
    let stime = number(fields.next()?)?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// The process's resident memory (`VmRSS`), in bytes.
pub(crate) fn rss_bytes() -> Option<u64> {
    kib_line("/proc/self/status", b"VmRSS:")
}

/// A `KEY: N kB` line of a /proc file (`/proc/self/status`, `/proc/meminfo`), in bytes,
/// read into a buffer on the stack (the key must be in the file's first 4 KiB).
pub(super) fn kib_line(path: &str, key: &[u8]) -> Option<u64> {
    let mut buf = [0u8; 4096];
    let text = read(path, &mut buf)?;
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let line = text[at..].split(|b| *b == b'\n').next()?;
    let kib = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|f| !f.is_empty())?;
    Some(number(kib)? * 1024)
}

/// The start of file `path` (as much as fits in `buf`).
fn read<'a>(path: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(&buf[..len])
}

/// A decimal number in ASCII.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}
