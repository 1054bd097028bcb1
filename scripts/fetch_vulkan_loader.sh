#!/usr/bin/env bash
# Fetches the Vulkan loader as Debian packages (amd64) into .gl/, for
# scripts/device_bench.sh to unpack on a GPU machine that has the NVIDIA
# driver but no loader (and no network). Run it here, where apt reaches its
# mirrors; .gl/ stays out of git (.git/info/exclude) and travels as a
# carried folder.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
# shellcheck disable=SC2086
apt-get $o update -qq
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1)
ls -la .gl
