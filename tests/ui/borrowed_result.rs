// A result is stored and may travel: it cannot borrow from a parameter.
#[ray::remote]
fn first(values: &[f64]) -> &f64 {
    &values[0]
}

fn main() {}
