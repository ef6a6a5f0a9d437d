//! The typed API rejects misuse at compile time, pointing at the user's line: each file
//! in `tests/ui/` must fail to compile with the output in its `.stderr` file (regenerate
//! them after a compiler upgrade with `TRYBUILD=overwrite`).

#[test]
fn misuses_of_the_typed_api_fail_to_compile_at_the_users_line() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
