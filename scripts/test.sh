#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: formatting, lints, then
# every unit, integration and doc test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The GPU backend talks Vulkan through wgpu. Where no Vulkan driver is
# installed, Mesa's software driver (lavapipe) provides a real adapter that
# runs the shaders on the CPU.
have_vulkan_driver() {
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$f" ] && return 0
  done
  return 1
}
if ! have_vulkan_driver; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "no Vulkan driver found: installing mesa-vulkan-drivers (software adapter)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  else
    echo "no Vulkan driver found; install mesa-vulkan-drivers (or a GPU driver) for the GPU tests" >&2
  fi
fi

cargo fmt --all -- --check
cargo fmt --manifest-path python/Cargo.toml -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --manifest-path python/Cargo.toml --all-targets -- -D warnings
# The API docs build without broken links.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# The benchmarks at their smallest sizes, as a smoke test that they work.
ATTRACTOR_BENCH_SMALL=1 cargo bench --bench step -- --test
cargo test
# The GPU machine's kit, end to end at tiny sizes on this machine's adapter.
ATTRACTOR_BIN=target/debug/attractor bash scripts/device_bench.sh --dry-run target/device-dry-run
# The Python package: installed into a fresh virtualenv by the README's
# command (pip builds it with maturin), then its tests, which check it
# against the binary `cargo test` just built.
bash scripts/python_test.sh
# The cluster path against a real Slurm scheduler (needs root).
bash scripts/slurm_test.sh
