#!/usr/bin/env bash
# The GPU goal cases measured on a bare GPU machine in one call: no cargo,
# no network. It takes a release binary built elsewhere (ATTRACTOR_BIN),
# sets up the Vulkan loader from Debian packages carried in .gl/ when the
# machine has none (scripts/fetch_vulkan_loader.sh fetches them), refuses
# to go on without a discrete GPU adapter, then times the GPU cases first,
# each built and uploaded once (`attractor bench`: every timed run is more
# steps of the same batch), then PyTorch's steps (eager and CUDA graphs)
# where torch imports. Every case writes one JSON line to OUT/device.jsonl
# as it ends; a case that fails is a line with its error, and the rest go
# on. About 4 minutes on an H200.
#
#   ATTRACTOR_BIN=path/to/attractor bash scripts/device_bench.sh OUT
#   bash scripts/device_bench.sh --dry-run OUT    (tiny sizes, any adapter,
#                                                  the software one too)
set -uo pipefail
dry=0
if [ "${1:-}" = "--dry-run" ]; then
  dry=1
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: scripts/device_bench.sh [--dry-run] OUT" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
bin=${ATTRACTOR_BIN:-}
if [ -z "$bin" ]; then
  for b in target/release/attractor target/debug/attractor; do
    if [ -x "$b" ]; then
      bin=$b
      break
    fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "device_bench: no attractor binary (set ATTRACTOR_BIN to a release build)" >&2
  exit 2
fi
jsonl="$out/device.jsonl"
: >"$jsonl"
log() { echo "== $*" >&2; }
record() { printf '%s\n' "$1" | tee -a "$jsonl"; }

# The Vulkan loader: wgpu finds no adapter without it.
if ! ldconfig -p 2>/dev/null | grep libvulkan >/dev/null; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    log "no Vulkan loader: unpacking .gl/*.deb"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    log "no Vulkan loader and no .gl/*.deb to unpack (scripts/fetch_vulkan_loader.sh fetches them)"
  fi
fi
want='"device_type": "discrete"' what="discrete GPU adapter"
if [ $dry = 1 ]; then
  want='"device_type"' what="GPU adapter"
fi
# The listing is read whole before it is searched: `grep -q` in a pipe stops
# reading at its first match, and the listing's later lines then fail to
# write, which pipefail reports as no adapter.
found() {
  local listing
  listing=$("$bin" devices --json 2>/dev/null) || return 1
  grep -q "$want" <<<"$listing"
}
if ! found && [ -z "${VK_DRIVER_FILES:-}" ] &&
  [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  log "no adapter: pointing VK_DRIVER_FILES at the NVIDIA driver"
fi
"$bin" devices --json >"$out/devices.json" 2>&1
if ! found; then
  echo "device_bench: no $what found; what wgpu sees:" >&2
  cat "$out/devices.json" >&2
  record "{\"error\": \"no $what found\"}" >/dev/null
  exit 1
fi
log "$(grep -m1 '"name"' "$out/devices.json")"

# One bench case: its JSON line, or a line with its error.
case_() {
  local name=$1
  shift
  local err="$out/case.err"
  local line
  if line=$(timeout "$limit" "$bin" bench --json --backend gpu --reps "$reps" \
    --seconds "$seconds" "$@" 2>"$err"); then
    record "$line"
  else
    local code=$?
    local why
    why=$(tail -n 3 "$err" | tr '\n"\\' '   ')
    record "{\"case\": \"$name\", \"exit\": $code, \"error\": \"$why\"}"
  fi
}

if [ $dry = 1 ]; then
  limit=120 reps=1 seconds=0.01
  log "dry run: the cases at tiny sizes"
  case_ "dense 64" --operator dense --n 64
  case_ "dense 64 B=5" --operator dense --n 64 --batch 5
  case_ "ring 4096" --operator ring --n 4096
  case_ "packed 4096 P=16" --operator packed --n 4096 --patterns 16
  case_ "gaussian 32^2" --operator gaussian --n 1024
  case_ "sparse 2000 K=20 lognormal" --operator sparse --n 2000 --degree 20 --degree-spread lognormal
  peers=(--n 64)
  sparse_peer=(--n 2000 --degree 20 --steps 5)
else
  limit=150 reps=3 seconds=0.2
  log "the GPU goal cases"
  case_ "dense 16384" --operator dense --n 16384
  case_ "dense 16384 B=64" --operator dense --n 16384 --batch 64
  case_ "dense 4096 B=64" --operator dense --n 4096 --batch 64
  case_ "dense 512" --operator dense --n 512
  case_ "ring 10^7" --operator ring --n 10000000
  case_ "ring 10^8" --operator ring --n 100000000
  case_ "packed 10^6 P=10^5" --operator packed --n 1000000 --patterns 100000
  case_ "gaussian 1024^2" --operator gaussian --n 1048576
  case_ "torus 4096^2" --operator torus --n 16777216
  case_ "sparse 10^6 K=50" --operator sparse --n 1000000 --degree 50
  case_ "sparse 10^6 K=50 lognormal" --operator sparse --n 1000000 --degree 50 --degree-spread lognormal
  peers=(--n 512 4096 16384)
  sparse_peer=(--n 1000000 --degree 50 --steps 100)
fi

if python3 -c 'import torch' 2>/dev/null; then
  log "peer: PyTorch, eager and CUDA graphs"
  for args in "${peers[*]}" "--n 16384 --batch 64" "--n 4096 --batch 64"; do
    if [ $dry = 1 ] && [ "$args" != "${peers[*]}" ]; then
      continue
    fi
    # shellcheck disable=SC2086
    timeout 120 python3 benches/peers/torch_step.py $args --steps 100 2>>"$out/torch.err" |
      while IFS= read -r l; do record "$l"; done
  done
  if python3 -c 'import scipy' 2>/dev/null; then
    log "peer: torch.sparse_csr_tensor on the GPU"
    device=cuda
    python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null || device=cpu
    # shellcheck disable=SC2068
    timeout 120 python3 benches/peers/sparse_step.py ${sparse_peer[@]} --peers torch \
      --device "$device" 2>>"$out/torch.err" | while IFS= read -r l; do record "$l"; done
  fi
else
  log "PyTorch does not import: no GPU peer"
fi
log "results: $jsonl"
