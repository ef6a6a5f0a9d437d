//! Profiling driver: submits batches of 10,000 trivial tasks and waits for them (or, with
//! `MODE=sync`, submits and waits one at a time; `MODE=chain`, runs chains of 1,000
//! dependent tasks; `MODE=actor`, 10,000 actor calls then their results), for `perf
//! record`. Run: `cargo run --release --example profile_tasks`.
//!
//! It also counts heap allocations (a counting global allocator) and prints them per
//! operation: unlike time on this shared VM, that figure does not move between runs, so
//! it shows what a change to the hot path saved.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The system allocator, counting calls and bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations and bytes since `from`, per one of `ops` operations.
fn per_op(from: (u64, u64), ops: usize) -> String {
    let (a, b) = (ALLOCS.load(Relaxed) - from.0, BYTES.load(Relaxed) - from.1);
    format!(
        "{:.1} allocations and {:.0} bytes allocated per op",
        a as f64 / ops as f64,
        b as f64 / ops as f64
    )
}

fn counters() -> (u64, u64) {
    (ALLOCS.load(Relaxed), BYTES.load(Relaxed))
}

#[ray::remote]
fn noop() -> u8 {
    0
}

#[ray::remote]
fn add_one(x: u64) -> u64 {
    x + 1
}

/// A counter actor for `MODE=actor`.
pub struct Sink {
    n: u64,
}

#[ray::remote]
impl Sink {
    pub fn new() -> Self {
        Sink { n: 0 }
    }
    pub fn ping(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() -> ray::Result<()> {
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    if std::env::var("MODE").is_ok_and(|m| m == "actor") {
        let sink = Sink::remote();
        ray::get(&sink.ping.remote())?;
        let t = std::time::Instant::now();
        let from = counters();
        for _ in 0..rounds {
            let refs: Vec<_> = (0..10_000).map(|_| sink.ping.remote()).collect();
            ray::get(&refs)?;
        }
        println!(
            "{:.0} calls/s; {}",
            (rounds * 10_000) as f64 / t.elapsed().as_secs_f64(),
            per_op(from, rounds * 10_000)
        );
        ray::shutdown();
        return Ok(());
    }
    if std::env::var("MODE").is_ok_and(|m| m == "chain") {
        let from = counters();
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            let mut r = add_one.remote(0u64);
            for _ in 1..1000 {
                r = add_one.remote(&r);
            }
            assert_eq!(ray::get(&r)?, 1000);
            println!("chain of 1000: {:?}", t.elapsed());
        }
        println!("{}", per_op(from, rounds * 1000));
        ray::shutdown();
        return Ok(());
    }
    let sync = std::env::var("MODE").is_ok_and(|m| m == "sync");
    // One warm-up round: threads and tables grow once.
    let warm: Vec<_> = (0..10_000).map(|_| noop.remote()).collect();
    ray::get(&warm)?;
    let t = std::time::Instant::now();
    let from = counters();
    for _ in 0..rounds {
        if sync {
            for _ in 0..10_000 {
                ray::get(&noop.remote())?;
            }
        } else {
            let refs: Vec<_> = (0..10_000).map(|_| noop.remote()).collect();
            ray::get(&refs)?;
        }
    }
    let n = rounds * 10_000;
    println!(
        "{:.0} tasks/s; {}",
        n as f64 / t.elapsed().as_secs_f64(),
        per_op(from, n)
    );
    ray::shutdown();
    Ok(())
}
