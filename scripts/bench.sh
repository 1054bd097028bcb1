#!/usr/bin/env bash
# Measures everything BENCHMARKS.md reports, on this machine, in one run:
# `attractor bench` at its default sizes (with the plot), the CPU's dense
# step at N = 8192, the GPU goals' cases when a hardware GPU is present
# (dense N = 16384 at B = 1 and 64, N = 4096 at B = 64, N = 512, rings of
# 10^7 and 10^8 neurons, Hebbian, the dense row kernel's shapes), the CPU's
# structured steps from N = 512 to 10^7, and the peers in benches/peers
# (numpy; JAX and PyTorch where they are installed) on the same machine in
# the same run.
#
#   bash scripts/bench.sh [OUT]      (OUT defaults to bench-results)
#
# Every case is one JSON line in OUT/bench.jsonl. The script builds the
# release binary with cargo; on a machine without a Rust toolchain, copy a
# release build there and name it in ATTRACTOR_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results}
mkdir -p "$out"
if [ -z "${ATTRACTOR_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin=${ATTRACTOR_BIN:-target/release/attractor}
jsonl="$out/bench.jsonl"
: >"$jsonl"

log() { echo "== $*" >&2; }
bench() { "$bin" bench --json "$@" | tee -a "$jsonl"; }

log "machine: $(uname -m), $(nproc) threads, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- || true)"
"$bin" devices | tee "$out/devices.txt" >&2

log "attractor bench (default sizes)"
bench --plot "$out/bench.png"
log "CPU dense N = 8192"
bench --backend cpu --operator dense --n 8192
log "CPU ring: time per step against N"
bench --backend cpu --operator ring --n 512 --n 4096 --n 65536 --n 262144 --n 1000000 \
  --n 4194304 --n 10000000 --plot "$out/ring_scaling.png"
log "CPU Hebbian: N = 2000 with P = 100, N = 10^4 with P = 500"
bench --backend cpu --operator hebbian --n 2000 --patterns 100
bench --backend cpu --operator hebbian --n 10000 --patterns 500
log "CPU Mexican hat on a sheet (FFT) and the cosine torus: 256², 1024²"
bench --backend cpu --operator gaussian --n 65536 --n 1048576
bench --backend cpu --operator torus --n 65536 --n 1048576

if "$bin" devices --json | grep '"device_type": "\(discrete\|integrated\)"' >/dev/null; then
  log "hardware GPU: the goal cases"
  bench --backend gpu --operator dense --n 512 --n 16384
  bench --backend gpu --operator dense --n 16384 --batch 64
  bench --backend gpu --operator dense --n 4096 --batch 64
  bench --backend gpu --operator ring --n 65536 --n 1048576 --n 10000000 --n 100000000
  bench --backend gpu --operator hebbian --n 16384 --n 1048576
  bench --backend gpu --operator gaussian --n 65536 --n 1048576
  bench --backend gpu --operator torus --n 65536 --n 1048576 --n 16777216
  bench --backend gpu --operator dense --n 4096 --n 16384 --tune
fi

if python3 -c 'import numpy' 2>/dev/null; then
  log "peers: the structured steps in numpy (and JAX where it is installed)"
  python3 benches/peers/structured_step.py --operator ring --n 512 4096 65536 1000000 \
    --attractor "$bin" | tee -a "$jsonl"
  python3 benches/peers/structured_step.py --operator hebbian --n 2000 --patterns 100 | tee -a "$jsonl"
  python3 benches/peers/structured_step.py --operator hebbian --n 10000 --patterns 500 | tee -a "$jsonl"
  # The continuous Hopfield network as users run it (current dynamics,
  # tanh(4 I)), beside the engine's own run of it, alternated 3 times.
  for round in 1 2 3; do
    for case in "2000 100 1.0" "10000 500 0.25"; do
      set -- $case
      log "Hopfield N = $1, P = $2, round $round: attractor run, then numpy and JAX"
      "$bin" run examples/pattern_completion.toml --backend cpu --set network.n="$1" \
        --set network.weights.patterns="$2" --set network.activation.beta=4.0 \
        --set 'simulation.precision="f32"' --set 'simulation.method="euler"' \
        --set simulation.duration="$3" --set simulation.record_every=100 \
        --out "$out/hopfield" 2>&1 | grep steps
      python3 benches/peers/structured_step.py --operator hebbian --dynamics current \
        --activation tanh --beta 4 --n "$1" --patterns "$2" | tee -a "$jsonl"
    done
  done
  log "peer: numpy"
  python3 benches/peers/numpy_step.py --n 1024 4096 8192 --steps 200 | tee -a "$jsonl"
  # A shared machine's memory bandwidth drifts within seconds, so the dense
  # N = 8192 comparison alternates the two, 7 times each, and compares
  # medians.
  log "CPU dense N = 8192 against numpy, alternating"
  alt="$out/alternating.jsonl"
  : >"$alt"
  for _ in 1 2 3 4 5 6 7; do
    "$bin" bench --json --backend cpu --operator dense --n 8192 --reps 3 >>"$alt"
    python3 benches/peers/numpy_step.py --n 8192 --steps 50 >>"$alt"
  done
  python3 - "$alt" <<'PY' | tee -a "$jsonl"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = [r["seconds_per_step"] for r in rows if "backend" in r]
peer = [r["seconds_per_step"] for r in rows if r.get("peer") == "numpy"]
frac = [r["fraction_of_bandwidth"] for r in rows if "backend" in r]
print(json.dumps({"comparison": "cpu dense 8192 vs numpy, alternating", "runs": len(ours),
                  "attractor_median_seconds_per_step": statistics.median(ours),
                  "numpy_median_seconds_per_step": statistics.median(peer),
                  "attractor_median_fraction_of_bandwidth": statistics.median(frac),
                  "attractor_seconds_per_step": ours, "numpy_seconds_per_step": peer}))
PY
else
  log "numpy is not installed (pip install numpy): no CPU peer"
fi
if python3 -c 'import torch' 2>/dev/null; then
  log "peer: PyTorch"
  python3 benches/peers/torch_step.py --n 512 4096 16384 | tee -a "$jsonl"
  python3 benches/peers/torch_step.py --n 16384 --batch 64 | tee -a "$jsonl"
  python3 benches/peers/torch_step.py --n 4096 --batch 64 | tee -a "$jsonl"
else
  log "PyTorch is not installed: no GPU peer"
fi
log "results: $jsonl"
