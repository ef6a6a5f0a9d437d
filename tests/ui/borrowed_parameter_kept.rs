// A borrowed parameter lends the stored object for the call only: it cannot be kept
// past it, here in a static.
use std::sync::Mutex;

static KEPT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[ray::remote]
fn remember(name: &str) -> usize {
    let mut kept = KEPT.lock().unwrap();
    kept.push(name);
    kept.len()
}

fn main() {}
