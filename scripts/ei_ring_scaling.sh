#!/bin/bash
# The E/I ring example (examples/ei_ring.toml) scaled up, run by one or two
# builds of attractor alternated: s/step of each whole run (summary.json)
# and where the bump ends.
#   bash scripts/ei_ring_scaling.sh BIN [BIN2]
# e.g. a build of an earlier commit against this one. Runs go to a
# temporary folder, removed at the end.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN2]" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
ex=$here/examples/ei_ring.toml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
one() { # bin backend E I duration
  local out=$tmp/run
  rm -rf "$out"
  if "$1" run "$ex" --backend "$2" -q --set population.E.n="$3" --set population.I.n="$4" \
      --set projection.EI.weights.value="$(python3 -c "print(2 / $3)")" \
      --set projection.IE.weights.value="$(python3 -c "print(0.2 / $4)")" \
      --set simulation.duration="$5" --out "$out" > "$tmp/err" 2>&1; then
    python3 - "$out" "$1" "$2" "$3" "$4" "$5" <<'PY'
import json, sys
out, b, backend, e, i, d = sys.argv[1:]
s = json.load(open(out + "/summary.json"))
theta = s["final"].get("E.bump_theta", float("nan"))
print(f"{b} {backend} E={e} I={i} duration={d} s/step={1 / s['steps_per_second']:.3e} E.bump_theta={theta}")
PY
  else
    echo "$1 $2 E=$3 I=$4: $(tail -1 "$tmp/err" | cut -c1-200)"
  fi
}
for r in 1 2 3; do
  for b in "$@"; do one "$b" cpu 4096 1024 0.05; done
done
for r in 1 2 3; do
  for b in "$@"; do one "$b" gpu 1024 256 0.02; done
done
for r in 1 2 3; do
  for b in "$@"; do one "$b" cpu 65536 16384 0.5; done
done
for b in "$@"; do one "$b" cpu 1048576 262144 0.05; done
