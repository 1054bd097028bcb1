#!/usr/bin/env bash
# The CPU against its peers on the same machine, alternated: each round
# runs every case once in the engine (`attractor bench`, and for the
# Hopfield cases also a whole `attractor run`) and then in numpy (and JAX
# where it is installed), so that a shared machine's drift falls on both
# sides alike. Prints medians and ranges over the rounds.
#
#   bash scripts/cpu_peers.sh [ROUNDS] [OUT]   (5 rounds, cpu-peers/)
#
# Cases: the continuous Hopfield network as users run it (current
# dynamics, tanh(4 I), Euler, f32) at N = 2000, P = 100 and N = 10^4,
# P = 500, against numpy and JAX; the Hebbian rate step (relu) at 10^4/500
# against numpy's two BLAS products; the dense step at N = 4096 and 8192
# against numpy's gemv; and the bandwidth probe of the dense cases against
# the bandwidth numpy's gemv achieved. Every measurement is one JSON line
# in OUT/rounds.jsonl, the summary in OUT/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
out=${2:-cpu-peers}
mkdir -p "$out"
if [ -z "${ATTRACTOR_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin=${ATTRACTOR_BIN:-target/release/attractor}
jsonl="$out/rounds.jsonl"
: >"$jsonl"
tag() { python3 -c 'import json,sys
tag = json.loads(sys.argv[1])
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line); d.update(tag); print(json.dumps(d), flush=True)' "$1" >>"$jsonl"; }
# Runs a measurement to its end, then tags its lines, so that nothing
# starts beside it (a python started with an 8000-step run, as a pipe
# does, took a core from it: 26.8 against 17.5 µs a step).
measured() {
  local t=$1 r
  shift
  r=$("$@")
  printf '%s\n' "$r" | tag "$t"
}
hopfield_run() { # N P duration
  "$bin" run examples/pattern_completion.toml --backend cpu --set network.n="$1" \
    --set network.weights.patterns="$2" --set network.activation.beta=4.0 \
    --set 'simulation.precision="f32"' --set 'simulation.method="euler"' \
    --set simulation.duration="$3" --set simulation.record_every=100 \
    --out "$out/run" >/dev/null 2>&1
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1] + "/run/summary.json"))
print(json.dumps({"seconds_per_step": d["wall_seconds"] / d["steps_done"]}))' "$out"
}
hopfield_peers() { # N P: numpy's and JAX's lines, each named by its peer
  local r
  r=$(python3 benches/peers/structured_step.py --operator hebbian --dynamics current \
    --activation tanh --beta 4 --n "$1" --patterns "$2")
  printf '%s\n' "$r" | python3 -c 'import json,sys
for l in sys.stdin:
    d = json.loads(l)
    if "seconds_per_step" in d: d["who"] = d["peer"]; print(json.dumps(d))'
}
tanh='{ kind = "tanh", beta = 4.0 }'
for round in $(seq "$rounds"); do
  for c in "2000 100 4.0" "10000 500 1.0"; do
    set -- $c
    echo "== round $round: Hopfield N = $1, P = $2" >&2
    case="hopfield $1/$2"
    measured "{\"case\": \"$case\", \"who\": \"attractor bench\", \"round\": $round}" \
      "$bin" bench --json --backend cpu --operator hebbian --n "$1" --patterns "$2" \
      --activation "$tanh" --dynamics current
    measured "{\"case\": \"$case\", \"who\": \"attractor run\", \"round\": $round}" \
      hopfield_run "$1" "$2" "$3"
    measured "{\"case\": \"$case\", \"round\": $round}" hopfield_peers "$1" "$2"
  done
  echo "== round $round: Hebbian rate N = 10^4, P = 500" >&2
  measured "{\"case\": \"hebbian 10000/500\", \"who\": \"attractor bench\", \"round\": $round}" \
    "$bin" bench --json --backend cpu --operator hebbian --n 10000 --patterns 500
  measured "{\"case\": \"hebbian 10000/500\", \"who\": \"numpy\", \"round\": $round}" \
    python3 benches/peers/structured_step.py --operator hebbian --n 10000 --patterns 500 --peer numpy
  for n in 4096 8192; do
    echo "== round $round: dense N = $n" >&2
    measured "{\"case\": \"dense $n\", \"who\": \"attractor bench\", \"round\": $round}" \
      "$bin" bench --json --backend cpu --operator dense --n "$n"
    measured "{\"case\": \"dense $n\", \"who\": \"numpy\", \"round\": $round}" \
      python3 benches/peers/numpy_step.py --n "$n" --steps 50
  done
done
python3 - "$jsonl" <<'PY' | tee "$out/summary.json"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
summary = []
for case in dict.fromkeys(r["case"] for r in rows):
    for who in dict.fromkeys(r["who"] for r in rows if r["case"] == case):
        s = [r["seconds_per_step"] for r in rows if r["case"] == case and r["who"] == who]
        entry = {"case": case, "who": who, "rounds": len(s),
                 "median_seconds_per_step": statistics.median(s),
                 "min": min(s), "max": max(s)}
        if who == "attractor bench" and case.startswith("dense"):
            # The probe (a ceiling) against what numpy's gemv achieved.
            bw = [r["bandwidth_gbytes_per_second"] for r in rows
                  if r["case"] == case and r["who"] == who]
            gemv = [r["gbytes_per_second"] for r in rows
                    if r["case"] == case and r["who"] == "numpy"]
            fr = [r["fraction_of_bandwidth"] for r in rows
                  if r["case"] == case and r["who"] == who]
            entry.update(probe_median_gbytes_per_second=statistics.median(bw),
                         probe_min=min(bw), numpy_gemv_median_gbytes_per_second=statistics.median(gemv),
                         numpy_gemv_max=max(gemv), fraction_median=statistics.median(fr),
                         fraction_max=max(fr))
        summary.append(entry)
for e in summary:
    print(json.dumps(e))
PY
