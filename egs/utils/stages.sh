# Stage helpers shared by the recipes; source after parse_options.sh.
# run_stage N: true when N lies in [--stage, --stop-stage]. done_or FILE: false (and says so) when FILE exists.
# jobs_for / run_sharded: the recipe's --nj ($nj) jobs of a shardable command.
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
done_or() { [ -f "$1" ] && echo "skipping: $1 exists" && return 1; return 0; }

jobs_for() {  # jobs_for FILE...: --nj, but at most the number of lines (utterances) of each FILE
  local n=$nj f c
  for f in "$@"; do c=$(wc -l < "$f"); [ "$c" -lt "$n" ] && n=$c; done
  echo "$n"
}

run_sharded() {  # run_sharded N CMD LOG ARGS...: `CMD LOG.log ARGS`, or with N > 1 the N jobs
  local n=$1 cmd=$2 log=$3; shift 3  # `CMD JOB=1:N LOG.JOB.log ARGS --shard JOB/N` (merge them after)
  if [ "$n" -eq 1 ]; then $cmd $log.log "$@"; else $cmd JOB=1:$n $log.JOB.log "$@" --shard JOB/$n; fi
}
