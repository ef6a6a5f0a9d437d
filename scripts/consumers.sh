#!/usr/bin/env bash
# Builds ray-core as users get it, from crates outside this workspace
# (tests/consumers/*): with default features it builds and runs the quickstart; with
# `default-features = false, features = ["macros"]` its lock file names neither wgpu nor
# actix-web nor quinn, and it runs too. Then `cargo publish --dry-run` for both crates
# (macros first). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# Shares the workspace's target directory: dependencies built with the same features
# and profile are reused. Each consumer starts from the workspace's lock file, so it
# builds the versions the tests ran with.
export CARGO_TARGET_DIR="$root/target"
for c in default minimal; do
  dir="tests/consumers/$c"
  cp Cargo.lock "$dir/Cargo.lock"
  (cd "$dir" && cargo build --bins --quiet)
done
# default features: the quickstart's output, as the README shows it.
out="$("$CARGO_TARGET_DIR/debug/quickstart")"
expected=$'[0, 1, 4, 9]\n10\n10000.0\n1000000.0'
[ "$out" = "$expected" ] || { echo "quickstart printed: $out" >&2; exit 1; }
# no default features: nothing heavy in the lock file, and it still works.
# (the lock file was pruned to what the minimal crate uses by its build above)
for heavy in wgpu actix-web quinn; do
  if grep -qx "name = \"$heavy\"" tests/consumers/minimal/Cargo.lock; then
    echo "default-features = false still pulls $heavy" >&2
    exit 1
  fi
done
(cd tests/consumers/minimal && cargo run --quiet --bin quickstart >/dev/null &&
  cargo run --quiet --bin no-cluster)
rm -f tests/consumers/*/Cargo.lock
# rust-version: no dependency in the lock file needs a newer Rust than we declare (our
# own use of the standard library is held to it by clippy's incompatible_msrv lint).
cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json, sys
m = json.load(sys.stdin)
ver = lambda v: tuple(int(x) for x in v.split("."))
ours = ver(next(p["rust_version"] for p in m["packages"] if p["name"] == "ray-core"))
newer = [(p["name"], p["rust_version"]) for p in m["packages"]
         if p.get("rust_version") and ver(p["rust_version"]) > ours]
if newer:
    sys.exit(f"dependencies need a newer Rust than rust-version: {newer}")
'
# The dry run verifies ray-core against the macros crate it just packaged, as a registry
# crate of the same version as an earlier run's; cargo treats registry crates as
# immutable, so it would reuse that run's unpacked copy and build, and check ray-core
# against the old macros (a local-only failure; a clean clone has neither). Drop both.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ray-core-macros-*
cargo clean --quiet -p ray-core-macros
cargo publish --workspace --dry-run --allow-dirty --quiet
echo "consumers: default and minimal builds run; publish dry run passes"
