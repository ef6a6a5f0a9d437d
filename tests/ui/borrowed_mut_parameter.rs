// The stored object a task reads is shared: a parameter cannot borrow it mutably.
#[ray::remote]
fn scale(values: &mut Vec<f64>, by: f64) {
    for v in values.iter_mut() {
        *v *= by;
    }
}

fn main() {}
