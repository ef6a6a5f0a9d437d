// A borrowed parameter lends the stored object for the call only: a thread that may
// outlive the call cannot take it.
#[ray::remote]
fn total(values: &[f64]) -> f64 {
    let handle = std::thread::spawn(move || values.iter().sum::<f64>());
    handle.join().unwrap_or_default()
}

fn main() {}
