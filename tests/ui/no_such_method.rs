pub struct Counter {
    n: u64,
}

#[ray::remote]
impl Counter {
    pub fn new() -> Self {
        Counter { n: 0 }
    }

    pub fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn main() {
    let c = Counter::remote();
    let _ = c.decr.remote();
}
