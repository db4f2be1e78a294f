#!/usr/bin/env bash
# utils/torchrun.sh NPROC ARGS...: `torchrun ARGS` with NPROC processes (GPUs) per node, e.g.
#   utils/torchrun.sh 4 -m asr_kd train --config ... (run through $train_cmd).
# Inside a Slurm step (utils/slurm.sh, i.e. srun with one task per node) every node's torchrun meets
# the others at the step's first node (c10d rendezvous, port $MASTER_PORT, default 29500);
# elsewhere it is one machine (--standalone).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NPROC ARGS..." >&2; exit 1; }
nproc=$1; shift
if [ -n "${SLURM_STEP_NODELIST:-}" ]; then
  head=$(scontrol show hostnames "$SLURM_STEP_NODELIST" | head -n 1)
  exec torchrun --nnodes="$SLURM_STEP_NUM_NODES" --nproc-per-node="$nproc" --rdzv-backend=c10d \
    --rdzv-endpoint="$head:${MASTER_PORT:-29500}" --rdzv-id="$SLURM_JOB_ID.${SLURM_STEP_ID:-0}" "$@"
fi
exec torchrun --standalone --nproc-per-node="$nproc" "$@"
