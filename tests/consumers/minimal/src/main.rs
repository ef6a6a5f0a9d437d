//! Without the `cluster` feature a cluster address is an `Err` naming the feature, and
//! the embedded runtime still runs.

fn main() {
    let address = format!("ray://token@127.0.0.1:6379#{}", "ab".repeat(32));
    let err = ray::init_with(ray::Config::new().address(address))
        .expect_err("an address needs the cluster feature");
    assert!(err.to_string().contains("`cluster` feature"), "{err}");
    ray::init().expect("the embedded runtime");
    assert_eq!(ray::get(&ray::put(7u8)).expect("a put"), 7);
    println!("no cluster: {err}");
}
