//! Profiling driver: submits batches of 10,000 trivial tasks and waits for them (or, with
//! `MODE=sync`, submits and waits one at a time; `MODE=chain`, runs chains of 1,000
//! dependent tasks; `MODE=actor`, 10,000 actor calls then their results), for `perf record` or callgrind. Run: `cargo run --release --example profile_tasks`.

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
    let t = std::time::Instant::now();
    if std::env::var("MODE").is_ok_and(|m| m == "actor") {
        let sink = Sink::remote();
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let refs: Vec<_> = (0..10_000).map(|_| sink.ping.remote()).collect();
            ray::get(&refs)?;
        }
        println!(
            "{:.0} calls/s",
            (rounds * 10_000) as f64 / t.elapsed().as_secs_f64()
        );
        ray::shutdown();
        return Ok(());
    }
    if std::env::var("MODE").is_ok_and(|m| m == "chain") {
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            let mut r = add_one.remote(0u64);
            for _ in 1..1000 {
                r = add_one.remote(&r);
            }
            assert_eq!(ray::get(&r)?, 1000);
            println!("chain of 1000: {:?}", t.elapsed());
        }
        ray::shutdown();
        return Ok(());
    }
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
