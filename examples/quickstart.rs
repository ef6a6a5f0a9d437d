//! The seed program: tasks, an actor and objects on the embedded runtime.
//!
//! Run with `cargo run --release --example quickstart`. Prints:
//! `[0, 1, 4, 9]`, `10`, `10000.0`, `1000000.0`.

use ray::prelude::*;

#[ray::remote]
fn square(x: i64) -> i64 {
    x * x
}

pub struct Counter {
    i: i64,
}

#[ray::remote]
impl Counter {
    pub fn new() -> Self {
        Counter { i: 0 }
    }
    pub fn get(&self) -> i64 {
        self.i
    }
    pub fn incr(&mut self, value: i64) {
        self.i += value
    }
}

#[ray::remote]
fn sum_matrix(matrix: Vec<Vec<f64>>) -> f64 {
    matrix.iter().flatten().sum()
}

fn main() -> ray::Result<()> {
    ray::init()?; // optional: first use auto-inits
    let futures: Vec<ObjectRef<i64>> = (0..4).map(|i| square.remote(i)).collect();
    println!("{:?}", ray::get(&futures)?); // [0, 1, 4, 9]

    let c: ActorHandle<Counter> = Counter::remote(); // args of `new` go here
    for _ in 0..10 {
        c.incr.remote(1); // ordered, fire-and-forget
    }
    println!("{}", ray::get(&c.get.remote())?); // 10

    println!(
        "{:?}",
        ray::get(&sum_matrix.remote(vec![vec![1.0; 100]; 100]))?
    ); // 10000.0
    // `sum_matrix` takes its matrix owned: each call copies the stored one. Declared
    // `matrix: &[Vec<f64>]`, it would read the stored matrix in place.
    let matrix_ref = ray::put(vec![vec![1.0; 1000]; 1000]);
    println!("{:?}", ray::get(&sum_matrix.remote(&matrix_ref))?); // 1000000.0
    ray::shutdown();
    Ok(())
}
