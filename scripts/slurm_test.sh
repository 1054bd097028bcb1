#!/usr/bin/env bash
# The cluster path against a real scheduler: starts a one-node Slurm cluster
# on this machine (munged, slurmctld, slurmd with a generated slurm.conf),
# submits the guide's job-array script (docs/guide/sweeps.md, scripts/slurm_sweep.sh) for a
# sweep with `sbatch --array`, merges the shards and checks the result
# equals the unsharded sweep; then requeues a task killed mid-run
# (`scontrol requeue`) and checks that --resume loses and repeats nothing.
# Needs root (the daemons run as root); installs Debian's slurm-wlm and
# munge where they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
if [ "$(id -u)" != 0 ]; then
  echo "scripts/slurm_test.sh starts Slurm's daemons and needs root" >&2
  exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
cargo build --release --quiet
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
export PATH="$target/release:$PATH"
command -v attractor >/dev/null

work=$(mktemp -d)
export SLURM_CONF="$work/slurm.conf"
cleanup() {
  scancel --quiet --full -u root 2>/dev/null || true
  for p in "$work"/slurmd.pid "$work"/slurmctld.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

# munge: the key and the socket folder, then the daemon (once per machine).
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
[ -f /etc/munge/munge.key ] || mungekey --create
chown munge:munge /etc/munge/munge.key
pgrep -x munged >/dev/null || munged --force

host=$(hostname)
mkdir -p "$work/state" "$work/spool"
cat > "$SLURM_CONF" <<CONF
ClusterName=attractor-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep idle >/dev/null && break
  sleep 1
done
sinfo -h -o %t | grep idle >/dev/null || { echo "the test cluster did not come up" >&2; cat "$work"/*.log >&2; exit 1; }

# Rows of a results.csv without the header, sorted: shards and the whole
# sweep must hold the same rows.
rows() { tail -n +2 "$1" | sort; }

# merged_equals_whole SWEEP DIR WHAT: merges the shards in DIR, runs SWEEP
# unsharded, and fails unless both hold the same rows.
merged_equals_whole() {
  attractor merge "$2"/shard-* --out "$2/all"
  attractor sweep "$1" --out "$2/whole" -q
  if ! diff <(rows "$2/all/results.csv") <(rows "$2/whole/results.csv"); then
    echo "$3: the merged results differ from the unsharded sweep" >&2
    exit 1
  fi
  echo "slurm: $3: merged = unsharded sweep ($(rows "$2/whole/results.csv" | wc -l) rows)"
}

# 1. The guide's script as a job array of 4 tasks over a small ring sweep.
cd "$work"
cat > base.toml <<'TOML'
[network]
n = 128
tau = 0.01
activation = { kind = "clip", min = 0.0, max = 1.0 }
weights = { kind = "ring", lambda1 = 2.1 }
[[input]]
end = 0.05
kind = "bump"
c = 1.0
epsilon = 0.2
[simulation]
duration = 0.2
dt = 0.0005
noise = 0.05
record_every = 10
TOML
cat > sweep.toml <<'TOML'
base = "base.toml"
trials = 2
[grid]
"network.weights.lambda1" = [1.9, 2.0, 2.1, 2.2]
"simulation.noise" = [0.02, 0.05]
[retention]
metric = "bump_amplitude"
threshold = 0.5
TOML
if ! SWEEP=sweep.toml OUT=runs/sweep sbatch --quiet --wait --array=0-3 \
  --output="$work/task-%a.log" "$repo/scripts/slurm_sweep.sh"; then
  echo "the job array failed; its tasks' output:" >&2
  cat "$work"/task-*.log >&2
  exit 1
fi
merged_equals_whole sweep.toml runs/sweep "job array of 4 tasks"

# 2. A task killed mid-run and requeued: --resume continues it. Each grid
# point (its own tau, so its own batch) takes about half a second.
sed -e 's/n = 128/n = 65536/' -e 's/duration = 0.2/duration = 0.5/' base.toml > slow.toml
cat > slow_sweep.toml <<'TOML'
base = "slow.toml"
[grid]
"network.tau" = [0.010, 0.011, 0.012, 0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.019, 0.020, 0.021]
[retention]
metric = "bump_amplitude"
threshold = 0.5
TOML
job=$(SWEEP=slow_sweep.toml OUT=runs/slow sbatch --parsable --array=0-1 \
  --output="$work/slow-%a.log" "$repo/scripts/slurm_sweep.sh")
shard=runs/slow/shard-0/results.csv
for _ in $(seq 600); do
  [ -f "$shard" ] && [ "$(tail -n +2 "$shard" | wc -l)" -ge 2 ] && break
  sleep 0.2
done
before=$(tail -n +2 "$shard" | wc -l)
[ "$before" -ge 2 ] || { echo "task 0 wrote no rows" >&2; exit 1; }
scontrol requeue "${job}_0"
echo "slurm: requeued task 0 after $before of 6 rows"
for _ in $(seq 600); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$job")" ] || { echo "the requeued job did not finish" >&2; exit 1; }
merged_equals_whole slow_sweep.toml runs/slow "requeued and resumed task"
