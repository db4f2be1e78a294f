#!/usr/bin/env bash
# Teacher sweep (size x data x epochs): train the variants of a grid file side by side on a prepared data
# dir, decode each greedily on dev/test/test_unseen_engine and write one table (WER per set, the worst test
# speaker, epochs reached, training time). Each grid line is `NAME TRAIN_SET [key=value ...]`, the pairs
# passed as `--set` over --config. A variant still training after --deadline seconds is stopped and its
# newest epoch checkpoint decoded (marked in the table: its learning rate had not finished decaying).
# A rerun skips the variants that finished (train_summary.json) and resumes the others from last_state.pt
# (each for another --deadline).
# Run from egs/synth/s0 after stage 2, e.g.  local/teacher_sweep.sh --grid conf/teacher_sweep.txt
# Students the same way: --config conf/student_kd.yaml --train-opts "--teacher-cache exp/teacher/cache_train".
set -euo pipefail
. ./path.sh

data=data                       # prepared data: train sets with features + cmvn.json, dev, eval sets, lang/
exp=exp/teacher_sweep           # one experiment dir per variant below this
grid=conf/teacher_sweep.txt     # the variants
config=conf/teacher.yaml        # base preset the variants override
parallel=1                      # variants trained at once; on one GPU keep 1: 9 at once time-shared an H200,
                                # each ran at 1/9 of the speed of one alone (RESULTS.md)
device=auto                     # training and decoding device
deadline=0                      # seconds a variant may train; 0: no limit
train_opts=                     # more `asr-kd train` options for every variant, e.g. "--teacher-cache DIR"
sets="dev test test_unseen_engine"

. utils/parse_options.sh
mkdir -p $exp

train_variant() {  # train_variant NAME TRAIN_SET [key=value ...]
  local name=$1 train_set=$2; shift 2
  local sets_args=() kv
  for kv in "$@"; do sets_args+=(--set "$kv"); done
  local limit=(); [ "$deadline" -gt 0 ] && limit=(timeout --signal=INT --kill-after=60 "$deadline")
  mkdir -p $exp/$name
  [ -f $exp/$name/train_summary.json ] && return 0
  "${limit[@]}" asr-kd train --config $config --train $data/$train_set --dev $data/dev \
    --units $data/lang/units.txt --cmvn $data/$train_set/cmvn.json --exp $exp/$name --device $device --resume \
    $train_opts "${sets_args[@]}" >> $exp/$name/sweep_train.log 2>&1 || echo "$name: training stopped (status $?)" >&2
}

grep -v -e '^\s*#' -e '^\s*$' $grid > $exp/grid.txt
echo "$0: $(wc -l < $exp/grid.txt) variant(s), $parallel at a time, device $device, deadline ${deadline}s"
while read -r line; do
  # shellcheck disable=SC2086
  train_variant $line &
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
done < $exp/grid.txt
wait

python3 local/sweep_table.py --exp $exp --grid $exp/grid.txt --data $data --sets $sets --device $device --parallel $parallel \
  | tee $exp/table.md
