#!/usr/bin/env bash
# Kaldi run.pl-style local job: utils/run_local.sh LOG CMD [ARGS...]
# Runs CMD, writing its command line, output, exit status and time to LOG (and the output to stdout).
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 LOG CMD [ARGS...]" >&2; exit 1; }
log=$1; shift
mkdir -p "$(dirname "$log")"
{ echo "# $*"; echo "# started at $(date)"; } > "$log"
start=$(date +%s)
"$@" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "# ended (rc=$rc, $(( $(date +%s) - start )) s) at $(date)" >> "$log"
[ "$rc" -eq 0 ] || echo "$0: command failed (rc=$rc), see $log" >&2
exit "$rc"
