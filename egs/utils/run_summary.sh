#!/usr/bin/env bash
# Markdown: the machine this recipe ran on and the wall time of each logged job (from the
# "# ended (rc=0, N s)" lines that utils/run_local.sh writes). Usage: utils/run_summary.sh DATA EXP
set -euo pipefail
data=$1 exp=$2
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "Machine: $cpu, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM;" \
  "$(python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo "torch ?");" \
  "$(date -u +%Y-%m-%d)."
echo
echo "| job | wall time (s) |"
echo "|---|---|"
total=0
for log in $data/log/*.log $exp/*/log/*.log; do  # every job with an "ended" line (train.log has none)
  [ -f "$log" ] || continue
  secs=$(sed -n 's/^# ended (rc=0, \([0-9]*\) s).*/\1/p' "$log" | tail -n 1)
  [ -n "$secs" ] || continue
  echo "| ${log#$exp/} | $secs |"
  total=$((total + secs))
done
echo "| **sum** (jobs that ran at once overlap) | **$total** |"
