# How jobs run (every recipe's cmd.sh links here): locally (default) or through Slurm. Each takes `[JOB=1:N] LOG CMD [ARGS...]`
# (JOB=1:N: N jobs, JOB replaced by 1..N in LOG and ARGS, as Kaldi's run.pl).
export train_cmd="utils/run_local.sh"   # data preparation, features, teacher cache, averaging
export decode_cmd="utils/run_local.sh"  # decoding
export cuda_cmd="utils/run_local.sh"    # training (one torchrun job with --ngpu > 1)
# On a Slurm cluster (options for all jobs in $SLURM_OPTS, per kind of job after utils/slurm.sh):
#   export train_cmd="utils/slurm.sh --cpus-per-task=4" decode_cmd="utils/slurm.sh --cpus-per-task=1"
#   export cuda_cmd="utils/slurm.sh --nodes=2 --ntasks-per-node=1 --gres=gpu:4 --cpus-per-task=32"
