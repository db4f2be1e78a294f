#!/usr/bin/env bash
# Slurm job with the same interface as run_local.sh: utils/slurm.sh LOG CMD [ARGS...]
# Extra srun options come from $SLURM_OPTS (e.g. "--gres=gpu:1 --cpus-per-task=8 --time=24:00:00").
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 LOG CMD [ARGS...]" >&2; exit 1; }
log=$1; shift
command -v srun >/dev/null || { echo "$0: srun not found; use utils/run_local.sh in cmd.sh" >&2; exit 1; }
exec "$(dirname "$0")/run_local.sh" "$log" srun ${SLURM_OPTS:-} "$@"
