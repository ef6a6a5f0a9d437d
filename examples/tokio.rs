//! `ray` in a tokio program: `#[tokio::main]`, tasks and actor calls `.await`ed, refs
//! awaited from `tokio::spawn`ed tasks, and an async task doing tokio I/O.
//!
//! Run: `cargo run --example tokio`

use std::time::Duration;

use ray::prelude::*;

#[ray::remote]
fn square(x: u64) -> u64 {
    x * x
}

/// Async tasks run on tokio threads: tokio's timer and sockets work in them.
#[ray::remote]
async fn fetch(id: u64) -> String {
    tokio::time::sleep(Duration::from_millis(20)).await;
    format!("record {id}")
}

pub struct Totals {
    sum: u64,
}

#[ray::remote]
impl Totals {
    pub fn new() -> Self {
        Totals { sum: 0 }
    }

    pub fn add(&mut self, x: u64) -> u64 {
        self.sum += x;
        self.sum
    }
}

#[tokio::main]
async fn main() -> ray::Result<()> {
    ray::init()?;
    // Refs are futures: await them here, or move them into spawned tokio tasks.
    let mut spawned = Vec::new();
    for i in 0..4 {
        let r = square.remote(i);
        spawned.push(tokio::spawn(async move { r.await }));
    }
    let mut squares = Vec::new();
    for h in spawned {
        squares.push(h.await.expect("a spawned tokio task")?);
    }
    println!("squares: {squares:?}"); // [0, 1, 4, 9]

    // An actor created without blocking the runtime, then called in order.
    let totals = Totals::options().name("totals").remote_async().await?;
    for s in &squares {
        let _ = totals.add.remote(*s); // fire and forget: calls stay in order
    }
    println!("total: {}", totals.add.remote(0).await?); // 14

    // Many async tasks at once, awaited together.
    let records: Vec<_> = (0..3).map(|i| fetch.remote(i)).collect();
    let (ready, _) = ray::wait_async(&records, 3, Some(Duration::from_secs(10))).await?;
    for r in ready {
        println!("{}", r.await?);
    }
    ray::shutdown();
    Ok(())
}
