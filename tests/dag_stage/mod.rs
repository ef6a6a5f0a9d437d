//! The actor the compiled-graph tests build their graphs from (`tests/dag_*.rs`).

use std::time::Duration;

pub struct Stage {
    add: i64,
    calls: u64,
}

#[ray::remote]
impl Stage {
    pub fn new(add: i64) -> Self {
        Stage { add, calls: 0 }
    }
    /// Counted in `calls`.
    pub fn run(&mut self, x: i64) -> i64 {
        self.calls += 1;
        x * 2 + self.add
    }
    pub fn sum(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    pub fn calls(&self) -> u64 {
        self.calls
    }
    pub fn node(&self) -> ray::NodeId {
        ray::runtime_context().node_id()
    }
    /// Fails for a negative `x`; counted in `calls`.
    pub fn checked(&mut self, x: i64) -> Result<i64, String> {
        self.calls += 1;
        if x < 0 {
            Err(format!("{x} is negative"))
        } else {
            Ok(x)
        }
    }
    pub fn explode(&mut self, x: i64) -> i64 {
        if x == 13 {
            panic!("unlucky {x}");
        }
        x
    }
    pub fn nap(&self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
    pub fn ping(&self) -> String {
        "pong".into()
    }
    pub async fn later(&self, x: i64) -> i64 {
        actix_rt::time::sleep(Duration::from_millis(1)).await;
        x + 100
    }
    /// Counted in `calls`.
    pub async fn later_mut(&mut self, x: i64) -> Result<i64, String> {
        self.calls += 1;
        actix_rt::task::yield_now().await;
        if x < 0 { Err("negative".into()) } else { Ok(x) }
    }
}
