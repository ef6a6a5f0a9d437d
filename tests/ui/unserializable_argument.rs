#[ray::remote]
fn read(file: std::fs::File) -> u64 {
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

fn main() {}
