//! Ray's Monte Carlo π example: sampling tasks report progress to a progress actor while
//! the driver polls it, then the estimate is computed from the tasks' results.
//!
//! Run: `cargo run --release --example monte_carlo_pi` (`MC_SAMPLES=100000` for a quick
//! run with fewer samples per task).

use std::collections::HashMap;
use std::time::Duration;

use ray::prelude::*;

/// Tracks how many samples each task has done.
pub struct ProgressActor {
    total: u64,
    done: HashMap<u32, u64>,
}

#[ray::remote]
impl ProgressActor {
    pub fn new(total: u64) -> Self {
        ProgressActor {
            total,
            done: HashMap::new(),
        }
    }

    pub fn report(&mut self, task: u32, samples: u64) {
        self.done.insert(task, samples);
    }

    pub fn progress(&self) -> f64 {
        self.done.values().sum::<u64>() as f64 / self.total as f64
    }
}

/// A small xorshift generator: no dependency needed for uniform samples.
fn next(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

#[ray::remote]
fn sampling_task(samples: u64, task: u32, progress: ActorHandle<ProgressActor>) -> u64 {
    let mut state =
        0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(task) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut inside = 0;
    for i in 0..samples {
        let (x, y) = (next(&mut state), next(&mut state));
        if x * x + y * y <= 1.0 {
            inside += 1;
        }
        if (i + 1) % 1_000_000 == 0 {
            progress.report.remote(task, i + 1);
        }
    }
    progress.report.remote(task, samples);
    inside
}

fn main() -> ray::Result<()> {
    const TASKS: u32 = 10;
    // Samples per task; `MC_SAMPLES` lowers it for quick runs (the test uses it).
    let samples: u64 = std::env::var("MC_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    ray::init()?;
    let progress = ProgressActor::remote(u64::from(TASKS) * samples);
    let results: Vec<ObjectRef<u64>> = (0..TASKS)
        .map(|t| sampling_task.remote(samples, t, progress.clone()))
        .collect();
    loop {
        let p = ray::get(&progress.progress.remote())?;
        println!("Progress: {}%", (p * 100.0) as u32);
        if p >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let inside: u64 = ray::get(&results)?.iter().sum();
    let pi = 4.0 * inside as f64 / (f64::from(TASKS) * samples as f64);
    println!("Estimated value of π is: {pi}");
    ray::shutdown();
    Ok(())
}
