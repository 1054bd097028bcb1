#!/usr/bin/env bash
# Builds and installs the Python package (python/) into a fresh virtualenv
# with the README's command, then runs its tests (pytest). The tests compare
# it with the `attractor` binary: ATTRACTOR_BIN, else target/debug or
# target/release.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing python3-venv" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
  fi
fi

venv=target/python-venv
rm -rf "$venv"
python3 -m venv "$venv"
# The extension shares the engine's build folder (its release dependencies
# are those of `cargo build --release`).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" "$venv/bin/pip" install --quiet "./python[test]"
target="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${ATTRACTOR_BIN:-}" ]; then
  for p in "$target/debug/attractor" "$target/release/attractor"; do
    if [ -x "$p" ]; then export ATTRACTOR_BIN="$p"; break; fi
  done
fi
# Run from outside the source folder, so that the installed package (not
# python/attractor without its native module) is the one imported.
cd python/tests
"../../$venv/bin/python" -m pytest -q .
