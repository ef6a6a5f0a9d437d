//! A work queue drained by a pool of actors: a feeder task puts work into a bounded
//! `ray::util::Queue` (it waits whenever the workers fall behind), and a
//! `ray::util::ActorPool` of workers takes items until each reads the end marker.
//! Every result is checked against the same work done here.
//!
//! Run: `cargo run --release --example work_queue`

use ray::util::{ActorPool, Queue};

/// How many primes are below `limit`.
fn primes_below(limit: u64) -> u64 {
    (2..limit)
        .filter(|n| (2..).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .count() as u64
}

/// A unit of work (`Some(limit)`: count the primes below it), or the end (`None`).
type Work = Option<u64>;

pub struct Worker {
    id: usize,
}

#[ray::remote]
impl Worker {
    pub fn new(id: usize) -> Self {
        Worker { id }
    }

    /// Takes work from `queue` until the end marker: (its id, items done, primes found).
    pub fn drain(&self, queue: Queue<Work>) -> ray::Result<(usize, usize, u64)> {
        let (mut items, mut primes) = (0, 0);
        while let Some(limit) = queue.get()? {
            items += 1;
            primes += primes_below(limit);
        }
        Ok((self.id, items, primes))
    }
}

/// Puts every item, then one end marker per worker; returns how many items it put.
#[ray::remote]
fn feed(queue: Queue<Work>, limits: Vec<u64>, workers: usize) -> ray::Result<usize> {
    for limit in &limits {
        queue.put(Some(*limit))?;
    }
    for _ in 0..workers {
        queue.put(None)?;
    }
    Ok(limits.len())
}

fn main() -> ray::Result<()> {
    ray::init()?;
    let workers = 4;
    let limits: Vec<u64> = (0..400).map(|i| 2_000 + 50 * i).collect();
    // Bounded: the feeder waits while 16 items are queued.
    let queue: Queue<Work> = Queue::new(16)?;
    let fed = feed.remote(queue.clone(), limits.clone(), workers);

    let mut pool = ActorPool::new((0..workers).map(Worker::remote));
    let drains = (0..workers).map(|_| queue.clone());
    let (mut items, mut primes) = (0, 0);
    for done in pool.map_unordered(|w, q| w.drain.remote(q), drains) {
        let (id, n, p) = done?;
        println!("worker {id}: {n} items");
        items += n;
        primes += p;
    }
    assert_eq!(items, ray::get(&fed)?);
    let expected: u64 = limits.iter().map(|l| primes_below(*l)).sum();
    assert_eq!(primes, expected, "every item counted exactly once");
    println!("{items} items, {primes} primes below their limits in all");
    queue.shutdown();
    ray::shutdown();
    Ok(())
}
