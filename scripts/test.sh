#!/usr/bin/env bash
# The one test command (README, `.ci/run`): installs what the tests need, then runs
# formatting and lint checks, the whole test suite (one process per test, so every test
# gets a fresh runtime) and the doc examples, and a smoke run of the microbenchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

# GPU tests run on a real wgpu adapter; without a GPU that is Mesa's lavapipe (software
# Vulkan). The dashboard test renders the page in headless Chromium. Installed here when
# missing and run as root, otherwise named.
# The multi-host tests put each host in a network namespace (iproute2's `ip netns`).
packages=(mesa-vulkan-drivers libvulkan1 chromium iproute2)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${packages[*]} (lavapipe, Chromium, ip) for the GPU, browser and multi-host tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
  else
    echo "the GPU and browser tests need: apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
  fi
fi
# lavapipe reports itself as a CPU: the GPU tests let it count as a GPU themselves
# (RAY_GPU_ALLOW_SOFTWARE=1 set in-process), so every other test keeps a GPU-less node.
# Mesa warns without a private XDG_RUNTIME_DIR.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)" # mode 0700
  export XDG_RUNTIME_DIR
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

export CARGO_TERM_COLOR=never
cargo fmt --all --check
# One profile, every feature: the tests cover the GPU, the CLI and the dashboard. The
# library must also build (warning-free) with no feature at all.
cargo clippy --lib --no-default-features -- -D warnings
cargo clippy --all-targets --all-features -- -D warnings
# The example binaries (target/debug/examples/NAME) are run by tests as a user would run
# them; `--all-targets` alone builds examples only as test harnesses.
cargo build --examples --bins --all-features
cargo nextest run --all-targets --all-features --no-fail-fast
# Doc examples share the process-wide runtime: run them one at a time.
# The GPU doc examples use GPU 0: lavapipe counts as one here.
RAY_GPU_ALLOW_SOFTWARE=1 cargo test --doc --all-features -- --test-threads=1
# The API docs as docs.rs builds them (every feature), without a broken link.
RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps --quiet
# The crate as users get it: default features and macros-only builds outside the
# workspace, the lock file's rust-version, `cargo publish --dry-run`.
scripts/consumers.sh
# The microbenchmark must keep working; timings are not checked here.
BENCH_SCALE=0.01 BENCH_REPEATS=1 cargo run --all-features --example microbenchmark >/dev/null
BENCH_SCALE=0.01 BENCH_REPEATS=1 cargo run --all-features --example dag_bench >/dev/null
