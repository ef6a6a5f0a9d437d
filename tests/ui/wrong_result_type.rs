#[ray::remote]
fn name() -> String {
    "ray".into()
}

fn main() {
    let n: u32 = ray::get(&name.remote()).unwrap();
    let _ = n;
}
