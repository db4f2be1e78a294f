#!/usr/bin/env bash
# Checkpoint-averaging ablation on a finished recipe run: each model's last epoch (final.pt), the
# average of its best $average_num epochs by dev loss (avg.pt, what the recipe decodes) and, with
# --last N, the average of its last N epochs (avg_last<N>.pt), greedy WER on the evaluation sets.
# Prints the Markdown table. Run from egs/synth/s0 after ./run.sh.
set -euo pipefail
. ./path.sh

data=data
exp=exp
models="teacher student_ctc student_kd"
sets="dev test test_unseen_engine"
last=0           # > 0: also average and decode the last N epochs
. utils/parse_options.sh

wer() { python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['wer']:.2f}\")" $1/result.json; }
# decode CKPT into DIR unless DIR already has a result
decode() {
  local m=$1 ckpt=$2 s=$3 d=$4
  [ -f $d/result.json ] || utils/run_local.sh $exp/$m/log/$(basename $d).log asr-kd decode \
    --checkpoint $exp/$m/$ckpt --data $data/$s --out $d --device cpu --num-threads 1 > /dev/null
}
echo "| model | $(for s in $sets; do for c in final.pt avg.pt; do printf '%s %s | ' $s $c; done; [ "$last" -gt 0 ] && printf '%s last %s | ' $s $last; done)"
echo "|---|$(for s in $sets; do printf -- '---|---|'; [ "$last" -gt 0 ] && printf -- '---|'; done)"
for m in $models; do
  if [ "$last" -gt 0 ] && [ ! -f $exp/$m/avg_last$last.pt ]; then
    utils/run_local.sh $exp/$m/log/average_last$last.log asr-kd average --exp $exp/$m --last $last \
      --out $exp/$m/avg_last$last.pt > /dev/null
  fi
  row="| $m |"
  for s in $sets; do
    decode $m final.pt $s $exp/$m/decode_${s}_final
    row="$row $(wer $exp/$m/decode_${s}_final) | $(wer $exp/$m/decode_$s) |"
    if [ "$last" -gt 0 ]; then
      decode $m avg_last$last.pt $s $exp/$m/decode_${s}_last$last
      row="$row $(wer $exp/$m/decode_${s}_last$last) |"
    fi
  done
  echo "$row"
done
