# How jobs run: locally (default) or through Slurm. Each takes `LOG CMD [ARGS...]`.
export train_cmd="utils/run_local.sh"
export decode_cmd="utils/run_local.sh"
# On a Slurm cluster:
#   export SLURM_OPTS="--gres=gpu:1 --cpus-per-task=8"; export train_cmd="utils/slurm.sh"
