#!/bin/bash
# A whole run against its bench case, by one or two builds of attractor
# alternated: the ring memory of examples/ring_memory.toml at N = 65536
# (f32, records every 10 steps) with its rates recorded and without, then
# `attractor bench` of the same operator, size and activation; µs/step of
# each (summary.json's steps_per_second for the runs).
#   bash scripts/run_vs_bench.sh BIN [BIN2] [ROUNDS] [DURATION]
# e.g. a build of an earlier commit against this one. ROUNDS defaults to
# 5, DURATION (simulated seconds, 2000 steps each) to 20. Runs go to a
# temporary folder, removed at the end.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN2] [ROUNDS] [DURATION]" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
bins=("$1")
shift
if [ $# -ge 1 ] && [ -x "$1" ]; then
  bins+=("$1")
  shift
fi
rounds=${1:-5}
duration=${2:-20}
n=65536
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$rounds"); do
  for b in "${bins[@]}"; do
    for rates in true false; do
      rm -rf "$tmp/run"
      "$b" run "$here/examples/ring_memory.toml" --backend cpu -q --set network.n=$n \
        --set simulation.duration="$duration" --set simulation.precision=f32 \
        --set record.rates=$rates --out "$tmp/run" > "$tmp/err" 2>&1 \
        || { echo "$b: $(tail -1 "$tmp/err")" >&2; exit 1; }
      python3 -c "import json, sys; s = json.load(open(sys.argv[1])); \
print(f'round {sys.argv[2]} {sys.argv[3]} run rates={sys.argv[4]}: {1e6 / s[\"steps_per_second\"]:.1f} us/step')" \
        "$tmp/run/summary.json" "$r" "$b" "$rates"
    done
    "$b" bench --backend cpu --operator ring --n $n \
      --activation '{ kind = "clip", min = 0.0, max = 1.0 }' --json 2> "$tmp/err" \
      | python3 -c "import json, sys; d = json.load(sys.stdin); \
print(f'round {sys.argv[1]} {sys.argv[2]} bench: {d[\"seconds_per_step\"] * 1e6:.1f} us/step')" "$r" "$b"
  done
done
