#!/usr/bin/env bash
# The one test command (README, `.ci/run`): installs what the tests need, then runs
# formatting and lint checks, the whole test suite (one process per test, so every test
# gets a fresh runtime) and the doc examples, and a smoke run of the microbenchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

export CARGO_TERM_COLOR=never
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
# The example binaries (target/debug/examples/NAME) are run by tests as a user would run
# them; `--all-targets` alone builds examples only as test harnesses.
cargo build --examples --bins
cargo nextest run --all-targets --no-fail-fast
# Doc examples share the process-wide runtime: run them one at a time.
cargo test --doc -- --test-threads=1
# The microbenchmark must keep working; timings are not checked here.
BENCH_SCALE=0.01 BENCH_REPEATS=1 cargo run --example microbenchmark >/dev/null
