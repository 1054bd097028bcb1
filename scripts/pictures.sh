#!/usr/bin/env bash
# Redraws the pictures in docs/ that come from single runs of the examples
# (and `attractor modes --plot`), on the CPU so that every machine draws the
# same ones. The sweep and bench pictures come from scripts/bench.sh and
# the sweeps in examples/sweeps.
#   bash scripts/pictures.sh [ATTRACTOR_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/attractor}
[ -x "$bin" ] || cargo build --release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# docs/NAME.png <- the file FILE of the run of examples/EXAMPLE.toml
pictures=(
  "autapse rates.png autapse_rates.png"
  "balanced metrics.png balanced_metrics.png"
  "bistable rates.png bistable_rates.png"
  "chaos rates.png chaos_rates.png"
  "ei_oscillation metrics.png ei_oscillation_metrics.png"
  "ei_ring rates_E.png ei_ring_rates_E.png"
  "gain_modulation profiles.png gain_modulation_profiles.png"
  "head_turns metrics.png head_turns_metrics.png"
  "head_turns rates.png head_turns_rates.png"
  "heavy_tailed rates.png heavy_tailed_rates.png"
  "hopfield_basins metrics.png hopfield_basins_metrics.png"
  "integrator rates.png integrator_rates.png"
  "mexican_hat sheet.png mexican_hat_sheet.png"
  "mutual_excitation state_space.png mutual_excitation_state_space.png"
  "mutual_inhibition state_space.png mutual_inhibition_state_space.png"
  "pattern_completion metrics.png pattern_completion_metrics.png"
  "ring_memory metrics.png ring_memory_metrics.png"
  "ring_memory rates.png ring_memory_rates.png"
  "selective_amplification profiles.png selective_amplification_profiles.png"
  "sparse_ring metrics.png sparse_ring_metrics.png"
  "sparse_ring profiles.png sparse_ring_profiles.png"
  "torus sheet.png torus_sheet.png"
  "torus sheet.gif torus_sheet.gif"
  "wilson_cowan state_space.png wilson_cowan_state_space.png"
  "winner_takes_all profiles.png winner_takes_all_profiles.png"
)
for p in "${pictures[@]}"; do
  read -r example file doc <<<"$p"
  if [ ! -e "$tmp/$example/summary.json" ]; then
    echo "running examples/$example.toml" >&2
    "$bin" run "examples/$example.toml" --backend cpu -q --out "$tmp/$example"
  fi
  cp "$tmp/$example/$file" "docs/$doc"
done
"$bin" modes examples/chaos.toml --plot docs/chaos_spectrum.png >/dev/null
echo "redrew ${#pictures[@]} pictures and docs/chaos_spectrum.png" >&2
