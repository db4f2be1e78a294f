#!/usr/bin/env bash
# Kaldi run.pl-style local job: utils/run_local.sh [JOB=1:N] LOG CMD [ARGS...]
# Runs CMD, writing its command line, output, exit status and time to LOG (and the output to stdout).
# With JOB=1:N (any name, e.g. X=2:4), runs the N jobs in parallel, JOB replaced by the job number in
# LOG (which must contain it) and ARGS, each writing only its own log; fails if any job fails.
set -uo pipefail
if [[ $# -ge 1 && $1 =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  name=${BASH_REMATCH[1]} first=${BASH_REMATCH[2]} last=${BASH_REMATCH[3]}; shift
  [ $# -ge 2 ] || { echo "usage: $0 $name=1:N LOG CMD [ARGS...]" >&2; exit 1; }
  [ "$first" -le "$last" ] || { echo "$0: empty job range $name=$first:$last" >&2; exit 1; }
  [[ $1 == *"$name"* ]] || { echo "$0: LOG $1 must contain $name (one log per job)" >&2; exit 1; }
  pids=()
  for ((i = first; i <= last; i++)); do
    "$0" "${@//$name/$i}" > /dev/null &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  [ "$failed" -eq 0 ] || { echo "$0: $failed of $((last - first + 1)) jobs failed, see ${1//$name/*}" >&2; exit 1; }
  exit 0
fi
[ $# -ge 2 ] || { echo "usage: $0 [JOB=1:N] LOG CMD [ARGS...]" >&2; exit 1; }
log=$1; shift
mkdir -p "$(dirname "$log")"
{ echo "# $*"; echo "# started at $(date)"; } > "$log"
start=$(date +%s)
"$@" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "# ended (rc=$rc, $(( $(date +%s) - start )) s) at $(date)" >> "$log"
[ "$rc" -eq 0 ] || echo "$0: command failed (rc=$rc), see $log" >&2
exit "$rc"
