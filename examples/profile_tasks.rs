//! Profiling driver: submits batches of 10,000 trivial tasks and waits for them (or, with
//! `MODE=sync`, submits and waits one at a time), for `perf record` or callgrind. Run: `cargo run --release --example profile_tasks`.

#[ray::remote]
fn noop() -> u8 {
    0
}

fn main() -> ray::Result<()> {
    ray::init_with(ray::Config::new().num_cpus(2.0))?;
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let t = std::time::Instant::now();
    let sync = std::env::var("MODE").is_ok_and(|m| m == "sync");
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
    println!("{:.0} tasks/s", n as f64 / t.elapsed().as_secs_f64());
    ray::shutdown();
    Ok(())
}
