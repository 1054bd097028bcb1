#!/bin/bash
#SBATCH --job-name=ring-retention
#SBATCH --array=0-15
#SBATCH --time=02:00:00
#SBATCH --requeue
# One GPU per task: add `#SBATCH --gres=gpu:1` (each task opens the GPU
# Slurm gives it). SWEEP and OUT default to the example sweep and
# runs/ring_retention.
# --resume makes a requeued task continue where it stopped.
attractor sweep "${SWEEP:-examples/sweeps/ring_retention.toml}" --shard slurm --resume \
    --out "${OUT:-runs/ring_retention}/shard-$SLURM_ARRAY_TASK_ID"
