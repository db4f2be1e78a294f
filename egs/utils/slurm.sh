#!/usr/bin/env bash
# Slurm job with the same interface as run_local.sh: utils/slurm.sh [SRUN_OPTION...] [JOB=1:N] LOG CMD [ARGS...]
# Each job is one `srun` (with JOB=1:N, N of them in parallel, as in run_local.sh). srun options come
# from $SLURM_OPTS and from leading --option=value arguments (e.g. in cmd.sh:
# cuda_cmd="utils/slurm.sh --nodes=2 --ntasks-per-node=1 --gres=gpu:4 --time=24:00:00").
set -uo pipefail
opts=() jobs=()
while [[ $# -gt 0 && $1 == -* ]]; do opts+=("$1"); shift; done
[[ $# -ge 1 && $1 =~ ^[A-Za-z_][A-Za-z0-9_]*=[0-9]+:[0-9]+$ ]] && { jobs=("$1"); shift; }
[ $# -ge 2 ] || { echo "usage: $0 [SRUN_OPTION...] [JOB=1:N] LOG CMD [ARGS...]" >&2; exit 1; }
log=$1; shift
command -v srun >/dev/null || { echo "$0: srun not found; use utils/run_local.sh in cmd.sh" >&2; exit 1; }
exec "$(dirname "$0")/run_local.sh" "${jobs[@]}" "$log" srun ${SLURM_OPTS:-} "${opts[@]}" "$@"
