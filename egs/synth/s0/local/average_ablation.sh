#!/usr/bin/env bash
# Checkpoint-averaging ablation on a finished recipe run: each model's last epoch (final.pt) against
# the average of its best $average_num epochs by dev loss (avg.pt, what the recipe decodes), greedy
# WER on the evaluation sets. Prints the Markdown table. Run from egs/synth/s0 after ./run.sh.
set -euo pipefail
. ./path.sh

data=data
exp=exp
models="teacher student_ctc student_kd"
sets="dev test test_unseen_engine"
. utils/parse_options.sh

wer() { python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['wer']:.2f}\")" $1/result.json; }
echo "| model | $(for s in $sets; do printf '%s final.pt | %s avg.pt | ' $s $s; done)"
echo "|---|$(for s in $sets; do printf -- '---|---|'; done)"
for m in $models; do
  row="| $m |"
  for s in $sets; do
    d=$exp/$m/decode_${s}_final
    [ -f $d/result.json ] || utils/run_local.sh $exp/$m/log/decode_${s}_final.log asr-kd decode \
      --checkpoint $exp/$m/final.pt --data $data/$s --out $d --device cpu --num-threads 1 > /dev/null
    row="$row $(wer $d) | $(wer $exp/$m/decode_$s) |"
  done
  echo "$row"
done
