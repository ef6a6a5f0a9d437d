#!/usr/bin/env bash
# Cold builds of a user's crate that depends on ray-core (tests/consumers/*), each in an
# empty target directory, as `cargo build` of a new project would run: default features,
# and `default-features = false, features = ["macros"]`. Prints seconds and crates
# compiled per build, for BENCHMARKS.md ("Build times"). The registry's sources must be
# downloaded already (any earlier build did that); nothing else is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
profile_args=()
[ "${PROFILE:-dev}" = release ] && profile_args=(--release)
for c in default minimal; do
  dir="tests/consumers/$c"
  target="$(mktemp -d)"
  cp Cargo.lock "$dir/Cargo.lock"
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR="$target" cargo build --bins "${profile_args[@]}" --quiet)
  end=$(date +%s.%N)
  crates=$(grep -c '^name = ' "$dir/Cargo.lock")
  printf '%s: %.0f s, %d packages in the lock file (%s, %s cores)\n' \
    "$c" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$crates" "${PROFILE:-dev}" "$(nproc)"
  rm -rf "$target" "$dir/Cargo.lock"
done
