#[ray::remote]
fn square(x: i64) -> i64 {
    x * x
}

fn main() {
    let _ = square.remote("seven");
}
